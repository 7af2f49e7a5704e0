package sched

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/mrredis/mrredis/internal/model"
	"github.com/mrredis/mrredis/internal/testenv"
	"github.com/mrredis/mrredis/mesoslocal"
	"github.com/mrredis/mrredis/zkstore"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// world is a real ZooKeeper root, a local Mesos and the executor binary:
// what schedulers under test run against.
type world struct {
	t       testing.TB
	zk      zkstore.Config
	mesos   *mesoslocal.Cluster
	execBin string
	logPath string
	logFile *os.File
	store   *zkstore.Store
}

func newWorld(t testing.TB, agents int) *world {
	return newWorldWith(t, mesoslocal.Config{Agents: agents})
}

func newWorldWith(t testing.TB, mcfg mesoslocal.Config) *world {
	agents := mcfg.Agents
	t.Helper()
	testenv.NeedProcesses(t)
	w := &world{t: t}
	zk := testenv.ZooKeeper(t)
	w.zk = zkstore.Config{Servers: []string{zk.Addr()}, Root: testenv.Root(t)}
	w.execBin = testenv.Binary(t, "github.com/mrredis/mrredis/cmd/mrr-executor")
	w.logPath = filepath.Join(t.TempDir(), "sched.log")
	f, err := os.Create(w.logPath)
	if err != nil {
		t.Fatal(err)
	}
	w.logFile = f
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("MRR_TEST_LOG") != "" {
			b, _ := os.ReadFile(w.logPath)
			lines := strings.Split(string(b), "\n")
			if len(lines) > 200 {
				lines = lines[len(lines)-200:]
			}
			t.Logf("last scheduler log lines:\n%s", strings.Join(lines, "\n"))
		}
		f.Close()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	mlog := slog.New(slog.NewTextHandler(io.Discard, nil))
	mcfg.Listen, mcfg.AgentIPs, mcfg.MemMB, mcfg.Logger = "127.0.0.1:0", testenv.LoopbackIPs(agents), 2048, mlog
	w.mesos, err = mesoslocal.Start(ctx, mcfg)
	if err != nil {
		t.Fatalf("start local mesos: %v", err)
	}
	workDir := w.mesos.WorkDir()
	t.Cleanup(func() {
		w.mesos.Close()
		// Members die with their executors; give the kernel a moment.
		deadline := time.Now().Add(5 * time.Second)
		for len(redisUnder(workDir)) > 0 && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		for _, pid := range redisUnder(workDir) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Errorf("redis-server %d outlived the test", pid)
		}
	})
	w.store, err = zkstore.Open(ctx, w.zk)
	if err != nil {
		t.Fatalf("open zk: %v", err)
	}
	t.Cleanup(w.store.Close)
	return w
}

