package integration

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/mrredis/mrredis/client"
	"github.com/mrredis/mrredis/internal/model"
	"github.com/mrredis/mrredis/internal/testenv"
	"github.com/mrredis/mrredis/mesoslocal"
)

// TestMain (testenv.Main) is in cli_test.go.

// system is one mrredis deployment for a test: a real ZooKeeper (shared by
// the test binary, with a root of its own), a local Mesos cluster in this
// process, and the real mrr-sched and mrr-localproxy binaries.
type system struct {
	t         *testing.T
	zkConnect string
	mesos     *mesoslocal.Cluster
	dir       string
	schedBin  string
	proxyBin  string
	execBin   string
	listen    string
	proxyAdm  string
	portLo    int
	portHi    int
	sched     *proc
	proxy     *proc
	api       *client.Client
}

type options struct {
	agents       int
	agentRemoval time.Duration
	schedArgs    []string
}

func newSystem(t *testing.T, o options) *system {
	t.Helper()
	testenv.NeedProcesses(t)
	if o.agents == 0 {
		o.agents = 3
	}
	if o.agentRemoval == 0 {
		o.agentRemoval = 3 * time.Second
	}
	zk := testenv.ZooKeeper(t)
	s := &system{
		t:         t,
		zkConnect: zk.Addr() + testenv.Root(t),
		dir:       t.TempDir(),
		schedBin:  testenv.Binary(t, "github.com/mrredis/mrredis/cmd/mrr-sched"),
		proxyBin:  testenv.Binary(t, "github.com/mrredis/mrredis/cmd/mrr-localproxy"),
		execBin:   testenv.Binary(t, "github.com/mrredis/mrredis/cmd/mrr-executor"),
		listen:    fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)),
		proxyAdm:  fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)),
	}
	// A proxy port range of our own: other test binaries run proxies too.
	s.portLo = 20000 + rand.IntN(400)*20
	s.portHi = s.portLo + 19
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := mesoslocal.Start(ctx, mesoslocal.Config{
		Listen:              "127.0.0.1:0",
		Agents:              o.agents,
		AgentIPs:            testenv.LoopbackIPs(o.agents),
		MemMB:               2048,
		WorkDir:             filepath.Join(s.dir, "mesos"),
		AgentRemovalTimeout: o.agentRemoval,
		StatusUpdateRetry:   time.Second,
		Logger:              fileLogger(t, filepath.Join(s.dir, "mesos.log")),
	})
	if err != nil {
		t.Fatalf("start local mesos: %v", err)
	}
	s.mesos = c
	t.Cleanup(func() { _ = c.Close() })
	s.startSched(o.schedArgs...)
	s.api = client.New("http://" + s.listen)
	return s
}

func (s *system) schedArgs(extra ...string) []string {
	args := []string{
		"--zk", s.zkConnect, "--master", s.mesos.URL(), "--listen", s.listen,
		"--executor-path", s.execBin, "--port-range", fmt.Sprintf("%d-%d", s.portLo, s.portHi),
		"--framework-name", "mrredis-test",
	}
	return append(args, extra...)
}

// startSched starts mrr-sched and waits for /readyz.
func (s *system) startSched(extra ...string) {
	s.t.Helper()
	s.sched = startProc(s.t, s.schedBin, filepath.Join(s.dir, fmt.Sprintf("sched-%d.log", time.Now().UnixNano())), s.schedArgs(extra...)...)
	s.waitReady(s.sched, "http://"+s.listen+"/readyz")
}

// killSched kills mrr-sched with SIGKILL, as a crash would.
func (s *system) killSched() {
	s.sched.kill()
}

// startProxy starts mrr-localproxy on the test's port range.
func (s *system) startProxy() {
	s.t.Helper()
	s.proxy = startProc(s.t, s.proxyBin, filepath.Join(s.dir, "proxy.log"),
		"--zk", s.zkConnect, "--admin", s.proxyAdm, "--port-range", fmt.Sprintf("%d-%d", s.portLo, s.portHi))
	s.waitReady(s.proxy, "http://"+s.proxyAdm+"/healthz")
}

func (s *system) waitReady(p *proc, url string) {
	s.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-p.done:
			s.t.Fatalf("%s exited before %s answered 200:\n%s", filepath.Base(p.cmd.Path), url, p.logTail(30))
		default:
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%s not ready after 60s (last: %v):\n%s", url, err, p.logTail(30))
		}
		time.Sleep(50 * time.Millisecond)
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
	ctx := s.ctx()
	if _, err := s.api.Create(ctx, spec); err != nil {
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
	s.t.Fatalf("%s: not %s after 90s; last: %+v (err %v)\nscheduler log:\n%s", name, what, last, lastErr, s.sched.logTail(40))
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

// memberPID asks a member's redis-server for its process id, using the
// instance password.
func memberPID(t *testing.T, addr, password string) int {
	t.Helper()
	info, err := redisAt(t, addr, password).Info(context.Background(), "server").Result()
	if err != nil {
		t.Fatalf("INFO server on %s: %v", addr, err)
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "process_id:"); ok {
			pid, err := strconv.Atoi(v)
			if err != nil {
				t.Fatalf("process_id %q: %v", v, err)
			}
			return pid
		}
	}
	t.Fatalf("no process_id in INFO of %s", addr)
	return 0
}

// redisServersUnder lists redis-server processes whose working directory
// lies under dir (the local Mesos sandboxes of this test).
func redisServersUnder(dir string) []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
		if err != nil || !strings.Contains(filepath.Base(exe), "redis-server") {
			continue
		}
		cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
		if err == nil && strings.HasPrefix(cwd, dir) {
			pids = append(pids, pid)
		}
	}
	return pids
}

type proc struct {
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	once sync.Once
}

func startProc(t *testing.T, bin, logPath string, args ...string) *proc {
	t.Helper()
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	p := &proc{cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); f.Close(); close(p.done) }()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("%s log:\n%s", filepath.Base(bin), p.logTail(60))
		}
	})
	return p
}

// stop asks the process to exit and kills it after 10 s.
func (p *proc) stop() {
	p.once.Do(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
		}
	})
}

// kill sends SIGKILL to the process alone (not its group), like a crash.
func (p *proc) kill() {
	p.once.Do(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
	})
}

func (p *proc) logTail(n int) string {
	f, err := os.Open(p.log)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}

// fileLogger writes a component's logs to a file: background goroutines
// may still log after the test ends, when t.Log would panic.
func fileLogger(t *testing.T, path string) *slog.Logger {
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return slog.New(slog.NewTextHandler(f, &slog.HandlerOptions{Level: slog.LevelInfo}))
}
