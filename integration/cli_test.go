package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mrredis/mrredis/client"
	"github.com/mrredis/mrredis/internal/devcluster"
	"github.com/mrredis/mrredis/internal/model"
	"github.com/mrredis/mrredis/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// mrrCluster is the system the CLI and dashboard tests run against: a
// devcluster deployment (the test binary's real ZooKeeper with a root of
// its own, a local Mesos in this process, mrr-sched as a separate process
// that a test can kill and start again on the same address) and the mrr
// binary.
type mrrCluster struct {
	t      testing.TB
	c      *devcluster.Cluster
	mrrBin string
	url    string
}

func startCluster(t testing.TB, agents int) *mrrCluster {
	t.Helper()
	testenv.NeedProcesses(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	dc, err := devcluster.Start(ctx, devcluster.Options{
		ZK:       testenv.ZooKeeper(t).Addr() + testenv.Root(t),
		SchedBin: testenv.Binary(t, "github.com/mrredis/mrredis/cmd/mrr-sched"),
		ProxyBin: testenv.Binary(t, "github.com/mrredis/mrredis/cmd/mrr-localproxy"),
		ExecBin:  testenv.Binary(t, "github.com/mrredis/mrredis/cmd/mrr-executor"),
		Dir:      t.TempDir(),
		Agents:   agents,
	})
	if err != nil {
		t.Fatalf("start deployment: %v", err)
	}
	c := &mrrCluster{t: t, c: dc, mrrBin: testenv.Binary(t, "github.com/mrredis/mrredis/cmd/mrr"), url: "http://" + dc.Listen}
	workDir := dc.Mesos.WorkDir()
	t.Cleanup(func() {
		if t.Failed() {
			if p := c.sched(); p != nil {
				t.Logf("mrr-sched log %s, last lines:\n%s", p.Log, p.Tail(80))
			}
		}
		dc.Close()
		for _, pid := range redisUnder(workDir) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Errorf("redis-server %d outlived the test", pid)
		}
	})
	return c
}

func (c *mrrCluster) sched() *devcluster.Proc { return c.c.Sched }

// stopScheduler kills mrr-sched like a crash would (SIGKILL): Mesos keeps
// its tasks for the next one.
func (c *mrrCluster) stopScheduler() { c.c.Sched.Kill() }

// startScheduler starts mrr-sched again on the same address and waits
// until it is ready.
func (c *mrrCluster) startScheduler() {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if err := c.c.StartSched(ctx); err != nil {
		c.t.Fatalf("restart mrr-sched: %v", err)
	}
}

// mrr runs the mrr binary against the cluster's scheduler.
func (c *mrrCluster) mrr(stdin string, args ...string) (code int, stdout, stderr string) {
	return runMrr(c.t, c.mrrBin, c.url, stdin, args...)
}

func runMrr(t testing.TB, bin, scheduler, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "MRR_SCHEDULER="+scheduler, "MRR_OUTPUT=")
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code = cmd.ProcessState.ExitCode()
	if err != nil && code < 0 {
		t.Fatalf("mrr %v: %v", args, err)
	}
	t.Logf("$ mrr %s  -> exit %d\n%s%s", strings.Join(args, " "), code, out.String(), errb.String())
	return code, out.String(), errb.String()
}

// artifactsDir is where a test leaves files worth looking at (logs,
// screenshots): $MRR_ARTIFACTS/<test> when set, else a temporary directory.
func artifactsDir(t testing.TB) string {
	t.Helper()
	base := os.Getenv("MRR_ARTIFACTS")
	if base == "" {
		return t.TempDir()
	}
	dir := filepath.Join(base, strings.NewReplacer("/", "_", " ", "_").Replace(t.Name()))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("artifacts dir: %v", err)
	}
	return dir
}

func waitUntil(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, last := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached in %s; last: %s", what, timeout, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// redisUnder lists the redis-server processes whose working directory is
// under dir (the local Mesos sandboxes).
func redisUnder(dir string) []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmd, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if !bytes.Contains(cmd, []byte("redis-server")) {
			continue
		}
		if cwd, _ := os.Readlink(filepath.Join("/proc", e.Name(), "cwd")); strings.HasPrefix(cwd, dir) {
			pids = append(pids, pid)
		}
	}
	return pids
}

func statusJSON(t *testing.T, c *mrrCluster, name string) model.InstanceView {
	t.Helper()
	code, out, errOut := c.mrr("", "--output", "json", "status", name)
	if code != 0 {
		t.Fatalf("mrr status %s: exit %d: %s", name, code, errOut)
	}
	var v model.InstanceView
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("mrr --output json status is not an instance: %v\n%s", err, out)
	}
	return v
}

func closedURL(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := "http://" + l.Addr().String()
	l.Close()
	return u
}