func (w *world) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(w.logFile, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// running is a scheduler started in-process.
type running struct {
	s    *Scheduler
	stop context.CancelFunc
	done chan struct{}
}

func (w *world) startScheduler(mod func(*Config)) *running {
	w.t.Helper()
	r := w.startStandby(mod)
	waitFor(w.t, 30*time.Second, "scheduler /readyz", func() (bool, string) {
		code, body := httpDo(w.t, r.s.URL(), http.MethodGet, "/readyz", nil)
		return code == 200, body
	})
	return r
}

// startStandby starts a scheduler and waits until it serves, leader or not.
func (w *world) startStandby(mod func(*Config)) *running {
	t := w.t
	t.Helper()
	cfg := DefaultConfig()
	cfg.ZK = w.zk
	cfg.Master = w.mesos.URL()
	cfg.Listen = "127.0.0.1:0"
	cfg.ExecutorPath = w.execBin
	cfg.Logger = w.logger()
	cfg.MemberMemMB = 16
	cfg.ExecutorEnv = []string{"MRR_STATS_INTERVAL=250ms", "MRR_KILL_GRACE=2s"}
	if mod != nil {
		mod(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{s: s, stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		if err := s.Run(ctx); err != nil {
			t.Errorf("scheduler run: %v", err)
		}
	}()
	t.Cleanup(r.kill)
	select {
	case <-s.Ready():
	case <-r.done:
		t.Fatal("scheduler stopped before it was ready")
	case <-time.After(20 * time.Second):
		t.Fatal("scheduler not ready in 20s")
	}
	return r
}

// kill stops the scheduler without any goodbye to Mesos: like kill -9,
// Mesos keeps the framework's tasks for the failover timeout.
func (r *running) kill() {
	r.stop()
	<-r.done
}

func httpDo(t testing.TB, base, method, path string, body any) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		if s, ok := body.(string); ok {
			rd = strings.NewReader(s)
		} else {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
	}
	req, _ := http.NewRequest(method, base+path, rd)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func getView(t testing.TB, base, name string) (model.InstanceView, int) {
	t.Helper()
	code, body := httpDo(t, base, http.MethodGet, "/api/v1/instances/"+name, nil)
	var v model.InstanceView
	if code == 200 {
		if err := json.Unmarshal([]byte(body), &v); err != nil {
			t.Fatalf("decode view: %v: %s", err, body)
		}
	}
	return v, code
}

func waitFor(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached in %s; last: %s", what, timeout, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitRunning waits until name is RUNNING with replicas members in sync.
func waitRunning(t testing.TB, base, name string, replicas int, timeout time.Duration) model.InstanceView {
	t.Helper()
	return waitRunningNot(t, base, name, replicas, "", timeout)
}

// waitRunningNot is waitRunning with a master other than notMaster.
func waitRunningNot(t testing.TB, base, name string, replicas int, notMaster string, timeout time.Duration) model.InstanceView {
	t.Helper()
	var v model.InstanceView
	waitFor(t, timeout, fmt.Sprintf("%s RUNNING with %d replicas", name, replicas), func() (bool, string) {
		var code int
		v, code = getView(t, base, name)
		ok := code == 200 && v.State == model.StateRunning && v.ReplicasInSync == replicas && len(v.Members) == replicas+1 &&
			v.Master != "" && v.Master != notMaster
		return ok, fmt.Sprintf("code %d state %s reason %q members %d in sync %d", code, v.State, v.Reason, len(v.Members), v.ReplicasInSync)
	})
	return v
}

// redisUnder lists redis-server processes whose working directory is
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
		cwd, _ := os.Readlink(filepath.Join("/proc", e.Name(), "cwd"))
		if strings.HasPrefix(cwd, dir) {
			pids = append(pids, pid)
		}
	}
	return pids
}

func redisClient(addr, password string) *redis.Client {
	return redis.NewClient(&redis.Options{Addr: addr, Password: password, DialTimeout: time.Second, ReadTimeout: time.Second, MaxRetries: -1})
}

// TestEndToEnd runs the scheduler on local Mesos, real ZooKeeper and real
// redis-server: create, write and read, scale 2 -> 4 -> 1, a hard scheduler
// restart, a failover after the master's redis-server dies, and delete.
func TestEndToEnd(t *testing.T) {
	w := newWorld(t, 5)
	r1 := w.startScheduler(nil)
	base := r1.s.URL()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Second)
	defer cancel()

	// Create.
	code, body := httpDo(t, base, http.MethodPost, "/api/v1/instances", model.Spec{Name: "cache", MemoryMB: 32, Replicas: 2, Password: "s3cret"})
	if code != http.StatusAccepted {
		t.Fatalf("create: %d %s", code, body)
	}
	if strings.Contains(body, "s3cret") || strings.Contains(body, "admin_password\": \"") {
		t.Fatalf("create answer leaks a password: %s", body)
	}
	v := waitRunning(t, base, "cache", 2, 40*time.Second)
	hosts := map[string]bool{}
	for _, m := range v.Members {
		hosts[m.Host] = true
	}
	if len(hosts) != 3 {
		t.Fatalf("members must be on 3 distinct hosts: %+v", v.Members)
	}
	if v.ProxyPort < 6100 || v.ProxyPort > 6300 {
		t.Fatalf("proxy port %d outside 6100-6300", v.ProxyPort)
	}
	if m, _, err := w.store.GetMaster(ctx, "cache"); err != nil || m != v.Master {
		t.Fatalf("/master in zk = %q (%v), view says %q", m, err, v.Master)
	}
	rc := redisClient(v.Master, "s3cret")
	if err := rc.Set(ctx, "k", "v1", 0).Err(); err != nil {
		t.Fatalf("SET on master %s: %v", v.Master, err)
	}
	if got, err := rc.Get(ctx, "k").Result(); err != nil || got != "v1" {
		t.Fatalf("GET: %q %v", got, err)
	}
	rc.Close()

	// Scale 2 -> 4 -> 1.
	code, body = httpDo(t, base, http.MethodPatch, "/api/v1/instances/cache", `{"replicas": 4}`)
	if code != http.StatusAccepted {
		t.Fatalf("scale up: %d %s", code, body)
	}
	waitRunning(t, base, "cache", 4, 40*time.Second)
	code, body = httpDo(t, base, http.MethodPatch, "/api/v1/instances/cache", `{"replicas": 1}`)
	if code != http.StatusAccepted {
		t.Fatalf("scale down: %d %s", code, body)
	}
	v = waitRunning(t, base, "cache", 1, 30*time.Second)
	waitFor(t, 20*time.Second, "2 redis-server processes after scale down", func() (bool, string) {
		n := len(redisUnder(w.mesos.WorkDir()))
		return n == 2, fmt.Sprintf("%d processes", n)
	})

	// Resize in place: every member gets the new maxmemory.
	code, body = httpDo(t, base, http.MethodPatch, "/api/v1/instances/cache", `{"memory_mb": 48}`)
	if code != http.StatusAccepted {
		t.Fatalf("resize: %d %s", code, body)
	}
	stored, _, err := w.store.GetInstance(ctx, "cache")
	if err != nil || stored.MemoryMB != 48 || stored.AdminPassword == "" {
		t.Fatalf("resize not stored: %+v %v", stored, err)
	}
	for _, m := range v.Members {
		admin := redis.NewClient(&redis.Options{Addr: m.Addr(), Username: "mrr-admin", Password: stored.AdminPassword, MaxRetries: -1})
		waitFor(t, 10*time.Second, "maxmemory of "+m.Addr(), func() (bool, string) {
			res, err := admin.ConfigGet(ctx, "maxmemory").Result()
			return err == nil && res["maxmemory"] == strconv.Itoa(48<<20), fmt.Sprint(res, err)
		})
		admin.Close()
	}

	// Hard restart of the scheduler: the new one finds everything.
	fid, err := w.store.FrameworkID(ctx)
	if err != nil || fid == "" {
		t.Fatalf("framework id not stored: %q %v", fid, err)
	}
	before := v
	r1.kill()
	r2 := w.startScheduler(nil)
	base = r2.s.URL()
	after, code := getView(t, base, "cache")
	if code != 200 || after.Master != before.Master || len(after.Members) != 2 {
		t.Fatalf("after restart the instance must be served at once: %d %+v", code, after)
	}
	_, body = httpDo(t, base, http.MethodGet, "/readyz", nil)
	if !strings.Contains(body, fid) {
		t.Fatalf("new scheduler must keep framework id %s: %s", fid, body)
	}
	after = waitRunning(t, base, "cache", 1, 20*time.Second)
	for i, m := range after.Members {
		if m.TaskID != before.Members[i].TaskID {
			t.Fatalf("members changed across the restart: %v -> %v", before.Members, after.Members)
		}
	}

	// Failover: kill the master's redis-server.
	old := after.Master
	pid := masterPID(t, ctx, old)
	killed := time.Now()
	_ = syscall.Kill(pid, syscall.SIGKILL)
	waitFor(t, 20*time.Second, "a new master", func() (bool, string) {
		m, _, err := w.store.GetMaster(ctx, "cache")
		return err == nil && m != old, m
	})
	t.Logf("failover: /master changed %v after the kill", time.Since(killed))
	v = waitRunningNot(t, base, "cache", 1, old, 40*time.Second)
	if v.Failovers != 1 || len(v.History) != 1 || v.History[0].NewAddr != v.Master {
		t.Fatalf("failover not recorded: failovers %d history %+v", v.Failovers, v.History)
	}
	rc = redisClient(v.Master, "s3cret")
	if got, err := rc.Get(ctx, "k").Result(); err != nil || got != "v1" {
		t.Fatalf("GET after failover from %s: %q %v", v.Master, got, err)
	}
	rc.Close()

	// The event stream starts with the full list.
	if ev := firstEvent(t, base); ev.Kind != model.EventInstance || ev.Name != "cache" || ev.Instance == nil || ev.Instance.Password == "s3cret" {
		t.Fatalf("first event: %+v", ev)
	}

	// A standby serves reads from ZooKeeper and forwards writes to the leader.
	r3 := w.startStandby(nil)
	if code, _ := httpDo(t, r3.s.URL(), http.MethodGet, "/readyz", nil); code != http.StatusServiceUnavailable {
		t.Fatalf("standby /readyz: %d, want 503", code)
	}
	sv, code := getView(t, r3.s.URL(), "cache")
	if code != 200 || sv.Master != v.Master || sv.State != model.StateRunning || sv.ReplicasInSync != 1 || len(sv.Members) != 2 {
		t.Fatalf("standby read: %d %+v", code, sv)
	}
	if ev := firstEvent(t, r3.s.URL()); ev.Name != "cache" || ev.Instance == nil || ev.Instance.Master != v.Master {
		t.Fatalf("standby event stream: %+v", ev)
	}
	// The standby answered from the leader, with its live stats.
	resp, err := http.Get(r3.s.URL() + "/api/v1/instances/cache")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("X-Mrr-Leader"); got != base {
		t.Fatalf("standby read answered by %q, want the leader %s", got, base)
	}

	// Switchover through the standby: no write is lost.
	rc = redisClient(v.Master, "s3cret")
	for i := 0; i < 200; i++ {
		if err := rc.Set(ctx, fmt.Sprintf("sw%d", i), i, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	rc.Close()
	old = v.Master
	// A writer keeps writing to the old master until it refuses.
	wctx, wcancel := context.WithCancel(ctx)
	acked := make(chan int, 1)
	go func() {
		wc := redisClient(old, "s3cret")
		defer wc.Close()
		last := 0
		for i := 1; wctx.Err() == nil; i++ {
			if err := wc.RPush(wctx, "log", i).Err(); err != nil {
				if strings.Contains(err.Error(), "READONLY") {
					break
				}
				continue
			}
			last = i
		}
		acked <- last
	}()
	time.Sleep(200 * time.Millisecond)
	code, body = httpDo(t, r3.s.URL(), http.MethodPost, "/api/v1/instances/cache/failover", nil)
	if code != http.StatusAccepted {
		t.Fatalf("switchover: %d %s", code, body)
	}
	waitFor(t, 20*time.Second, "switchover", func() (bool, string) {
		m, _, err := w.store.GetMaster(ctx, "cache")
		return err == nil && m != old, m
	})
	time.Sleep(200 * time.Millisecond)
	wcancel()
	last := <-acked
	nm, _, _ := w.store.GetMaster(ctx, "cache")
	rc = redisClient(nm, "s3cret")
	logLen, err := rc.LLen(ctx, "log").Result()
	rc.Close()
	if err != nil || logLen < int64(last) {
		t.Fatalf("switchover lost writes: %d acknowledged by the old master, %d on the new one (%v)", last, logLen, err)
	}
	t.Logf("switchover: %d concurrent writes, none lost", last)
	v = waitRunningNot(t, base, "cache", 1, old, 30*time.Second)
	if v.Failovers != 2 || v.History[1].Cause != "switchover" || v.History[1].LostBytes != 0 {
		t.Fatalf("switchover record: %+v", v.History)
	}
	rc = redisClient(v.Master, "s3cret")
	if n, err := rc.DBSize(ctx).Result(); err != nil || n != 202 {
		t.Fatalf("after switchover the new master has %d keys (%v), want 202", n, err)
	}
	rc.Close()

	// A hung master (SIGSTOP) is found by the scheduler's PINGs.
	pid = masterPID(t, ctx, v.Master)
	old = v.Master
	stopped := time.Now()
	_ = syscall.Kill(pid, syscall.SIGSTOP)
	defer syscall.Kill(pid, syscall.SIGKILL)
	waitFor(t, 20*time.Second, "failover of a hung master", func() (bool, string) {
		m, _, err := w.store.GetMaster(ctx, "cache")
		return err == nil && m != old, m
	})
	t.Logf("hung master: /master changed %v after SIGSTOP", time.Since(stopped))
	v = waitRunningNot(t, base, "cache", 1, old, 40*time.Second)
	if v.Failovers != 3 || !strings.Contains(v.History[2].Cause, "ping") {
		t.Fatalf("ping failover record: %+v", v.History)
	}

	// The leader dies; the standby takes over with the same framework.
	r2.kill()
	// Meanwhile reads are answered: the dead leader's ZooKeeper node
	// outlives it for a session timeout, and the standby falls back.
	if sv, code := getView(t, r3.s.URL(), "cache"); code != 200 || sv.Name != "cache" {
		t.Fatalf("standby read while the leader is dead: %d %+v", code, sv)
	}
	waitFor(t, 30*time.Second, "standby becomes ready", func() (bool, string) {
		code, body := httpDo(t, r3.s.URL(), http.MethodGet, "/readyz", nil)
		return code == 200 && strings.Contains(body, fid), body
	})
	base = r3.s.URL()
	v = waitRunning(t, base, "cache", 1, 20*time.Second)

	// Delete.
	port := v.ProxyPort
	code, body = httpDo(t, base, http.MethodDelete, "/api/v1/instances/cache", nil)
	if code != http.StatusAccepted {
		t.Fatalf("delete: %d %s", code, body)
	}
	waitFor(t, 30*time.Second, "instance gone", func() (bool, string) {
		_, code := getView(t, base, "cache")
		return code == 404, fmt.Sprint(code)
	})
	ports, err := w.store.ListPorts(ctx)
	if err != nil || ports[port] != "" {
		t.Fatalf("port %d not released: %v %v", port, ports, err)
	}
	waitFor(t, 20*time.Second, "no redis-server left", func() (bool, string) {
		n := len(redisUnder(w.mesos.WorkDir()))
		return n == 0, fmt.Sprintf("%d processes", n)
	})
}

// TestAPIErrors checks the REST API's answers to bad requests.
func TestAPIErrors(t *testing.T) {
	w := newWorld(t, 1)
	r := w.startScheduler(func(c *Config) { c.PortLo, c.PortHi = 6200, 6201 })
	base := r.s.URL()
	cases := []struct {
		method, path string
		body         any
		code         int
		msg          string
	}{
		{"POST", "/api/v1/instances", `{"name": "Bad_Name", "memory_mb": 32}`, 400, "name \"Bad_Name\" is invalid"},
		{"POST", "/api/v1/instances", `{"name": "a", "memory_mb": 1}`, 400, "memory_mb 1 is out of range"},
		{"POST", "/api/v1/instances", `{"name": "a", "memory_mb": 32, "replicas": -1}`, 400, "replicas -1 is out of range"},
		{"POST", "/api/v1/instances", `{"name": "a", "memory_mb": 32, "persistence": "disk"}`, 400, "persistence \"disk\" is invalid"},
		{"POST", "/api/v1/instances", `{"name": "a", "memory_mb": 32, "colour": "red"}`, 400, "unknown field \"colour\""},
		{"POST", "/api/v1/instances", `{"name": "a", `, 400, "not valid JSON"},
		{"GET", "/api/v1/instances/nope", nil, 404, "instance \"nope\" does not exist"},
		{"PATCH", "/api/v1/instances/nope", `{"replicas": 1}`, 404, "does not exist"},
		{"DELETE", "/api/v1/instances/nope", nil, 404, "does not exist"},
		// read_from_replicas is taken at create, shown in the view, and
		// cannot be changed afterwards.
		{"POST", "/api/v1/instances", `{"name": "one", "memory_mb": 16, "read_from_replicas": true}`, 202, `"read_from_replicas": true`},
		{"PATCH", "/api/v1/instances/one", `{"read_from_replicas": false}`, 400, `unknown field "read_from_replicas" in the request body: PATCH changes only replicas and memory_mb`},
		{"GET", "/api/v1/instances/one", nil, 200, `"read_from_replicas": true`},
		{"POST", "/api/v1/instances", `{"name": "one", "memory_mb": 16}`, 409, "already exists"},
		{"POST", "/api/v1/instances", `{"name": "huge", "memory_mb": 4096}`, 202, "CREATING"},
		{"POST", "/api/v1/instances", `{"name": "two", "memory_mb": 16}`, 503, "no free proxy port in 6200-6201"},
		{"PATCH", "/api/v1/instances/one", `{"replicas": 99}`, 400, "replicas 99 is out of range"},
		{"POST", "/v1/CREATE/three/32/2/1", nil, 400, "exactly 1 master"},
		{"GET", "/v1/STATUS/one", nil, 200, "\"Name\": \"one\""},
		{"GET", "/healthz", nil, 200, "ok"},
		{"GET", "/metrics", nil, 200, "mrredis_instances"},
	}
	for _, tc := range cases {
		code, body := httpDo(t, base, tc.method, tc.path, tc.body)
		var er model.ErrorResponse
		if json.Unmarshal([]byte(body), &er) == nil && er.Error != "" {
			body = er.Error
		}
		if code != tc.code || !strings.Contains(body, tc.msg) {
			t.Errorf("%s %s: got %d %s; want %d containing %q", tc.method, tc.path, code, body, tc.code, tc.msg)
		}
		if tc.code >= 400 && er.Error == "" {
			t.Errorf("%s %s: error answer is not {\"error\": ...}: %s", tc.method, tc.path, body)
		}
	}
	// The failed create of "two" left nothing behind.
	ctx := context.Background()
	if _, _, err := w.store.GetInstance(ctx, "two"); err == nil {
		t.Error("a refused create left an instance node")
	}
	// read_from_replicas is stored in the record (what a restarted
	// scheduler and the proxies read), and is off unless asked for.
	if inst, _, err := w.store.GetInstance(ctx, "one"); err != nil || !inst.ReadFromReplicas {
		t.Errorf("stored record of one: read_from_replicas %v, err %v; want true", inst.ReadFromReplicas, err)
	}
	if v, _ := getView(t, base, "huge"); v.ReadFromReplicas {
		t.Error("huge was created without read_from_replicas but its view has it")
	}
	ports, _ := w.store.ListPorts(ctx)
	if len(ports) != 2 || ports[6200] != "one" || ports[6201] != "huge" {
		t.Errorf("ports after refused create: %v", ports)
	}
	// An instance that fits nowhere says why.
	waitFor(t, 20*time.Second, "pending reason", func() (bool, string) {
		v, _ := getView(t, base, "huge")
		return v.State == model.StateCreating && strings.HasPrefix(v.Reason, "waiting: no agent with ") && strings.HasSuffix(v.Reason, " MB free"), v.Reason
	})
	// The small one runs.
	waitRunning(t, base, "one", 0, 20*time.Second)
	// Delete frees its port.
	if code, body := httpDo(t, base, http.MethodDelete, "/v1/DELETE/huge", nil); code != http.StatusAccepted {
		t.Fatalf("compat delete: %d %s", code, body)
	}
	waitFor(t, 10*time.Second, "port of huge released", func() (bool, string) {
		ports, _ := w.store.ListPorts(ctx)
		return ports[6201] == "", fmt.Sprint(ports)
	})
	if code, body := httpDo(t, base, http.MethodDelete, "/api/v1/instances/one", nil); code != http.StatusAccepted {
		t.Fatalf("delete: %d %s", code, body)
	}
	waitFor(t, 20*time.Second, "no redis-server left", func() (bool, string) {
		n := len(redisUnder(w.mesos.WorkDir()))
		return n == 0, fmt.Sprintf("%d processes", n)
	})
}

// masterPID asks the redis-server at addr for its process id.
func masterPID(t testing.TB, ctx context.Context, addr string) int {
	t.Helper()
	rc := redisClient(addr, "s3cret")
	defer rc.Close()
	info, err := rc.Info(ctx, "server").Result()
	if err != nil {
		t.Fatalf("INFO from %s: %v", addr, err)
	}
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "process_id:"); ok {
			pid, _ := strconv.Atoi(v)
			return pid
		}
	}
	t.Fatalf("no process_id in INFO of %s", addr)
	return 0
}

// firstEvent reads the first server-sent event of /api/v1/events.
func firstEvent(t testing.TB, base string) model.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("events: %v", err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("events content type %q", ct)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			var ev model.Event
			if err := json.Unmarshal([]byte(data), &ev); err != nil {
				t.Fatalf("event is not JSON: %v: %s", err, data)
			}
			return ev
		}
	}
	t.Fatalf("no event: %v", sc.Err())
	return model.Event{}
}

