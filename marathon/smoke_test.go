package marathon

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mrredis/mrredis/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// sandbox lays out a Mesos sandbox for a: every fetched URI whose name is
// one of our binaries becomes a freshly built copy of it, as the fetcher
// would leave it.
func sandbox(t *testing.T, a app) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range a.Fetch {
		name := path.Base(f.URI)
		src := testenv.Binary(t, "github.com/mrredis/mrredis/cmd/"+name)
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		mode := os.FileMode(0o644)
		if f.Executable {
			mode = 0o755
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, mode); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// startTask runs a's cmd the way the Mesos command executor does:
// `/bin/sh -c <cmd>` in the sandbox, with the app's env and Marathon's
// variables. overrides replace variables (ports, ZooKeeper) so the test
// uses its own.
func startTask(t *testing.T, a app, overrides map[string]string) {
	t.Helper()
	dir := sandbox(t, a)
	env := marathonEnv(a)
	env["MESOS_SANDBOX"] = dir
	for k, v := range overrides {
		env[k] = v
	}
	cmd := exec.Command("/bin/sh", "-c", a.Cmd)
	cmd.Dir = dir
	cmd.Env = os.Environ() // exec keeps the last value of a duplicated name
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	logf, err := os.Create(filepath.Join(dir, "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", a.ID, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(done) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "stderr"))
			t.Logf("%s output:\n%s", a.ID, b)
		}
	})
}

// pollUntil runs check until it succeeds or the deadline passes.
func pollUntil(t *testing.T, timeout time.Duration, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still failing after %s: %v", what, timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestLocalProxyTaskPassesItsHealthCheck starts mrr-localproxy exactly as
// Marathon would from mrr-localproxy.json (only the admin port and
// ZooKeeper are the test's own) and runs the app's COMMAND health check.
func TestLocalProxyTaskPassesItsHealthCheck(t *testing.T) {
	testenv.NeedProcesses(t)
	zk := testenv.ZooKeeper(t)
	d := staticApps(t)[1]
	a := d.decode(t)
	admin := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	// The app's --admin is fixed (5657); the test needs a free port, so it
	// rewrites the address in both the command and the health check.
	const fixed = "127.0.0.1:5657"
	if !strings.Contains(a.Cmd, fixed) {
		t.Fatalf("cmd %q does not use the admin address %s", a.Cmd, fixed)
	}
	a.Cmd = strings.ReplaceAll(a.Cmd, fixed, admin)
	startTask(t, a, map[string]string{"MRR_ZK": zk.Addr() + testenv.Root(t)})
	for _, hc := range a.HealthChecks {
		if hc.Command == nil {
			continue
		}
		check := strings.ReplaceAll(hc.Command.Value, fixed, admin)
		pollUntil(t, 30*time.Second, "health check "+check, func() error {
			out, err := exec.Command("/bin/sh", "-c", check).CombinedOutput()
			if err != nil {
				return fmt.Errorf("%v: %s", err, out)
			}
			return nil
		})
	}
}

// TestSchedulerTasksPassTheirHealthChecks starts the two instances of
// mrr-sched.json as Marathon would, against the test's ZooKeeper and an
// embedded local Mesos each, and probes the HTTP health check's path on
// each $PORT0. The upgrade strategy (minimumHealthCapacity 1) relies on
// the standby being healthy too, while only the leader is ready.
func TestSchedulerTasksPassTheirHealthChecks(t *testing.T) {
	testenv.NeedProcesses(t)
	zk := testenv.ZooKeeper(t)
	d := staticApps(t)[0]
	a := d.decode(t)
	root := testenv.Root(t)
	var ports []int
	for i := 0; i < a.Instances; i++ {
		port := testenv.FreePort(t)
		ports = append(ports, port)
		startTask(t, a, map[string]string{
			"HOST":       "127.0.0.1",
			"PORT0":      fmt.Sprint(port),
			"PORT":       fmt.Sprint(port),
			"MRR_ZK":     zk.Addr() + root,
			"MRR_MASTER": "local:1",
		})
	}
	checked := 0
	for _, hc := range a.HealthChecks {
		if !strings.Contains(hc.Protocol, "HTTP") {
			continue
		}
		checked++
		for _, port := range ports {
			u := fmt.Sprintf("http://127.0.0.1:%d%s", port, hc.Path)
			pollUntil(t, 60*time.Second, "GET "+u, func() error { return wantStatus(u, http.StatusOK) })
		}
	}
	if checked == 0 {
		t.Fatal("mrr-sched.json has no HTTP health check")
	}
	// Exactly one instance leads: /readyz is 200 there and 503 on the
	// standby.
	pollUntil(t, 60*time.Second, "exactly one ready leader", func() error {
		ready := 0
		for _, port := range ports {
			err := wantStatus(fmt.Sprintf("http://127.0.0.1:%d/readyz", port), http.StatusOK)
			if err == nil {
				ready++
			}
		}
		if ready != 1 {
			return fmt.Errorf("%d of %d schedulers ready", ready, len(ports))
		}
		return nil
	})
}

// wantStatus GETs u and reports an error unless it answers code.
func wantStatus(u string, code int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != code {
		return fmt.Errorf("GET %s: %s, want %d", u, resp.Status, code)
	}
	return nil
}
