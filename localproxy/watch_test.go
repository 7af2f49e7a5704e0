package localproxy

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mrredis/mrredis/internal/model"
	"github.com/mrredis/mrredis/internal/testenv"
	"github.com/mrredis/mrredis/zkstore"
)

// openStore opens a zkstore on the test ZooKeeper under root.
func openStore(t *testing.T, zkAddr, root string, session time.Duration) *zkstore.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := zkstore.Open(ctx, zkstore.Config{Servers: []string{zkAddr}, Root: root,
		SessionTimeout: session, OpTimeout: 2 * time.Second, Logger: testLogger(io.Discard)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	return st
}

// createInstance plays the scheduler: an instance record with a proxy
// port, and its /master node when master is not empty.
func createInstance(t *testing.T, sched *zkstore.Store, name string, port int, pw, master string) {
	t.Helper()
	ctx := context.Background()
	inst := model.Instance{Spec: model.Spec{Name: name, MemoryMB: 64, Password: pw}, ProxyPort: port, State: model.StateRunning}
	if _, err := sched.CreateInstance(ctx, inst); err != nil {
		t.Fatal(err)
	}
	if master != "" {
		if _, err := sched.SetMaster(ctx, name, master, -1); err != nil {
			t.Fatal(err)
		}
	}
}

// following starts a Proxy driven by a Follower on st.
func following(t *testing.T, st *zkstore.Store, log io.Writer) (*Proxy, *Follower) {
	t.Helper()
	if log == nil {
		log = io.Discard
	}
	p := New(context.Background(), Options{PortLo: 1024, PortHi: 65535, RetryInterval: 100 * time.Millisecond,
		Logger: testLogger(log)})
	f := NewFollower(st, p, testLogger(log), nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); f.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; p.Close() })
	return p, f
}

func masterOf(p *Proxy, name string) string {
	for _, s := range p.Status() {
		if s.Name == name {
			return s.Master
		}
	}
	return "<not served>"
}

// waitMaster waits until p routes name to addr and returns how long that took.
func waitMaster(t *testing.T, p *Proxy, name, addr string) time.Duration {
	t.Helper()
	t0 := time.Now()
	deadline := t0.Add(20 * time.Second)
	for masterOf(p, name) != addr {
		if time.Now().After(deadline) {
			t.Fatalf("%s never routed to %s (now %s)", name, addr, masterOf(p, name))
		}
		time.Sleep(100 * time.Microsecond)
	}
	return time.Since(t0)
}

func refused(port int) bool {
	c, err := net.DialTimeout("tcp", addrOf(port), time.Second)
	if err == nil {
		c.Close()
	}
	return err != nil
}

func TestFollowZooKeeper(t *testing.T) {
	zks := testenv.ZooKeeper(t)
	root := testenv.Root(t)
	ctx := context.Background()
	sched := openStore(t, zks.Addr(), root, 0)
	var logs logBuffer
	p, f := following(t, openStore(t, zks.Addr(), root, 0), &logs)
	a, b := testenv.StartRedis(t, "requirepass pw"), testenv.StartRedis(t, "requirepass pw")

	// An instance appears: its listener opens and routes to its master.
	alpha := testenv.FreePort(t)
	createInstance(t, sched, "alpha", alpha, "pw", a.Addr)
	if err := testenv.WaitTCP(addrOf(alpha), 20*time.Second); err != nil {
		t.Fatal(err)
	}
	waitMaster(t, p, "alpha", a.Addr)
	waitFor(t, "follower synced", f.Synced)
	r := dialRaw(t, alpha)
	r.send("SET where a\r\n")
	r.expect("+OK")

	// /master changes: the proxy follows the watch; the idle connection
	// moves and its next command reaches the new master.
	var took []time.Duration
	for i, to := range []*testenv.Redis{b, a, b} {
		t0 := time.Now()
		if _, err := sched.SetMaster(ctx, "alpha", to.Addr, int32(i)); err != nil {
			t.Fatal(err)
		}
		waitMaster(t, p, "alpha", to.Addr)
		took = append(took, time.Since(t0))
	}
	t.Logf("switch: /master write to the proxy routing to the new master: %v", took)
	r.send("SET where b\r\n")
	r.expect("+OK")
	if v, _ := direct(t, b, "pw").Get(ctx, "where").Result(); v != "b" {
		t.Fatalf("new master has where=%q, want b", v)
	}

	// A second instance, and one whose port is outside the range.
	beta := testenv.FreePort(t)
	createInstance(t, sched, "beta", beta, "", "")
	createInstance(t, sched, "gamma", 80, "", a.Addr)
	if err := testenv.WaitTCP(addrOf(beta), 20*time.Second); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "gamma refused with a log line", func() bool {
		return strings.Contains(logs.String(), "instance refused: its proxy port is outside this proxy's --port-range") &&
			strings.Contains(logs.String(), "instance=gamma")
	})
	if masterOf(p, "gamma") != "<not served>" {
		t.Fatal("gamma is served although its port is outside the range")
	}
	rb := dialRaw(t, beta)
	rb.send("PING\r\n")
	rb.expect("-ERR mrredis: instance beta has no master right now; retry")

	// The instance is deleted: its listener closes, beta stays.
	if err := sched.DeleteInstance(ctx, "alpha"); err != nil {
		t.Fatal(err)
	}
	r.expectEOF()
	waitFor(t, "alpha's listener closed", func() bool { return refused(alpha) })
	if refused(beta) {
		t.Fatal("beta's listener closed with alpha")
	}
}