// TestAgentLoss: the master's agent goes away while its redis-server
// keeps running. The scheduler fails over on TASK_UNREACHABLE; when the
// agent comes back and re-registers the old master, it is killed, and
// /master never points at it again.
func TestAgentLoss(t *testing.T) {
	w := newWorldWith(t, mesoslocal.Config{Agents: 3, AgentRemovalTimeout: 2 * time.Second})
	r := w.startScheduler(func(c *Config) { c.PingMisses = 1000 }) // leave detection to Mesos
	base := r.s.URL()
	ctx := context.Background()
	if code, body := httpDo(t, base, http.MethodPost, "/api/v1/instances", model.Spec{Name: "al", MemoryMB: 16, Replicas: 1}); code != 202 {
		t.Fatalf("create: %d %s", code, body)
	}
	v := waitRunning(t, base, "al", 1, 40*time.Second)
	agent := -1
	for i, a := range w.mesos.Agents() {
		if a.Hostname+":"+strconv.Itoa(v.Members[0].Port) == v.Master {
			agent = i
		}
	}
	if agent < 0 {
		t.Fatalf("master %s on no agent of %+v", v.Master, w.mesos.Agents())
	}
	old := v.Master
	if err := w.mesos.StopAgent(agent, false); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "failover after agent loss", func() (bool, string) {
		m, _, err := w.store.GetMaster(ctx, "al")
		return err == nil && m != old, m
	})
	// The old master still runs on the lost host.
	if err := testenv.WaitTCP(old, time.Second); err != nil {
		t.Fatalf("old master should still run while its agent is away: %v", err)
	}
	v = waitRunningNot(t, base, "al", 1, old, 40*time.Second)
	if err := w.mesos.StartAgent(agent); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 40*time.Second, "old master killed after its agent returns", func() (bool, string) {
		err := testenv.WaitTCP(old, 100*time.Millisecond)
		return err != nil, fmt.Sprint(err)
	})
	if m, _, _ := w.store.GetMaster(ctx, "al"); m == old {
		t.Fatal("/master points at the old master again")
	}
	v = waitRunning(t, base, "al", 1, 20*time.Second)
	if v.Master == old || v.Failovers != 1 {
		t.Fatalf("after the agent returned: master %s failovers %d", v.Master, v.Failovers)
	}
	if code, _ := httpDo(t, base, http.MethodDelete, "/api/v1/instances/al", nil); code != 202 {
		t.Fatal("delete failed")
	}
	waitFor(t, 20*time.Second, "no redis-server left", func() (bool, string) {
		n := len(redisUnder(w.mesos.WorkDir()))
		return n == 0, fmt.Sprintf("%d processes", n)
	})
}

