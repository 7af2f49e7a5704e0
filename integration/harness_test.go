package integration

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/mrredis/mrredis/client"
	"github.com/mrredis/mrredis/internal/devcluster"
	"github.com/mrredis/mrredis/internal/model"
	"github.com/mrredis/mrredis/internal/testenv"
	"github.com/mrredis/mrredis/mesoslocal"
)

// TestMain (testenv.Main) is in cli_test.go.

// system is one mrredis deployment for a test (see devcluster): the test
// binary's real ZooKeeper with a root of the test's own, a local Mesos in
// this process, and the real mrr-sched and mrr-localproxy binaries.
type system struct {
	t      *testing.T
	c      *devcluster.Cluster
	mesos  *mesoslocal.Cluster
	api    *client.Client
	dir    string
	portLo int
	portHi int
}

type options struct {
	agents    int
	schedArgs []string
}

func newSystem(t *testing.T, o options) *system {
	t.Helper()
	testenv.NeedProcesses(t)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	c, err := devcluster.Start(ctx, devcluster.Options{
		ZK:        testenv.ZooKeeper(t).Addr() + testenv.Root(t),
		SchedBin:  testenv.Binary(t, "github.com/mrredis/mrredis/cmd/mrr-sched"),
		ProxyBin:  testenv.Binary(t, "github.com/mrredis/mrredis/cmd/mrr-localproxy"),
		ExecBin:   testenv.Binary(t, "github.com/mrredis/mrredis/cmd/mrr-executor"),
		Dir:       dir,
		Agents:    o.agents,
		SchedArgs: o.schedArgs,
	})
	if err != nil {
		t.Fatalf("start deployment: %v", err)
	}
	s := &system{t: t, c: c, mesos: c.Mesos, api: c.API, dir: dir, portLo: c.PortLo, portHi: c.PortHi}
	t.Cleanup(func() {
		if t.Failed() {
			if c.Sched != nil {
				t.Logf("mrr-sched log:\n%s", c.Sched.Tail(60))
			}
			if c.Proxy != nil {
				t.Logf("mrr-localproxy log:\n%s", c.Proxy.Tail(30))
			}
			logSandboxes(t, dir)
		}
		c.Close()
	})
	return s
}

func (s *system) startSched() {
	s.t.Helper()
	if err := s.c.StartSched(s.ctx()); err != nil {
		s.t.Fatal(err)
	}
}

func (s *system) killSched() { s.c.Sched.Kill() }

func (s *system) startProxy() {
	s.t.Helper()
	if err := s.c.StartProxy(s.ctx()); err != nil {
		s.t.Fatal(err)
	}
}

func (s *system) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	s.t.Cleanup(cancel)
	return ctx
}

// create asks for an instance and waits until it is RUNNING with all
// replicas in sync.
func (s *system) create(spec model.Spec) model.InstanceView {
	s.t.Helper()
	if _, err := s.api.Create(s.ctx(), spec); err != nil {
		s.t.Fatalf("create %s: %v", spec.Name, err)
	}
	return s.waitFor(spec.Name, "RUNNING with all replicas in sync", func(v model.InstanceView) bool {
		return v.State == model.StateRunning && v.ReplicasInSync == v.Replicas && v.Master != ""
	})
}

// waitFor polls the API until ok holds for the instance.
func (s *system) waitFor(name, what string, ok func(model.InstanceView) bool) model.InstanceView {
	s.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	var last model.InstanceView
	var lastErr error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		v, err := s.api.Get(ctx, name)
		cancel()
		if err == nil && ok(v) {
			return v
		}
		last, lastErr = v, err
		time.Sleep(100 * time.Millisecond)
	}
	s.t.Fatalf("%s: not %s after 90s; last: %+v (err %v)", name, what, last, lastErr)
	return last
}

// redisAt connects to a member or proxy address with the given password.
func redisAt(t *testing.T, addr, password string) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr, Password: password, DialTimeout: 2 * time.Second,
		ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second, MaxRetries: -1})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// memberPID asks a member's redis-server for its process id.
func memberPID(t *testing.T, addr, password string) int {
	t.Helper()
	pid, err := devcluster.RedisPID(context.Background(), addr, password)
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// logSandboxes shows the end of every executor's and redis-server's log.
func logSandboxes(t *testing.T, dir string) {
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		if name := d.Name(); name == "stderr" || strings.HasSuffix(name, ".log") && strings.Contains(path, "executors") {
			b, _ := os.ReadFile(path)
			lines := strings.Split(strings.TrimSpace(string(b)), "\n")
			if len(lines) > 25 {
				lines = lines[len(lines)-25:]
			}
			t.Logf("%s:\n%s", strings.TrimPrefix(path, dir), strings.Join(lines, "\n"))
		}
		return nil
	})
}

func redisServersUnder(dir string) []int {
	return devcluster.RedisServersUnder(filepath.Clean(dir))
}