// TestZooKeeperOutage kills the shared test ZooKeeper: it must not run in
// parallel with other tests.
func TestZooKeeperOutage(t *testing.T) {
	zks := testenv.ZooKeeper(t)
	root := testenv.Root(t)
	ctx := context.Background()
	sched := openStore(t, zks.Addr(), root, 0)
	st := openStore(t, zks.Addr(), root, 2*time.Second)
	p, _ := following(t, st, nil)
	a, b := testenv.StartRedis(t), testenv.StartRedis(t)
	port := testenv.FreePort(t)
	createInstance(t, sched, "omega", port, "", a.Addr)
	waitMaster(t, p, "omega", a.Addr)
	if err := testenv.WaitTCP(addrOf(port), 20*time.Second); err != nil {
		t.Fatal(err)
	}
	r := dialRaw(t, port)

	zks.Kill()
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			_ = zks.Restart(context.Background())
		}
	})
	// The proxy notices and keeps serving with the last known master,
	// on the old connection and on new ones, past the session timeout.
	t0 := time.Now()
	waitFor(t, "the outage seen and served through", func() bool {
		r.send("PING\r\n")
		r.expect("+PONG")
		n := dialRaw(t, port)
		n.send("PING\r\n")
		n.expect("+PONG")
		n.c.Close()
		return counterValue(t, p.m.ZKConnected) == 0 && counterValue(t, p.m.ZKErrors) > 0 && time.Since(t0) > 3*time.Second
	})
	if err := zks.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	restarted = true
	// Watches recover: a master change after the restart is followed.
	waitFor(t, "scheduler writes /master after the restart", func() bool {
		_, err := sched.ForceSetMaster(ctx, "omega", b.Addr)
		return err == nil
	})
	t.Logf("outage: restart to routed to the new master in %s (session resyncs: %v)",
		waitMaster(t, p, "omega", b.Addr), counterValue(t, p.m.ZKResyncs))
	r.send("SET after-outage 1\r\n")
	r.expect("+OK")
	if n, _ := direct(t, b, "").Exists(ctx, "after-outage").Result(); n != 1 {
		t.Fatal("command after the outage did not reach the new master")
	}
}

// TestBinary runs mrr-localproxy as built and checks its admin endpoints
// and one relayed command.
func TestBinary(t *testing.T) {
	zks := testenv.ZooKeeper(t)
	root := testenv.Root(t)
	bin := testenv.Binary(t, "github.com/mrredis/mrredis/cmd/mrr-localproxy")
	sched := openStore(t, zks.Addr(), root, 0)
	rs := testenv.StartRedis(t)
	port := testenv.FreePort(t)
	createInstance(t, sched, "bin", port, "", rs.Addr)
	admin := addrOf(testenv.FreePort(t))

	var out logBuffer
	cmd := exec.Command(bin, "--zk", zks.Addr()+root, "--admin", admin, "--port-range", "1024-65535")
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	if err := testenv.WaitTCP(addrOf(port), 20*time.Second); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	r := dialRaw(t, port)
	r.send("SET via binary\r\nGET via\r\n")
	r.expect("+OK")
	r.expect("$6")
	r.expect("binary")

	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + admin + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	waitFor(t, "healthz 200", func() bool { code, _ := get("/healthz"); return code == 200 })
	if _, body := get("/healthz"); !strings.Contains(body, `"name":"bin"`) || !strings.Contains(body, `"zookeeper":"connected"`) || !strings.Contains(body, rs.Addr) {
		t.Fatalf("healthz body: %s", body)
	}
	_, metrics := get("/metrics")
	for _, want := range []string{
		`mrr_localproxy_commands_total{instance="bin"} 2`,
		`mrr_localproxy_connections{instance="bin"} 1`,
		`mrr_localproxy_listening{instance="bin"} 1`,
		"mrr_localproxy_switch_seconds_bucket",
		"mrr_localproxy_instances 1",
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	// Bad flags get one clear sentence.
	outb, err := exec.Command(bin, "--port-range", "7000-6000").CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || !strings.Contains(string(outb), `port range "7000-6000" is invalid`) {
		t.Fatalf("bad port range: %v %s", err, outb)
	}
}