// TestZooKeeperOutage: with ZooKeeper down, writes are refused with 503 and
// leave nothing behind; reads keep working from the leader's memory; when
// ZooKeeper returns the scheduler carries on.
func TestZooKeeperOutage(t *testing.T) {
	w := newWorld(t, 1)
	r := w.startScheduler(func(c *Config) { c.ZK.OpTimeout = time.Second; c.ZK.SessionTimeout = 30 * time.Second })
	base := r.s.URL()
	if code, body := httpDo(t, base, http.MethodPost, "/api/v1/instances", model.Spec{Name: "before", MemoryMB: 16}); code != 202 {
		t.Fatalf("create: %d %s", code, body)
	}
	waitRunning(t, base, "before", 0, 30*time.Second)
	zk := testenv.ZooKeeper(t)
	zk.Kill()
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			_ = zk.Restart(context.Background())
		}
	})
	code, body := httpDo(t, base, http.MethodPost, "/api/v1/instances", model.Spec{Name: "during", MemoryMB: 16})
	var er model.ErrorResponse
	_ = json.Unmarshal([]byte(body), &er)
	if code != http.StatusServiceUnavailable || !strings.Contains(er.Error, "ZooKeeper") {
		t.Fatalf("create during outage: %d %s", code, body)
	}
	if v, code := getView(t, base, "before"); code != 200 || v.State != model.StateRunning {
		t.Fatalf("read during outage: %d %+v", code, v)
	}
	if code, _ := httpDo(t, base, http.MethodGet, "/readyz", nil); code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz during outage: %d, want 503", code)
	}
	// Long enough for the session to expire (the test ZooKeeper caps
	// sessions at 4s): the scheduler loses and regains leadership.
	time.Sleep(5 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := zk.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	restarted = true
	waitFor(t, 60*time.Second, "ready again", func() (bool, string) {
		code, body := httpDo(t, base, http.MethodGet, "/readyz", nil)
		return code == 200, body
	})
	if _, _, err := w.store.GetInstance(ctx, "during"); err == nil {
		t.Fatal("the refused create left an instance node")
	}
	if ports, err := w.store.ListPorts(ctx); err != nil || len(ports) != 1 {
		t.Fatalf("ports after the outage: %v %v", ports, err)
	}
	if code, body := httpDo(t, base, http.MethodPost, "/api/v1/instances", model.Spec{Name: "after", MemoryMB: 16}); code != 202 {
		t.Fatalf("create after outage: %d %s", code, body)
	}
	waitRunning(t, base, "after", 0, 30*time.Second)
	for _, n := range []string{"before", "after"} {
		httpDo(t, base, http.MethodDelete, "/api/v1/instances/"+n, nil)
	}
	waitFor(t, 20*time.Second, "no redis-server left", func() (bool, string) {
		n := len(redisUnder(w.mesos.WorkDir()))
		return n == 0, fmt.Sprintf("%d processes", n)
	})
}