// TestCLI drives the mrr binary through an instance's life against a real
// scheduler on local Mesos: bad input first (each refused with its exit
// code and nothing created), then create --wait, list, status, scale,
// switchover, a declined and a confirmed delete, wait timing out, and an
// unreachable scheduler.
func TestCLI(t *testing.T) {
	testenv.NeedProcesses(t)
	mrrBin := testenv.Binary(t, "github.com/mrredis/mrredis/cmd/mrr")

	// No scheduler at all: exit 3 with the address in the message.
	dead := closedURL(t)
	code, _, errOut := runMrr(t, mrrBin, dead, "", "list")
	if code != 3 || !strings.Contains(errOut, "cannot reach the scheduler at "+dead+": connection refused") {
		t.Fatalf("unreachable scheduler: exit %d, stderr %q", code, errOut)
	}

	c := startCluster(t, 3)
	const name = "cli-cache"

	code, out, _ := c.mrr("", "list")
	if code != 0 || !strings.Contains(out, "No instances") {
		t.Fatalf("empty list: exit %d: %s", code, out)
	}

	bad := []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"create", "Bad_Name", "--memory", "32"}, 2, `name "Bad_Name" is invalid`},
		{[]string{"create", name, "--memory", "lots"}, 2, `--memory "lots" is not a whole number of MB`},
		{[]string{"create", name}, 2, "--memory is required"},
		// The scheduler's own limits: the API's sentence, exit 1.
		{[]string{"create", name, "--memory", "1"}, 1, "memory_mb 1 is out of range"},
		{[]string{"create", name, "--memory", "32", "--replicas", "99"}, 1, "replicas 99 is out of range"},
		{[]string{"status", "nosuch"}, 4, "nosuch"},
		{[]string{"scale", "nosuch", "--replicas", "1"}, 4, "nosuch"},
		{[]string{"failover", "nosuch"}, 4, "nosuch"},
		{[]string{"delete", "nosuch", "--yes"}, 4, "nosuch"},
		{[]string{"wait", "nosuch", "--timeout", "5s"}, 4, "nosuch"},
	}
	for _, b := range bad {
		code, _, errOut := c.mrr("", b.args...)
		if code != b.code || !strings.Contains(errOut, b.msg) {
			t.Errorf("mrr %v: exit %d, stderr %q; want exit %d and %q", b.args, code, errOut, b.code, b.msg)
		}
	}
	if code, out, _ := c.mrr("", "--output", "json", "list"); code != 0 || strings.TrimSpace(out) != "[]" {
		t.Fatalf("bad input created something: exit %d: %s", code, out)
	}

	// Create and wait: progress lines, then RUNNING.
	code, out, errOut = c.mrr("", "create", name, "--memory", "32", "--replicas", "1", "--wait", "--timeout", "90s")
	if code != 0 {
		t.Fatalf("create --wait: exit %d: %s", code, errOut)
	}
	if !regexp.MustCompile(`(?m)^\d\d:\d\d:\d\d  cli-cache [A-Z]+, \d/2 members running, \d/1 replicas in sync`).MatchString(out) ||
		!strings.Contains(out, "cli-cache is RUNNING: master 127.") {
		t.Errorf("create --wait output lacks progress or the final line:\n%s", out)
	}
	if code, _, errOut := c.mrr("", "create", name, "--memory", "32"); code != 1 || !strings.Contains(errOut, "already exists") {
		t.Errorf("duplicate create: exit %d, stderr %q; want exit 1 and 'already exists'", code, errOut)
	}

	v := statusJSON(t, c, name)
	if v.State != model.StateRunning || len(v.Members) != 2 || v.ReplicasInSync != 1 || v.Master == "" {
		t.Fatalf("after create --wait: %+v", v)
	}
	code, out, _ = c.mrr("", "list")
	if code != 0 || !regexp.MustCompile(`(?m)^cli-cache\s+RUNNING\s`).MatchString(out) || !strings.Contains(out, strconv.Itoa(v.ProxyPort)) {
		t.Errorf("list:\n%s", out)
	}
	code, out, _ = c.mrr("", "status", name)
	if code != 0 || !strings.Contains(out, "Members:") || !strings.Contains(out, v.Master) ||
		!strings.Contains(out, "Replicas:     1 of 1 in sync") || !strings.Contains(out, "Failover history:\n  none") {
		t.Errorf("status:\n%s", out)
	}

	// Scale up and wait.
	code, out, errOut = c.mrr("", "scale", name, "--replicas", "2", "--wait", "--timeout", "90s")
	if code != 0 || !strings.Contains(out, "Scaling cli-cache to 2 replicas: accepted.") {
		t.Fatalf("scale --wait: exit %d: %s%s", code, out, errOut)
	}
	if v = statusJSON(t, c, name); v.Replicas != 2 || v.ReplicasInSync != 2 || len(v.Members) != 3 {
		t.Fatalf("after scale: replicas %d in sync %d members %d", v.Replicas, v.ReplicasInSync, len(v.Members))
	}

	// Switchover: a new master and one failover in the history.
	old := v.Master
	code, _, errOut = c.mrr("", "failover", name, "--wait", "--timeout", "60s")
	if code != 0 {
		t.Fatalf("failover: exit %d: %s", code, errOut)
	}
	waitUntil(t, 30*time.Second, "a new master after the switchover", func() (bool, string) {
		v = statusJSON(t, c, name)
		return v.Master != old && len(v.History) == 1, fmt.Sprintf("master %s history %d", v.Master, len(v.History))
	})
	code, out, _ = c.mrr("", "status", name)
	if code != 0 || !strings.Contains(out, "CAUSE") || strings.Contains(out, "Failover history:\n  none") {
		t.Errorf("status after switchover shows no history:\n%s", out)
	}

	// wait gives up on an instance that cannot be placed (5 replicas,
	// 3 agents, anti-affinity) with exit 5.
	code, _, errOut = c.mrr("", "create", "cli-toobig", "--memory", "32", "--replicas", "5")
	if code != 0 {
		t.Fatalf("create cli-toobig: exit %d: %s", code, errOut)
	}
	code, _, errOut = c.mrr("", "wait", "cli-toobig", "--timeout", "3s")
	// (A scheduler may also give up on it: FAILED is exit 5 as well.)
	if code != 5 || !strings.Contains(errOut, "gave up after 3s: instance cli-toobig is not ready") && !strings.Contains(errOut, "instance cli-toobig is FAILED") {
		t.Errorf("wait on an unplaceable instance: exit %d, stderr %q", code, errOut)
	}

	// Delete: a wrong confirmation changes nothing; --yes --wait removes it.
	code, _, errOut = c.mrr("other\n", "delete", name)
	if code != 1 || !strings.Contains(errOut, `not deleted: "other" is not the instance's name`) {
		t.Errorf("declined delete: exit %d, stderr %q", code, errOut)
	}
	if v = statusJSON(t, c, name); v.State == model.StateDeleting {
		t.Fatalf("a declined delete deleted: %s", v.State)
	}
	code, out, errOut = c.mrr(name+"\n", "delete", name, "--wait", "--timeout", "60s")
	if code != 0 || !strings.Contains(out, "cli-cache is deleted.") {
		t.Fatalf("confirmed delete: exit %d: %s%s", code, out, errOut)
	}
	if code, _, _ := c.mrr("", "delete", "cli-toobig", "--yes", "--wait", "--timeout", "60s"); code != 0 {
		t.Errorf("delete cli-toobig: exit %d", code)
	}
	if code, _, _ := c.mrr("", "status", name); code != 4 {
		t.Errorf("status after delete: exit %d, want 4", code)
	}
	waitUntil(t, 30*time.Second, "no redis-server left", func() (bool, string) {
		n := len(redisUnder(c.c.Mesos.WorkDir()))
		return n == 0, fmt.Sprintf("%d left", n)
	})

	// The scheduler goes away: exit 3.
	c.stopScheduler()
	code, _, errOut = c.mrr("", "list")
	if code != 3 || !strings.Contains(errOut, "cannot reach the scheduler at "+c.url) {
		t.Errorf("stopped scheduler: exit %d, stderr %q", code, errOut)
	}
}

// BenchmarkCreateToRunning measures through the client how long an
// instance of one master and one replica takes from POST /instances to
// RUNNING with its replica in sync (ms-to-running), and how long a delete
// takes until the API no longer knows it (ms-to-deleted).
func BenchmarkCreateToRunning(b *testing.B) {
	c := startCluster(b, 3)
	cl := client.New(c.url)
	ctx := context.Background()
	var running, deleted time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		name := fmt.Sprintf("bench-%d", i)
		start := time.Now()
		if _, err := cl.Create(ctx, model.Spec{Name: name, MemoryMB: 32, Replicas: 1}); err != nil {
			b.Fatal(err)
		}
		wctx, cancel := context.WithTimeout(ctx, 90*time.Second)
		_, err := cl.Wait(wctx, name, nil)
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		running += time.Since(start)
		start = time.Now()
		if err := cl.Delete(ctx, name); err != nil {
			b.Fatal(err)
		}
		waitUntil(b, 60*time.Second, name+" deleted", func() (bool, string) {
			_, err := cl.Get(ctx, name)
			return client.IsNotFound(err), fmt.Sprint(err)
		})
		deleted += time.Since(start)
	}
	b.ReportMetric(float64(running.Milliseconds())/float64(b.N), "ms-to-running")
	b.ReportMetric(float64(deleted.Milliseconds())/float64(b.N), "ms-to-deleted")
}
