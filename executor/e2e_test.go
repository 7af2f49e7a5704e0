package executor

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/encoding/codecs"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli/httpsched"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"

	"github.com/mrredis/mrredis/internal/execproto"
	"github.com/mrredis/mrredis/internal/model"
	"github.com/mrredis/mrredis/internal/testenv"
	"github.com/mrredis/mrredis/mesoslocal"
)

// testScheduler is the least framework that can drive the executor: it
// subscribes through mesos-go's httpsched, acknowledges every update and
// lets the test wait for events.
type testScheduler struct {
	t      testing.TB
	ctx    context.Context
	caller calls.Caller
	fwID   string

	mu     sync.Mutex
	seen   []*scheduler.Event
	used   []bool
	more   chan struct{}
	closed error
}

func startTestScheduler(t testing.TB, ctx context.Context, masterURL string, checkpoint bool) *testScheduler {
	t.Helper()
	cli := httpcli.New(
		httpcli.Endpoint(masterURL+"/api/v1/scheduler"),
		httpcli.Codec(codecs.ByMediaType[codecs.MediaTypeProtobuf]),
		httpcli.Do(httpcli.With(httpcli.Timeout(10*time.Second))),
	)
	s := &testScheduler{t: t, ctx: ctx, caller: httpsched.NewCaller(cli), more: make(chan struct{}, 1)}
	resp, err := s.caller.Call(ctx, calls.Subscribe(&mesos.FrameworkInfo{User: "root", Name: "mrr-executor-e2e", Checkpoint: &checkpoint}))
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	readerDone := make(chan struct{})
	t.Cleanup(func() {
		resp.Close()
		<-readerDone
	})
	go func() {
		defer close(readerDone)
		for {
			var ev scheduler.Event
			err := resp.Decode(&ev)
			s.mu.Lock()
			if err != nil {
				s.closed = err
				s.mu.Unlock()
				s.signal()
				return
			}
			s.seen = append(s.seen, &ev)
			s.used = append(s.used, false)
			s.mu.Unlock()
			s.signal()
			// Like any scheduler, acknowledge every reliable update at
			// once: the agent forwards a task's next update only then.
			if ev.Type == scheduler.Event_UPDATE && len(ev.Update.Status.UUID) > 0 {
				st := ev.Update.Status
				if err := s.tryCall(calls.Acknowledge(st.AgentID.Value, st.TaskID.Value, st.UUID)); err != nil {
					t.Logf("acknowledge %s %s: %v", st.TaskID.Value, st.State, err)
				}
			}
		}
	}()
	sub := s.waitFor("SUBSCRIBED", 20*time.Second, func(e *scheduler.Event) bool { return e.Type == scheduler.Event_SUBSCRIBED })
	s.mu.Lock()
	s.fwID = sub.Subscribed.FrameworkID.Value
	s.mu.Unlock()
	return s
}

func (s *testScheduler) signal() {
	select {
	case s.more <- struct{}{}:
	default:
	}
}

func (s *testScheduler) call(c *scheduler.Call) {
	s.t.Helper()
	if err := s.tryCall(c); err != nil {
		s.t.Fatalf("%s call: %v", c.Type, err)
	}
}

func (s *testScheduler) tryCall(c *scheduler.Call) error {
	s.mu.Lock()
	fwID := s.fwID
	s.mu.Unlock()
	resp, err := s.caller.Call(s.ctx, c.With(calls.Framework(fwID)))
	if resp != nil {
		resp.Close()
	}
	return err
}

// waitFor returns the first event not yet taken that matches, reading more
// as needed.
func (s *testScheduler) waitFor(what string, timeout time.Duration, match func(*scheduler.Event) bool) *scheduler.Event {
	s.t.Helper()
	deadline := time.After(timeout)
	for {
		s.mu.Lock()
		for i, e := range s.seen {
			if !s.used[i] && match(e) {
				s.used[i] = true
				s.mu.Unlock()
				return e
			}
		}
		closed := s.closed
		s.mu.Unlock()
		if closed != nil {
			s.t.Fatalf("waiting for %s: scheduler stream closed: %v", what, closed)
		}
		select {
		case <-s.more:
		case <-deadline:
			s.t.Fatalf("no %s within %s; events seen:\n%s", what, timeout, s.dump())
		}
	}
}

func (s *testScheduler) dump() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	for _, e := range s.seen {
		switch e.Type {
		case scheduler.Event_UPDATE:
			st := e.Update.Status
			fmt.Fprintf(&b, "  UPDATE %s %s %q\n", st.TaskID.Value, st.State, st.GetMessage())
		case scheduler.Event_MESSAGE:
			fmt.Fprintf(&b, "  MESSAGE %s\n", e.Message.Data)
		default:
			fmt.Fprintf(&b, "  %s\n", e.Type)
		}
	}
	return b.String()
}

func (s *testScheduler) waitUpdate(task string, state mesos.TaskState, timeout time.Duration) mesos.TaskStatus {
	s.t.Helper()
	e := s.waitFor(task+" "+state.String(), timeout, func(e *scheduler.Event) bool {
		return e.Type == scheduler.Event_UPDATE && e.Update.Status.TaskID.Value == task && e.Update.Status.State != nil && *e.Update.Status.State == state
	})
	return e.Update.Status
}

func (s *testScheduler) waitMessage(what string, match func(execproto.ExecutorMessage) bool) execproto.ExecutorMessage {
	s.t.Helper()
	var got execproto.ExecutorMessage
	s.waitFor(what, 20*time.Second, func(e *scheduler.Event) bool {
		if e.Type != scheduler.Event_MESSAGE {
			return false
		}
		m, err := execproto.DecodeExecutorMessage(e.Message.Data)
		if err != nil || !match(m) {
			return false
		}
		got = m
		return true
	})
	return got
}

func scalarRes(name string, v float64) mesos.Resource {
	return mesos.Resource{Name: name, Type: mesos.SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: v}}
}

func portRes(p uint64) mesos.Resource {
	return mesos.Resource{Name: "ports", Type: mesos.RANGES.Enum(),
		Ranges: &mesos.Value_Ranges{Range: []mesos.Value_Range{{Begin: p, End: p}}}}
}

// firstPorts returns the first n ports an offer holds.
func firstPorts(t testing.TB, o mesos.Offer, n int) []uint64 {
	t.Helper()
	var out []uint64
	for _, r := range o.Resources {
		if r.Name != "ports" || r.Ranges == nil {
			continue
		}
		for _, rg := range r.Ranges.Range {
			for p := rg.Begin; p <= rg.End && len(out) < n; p++ {
				out = append(out, p)
			}
		}
	}
	if len(out) < n {
		t.Fatalf("offer %s has %d ports, want %d", o.ID.Value, len(out), n)
	}
	return out
}

// redisPIDsUnder lists redis-server processes working in dir or below it
// (members run in their directory; redis rewrites its command line).
func redisPIDsUnder(dir string) []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		comm, err := os.ReadFile(filepath.Join("/proc", e.Name(), "comm"))
		if err != nil || !strings.HasPrefix(string(comm), "redis-server") {
			continue
		}
		cwd, err := os.Readlink(filepath.Join("/proc", e.Name(), "cwd"))
		if err == nil && (cwd == dir || strings.HasPrefix(cwd, dir+string(filepath.Separator))) {
			pids = append(pids, pid)
		}
	}
	return pids
}

func redisPIDOf(t testing.TB, dir, task string) int {
	t.Helper()
	var pids []int
	for _, pid := range redisPIDsUnder(dir) {
		if cwd, _ := os.Readlink(filepath.Join("/proc", strconv.Itoa(pid), "cwd")); filepath.Base(cwd) == task {
			pids = append(pids, pid)
		}
	}
	if len(pids) != 1 {
		t.Fatalf("want one redis-server for task %s under %s, found %v", task, dir, pids)
	}
	return pids[0]
}

const e2eExecID = "mrr-e2e-exec"

// e2e is a local Mesos with one agent, a test scheduler subscribed to it,
// and the first offer.
type e2e struct {
	cluster  *mesoslocal.Cluster
	s        *testScheduler
	offer    mesos.Offer
	workDir  string
	execInfo mesos.ExecutorInfo
	ctx      context.Context
}

// setupE2E starts the cluster and scheduler; env is extra executor
// environment, "NAME=value".
func setupE2E(t testing.TB, checkpoint bool, env ...string) *e2e {
	t.Helper()
	testenv.NeedProcesses(t)
	// MRR_E2E_EXECUTOR runs another build, e.g. one made with -race.
	bin := os.Getenv("MRR_E2E_EXECUTOR")
	if bin == "" {
		bin = testenv.Binary(t, "github.com/mrredis/mrredis/cmd/mrr-executor")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 80*time.Second)
	t.Cleanup(cancel)

	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("MRR_E2E_MESOS_LOG") != "" {
		quiet = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	// An agent address of its own keeps this test's members (ports from
	// 31000) clear of other packages' local clusters running in parallel.
	agentIP := fmt.Sprintf("127.%d.%d.%d", 100+mrand.IntN(100), mrand.IntN(256), 2+mrand.IntN(250))
	cluster, err := mesoslocal.Start(ctx, mesoslocal.Config{Listen: "127.0.0.1:0", Agents: 1, AgentIPs: []string{agentIP}, Logger: quiet})
	if err != nil {
		t.Fatalf("start local mesos: %v", err)
	}
	workDir := cluster.WorkDir()
	// Cleanups run last-in first-out: this check runs after Close, which
	// kills the executors; their members must die with them.
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for left := redisPIDsUnder(workDir); len(left) > 0; left = redisPIDsUnder(workDir) {
			if time.Now().After(deadline) {
				for _, pid := range left {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
				t.Errorf("redis-server processes %v outlived their executors", left)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	t.Cleanup(func() { cluster.Close() })
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		logs, _ := filepath.Glob(filepath.Join(workDir, "agents", "*", "frameworks", "*", "executors", "*", "runs", "*", "stderr"))
		for _, l := range logs {
			b, _ := os.ReadFile(l)
			t.Logf("executor log %s:\n%s", l, b)
		}
	})

	s := startTestScheduler(t, ctx, cluster.URL(), checkpoint)
	offer := s.waitFor("an offer", 20*time.Second, func(e *scheduler.Event) bool {
		return e.Type == scheduler.Event_OFFERS && len(e.Offers.Offers) > 0
	}).Offers.Offers[0]
	vars := []mesos.Environment_Variable{
		{Name: "MRR_STATS_INTERVAL", Type: mesos.Environment_Variable_VALUE.Enum(), Value: ptr("200ms")},
		{Name: "MRR_KILL_GRACE", Type: mesos.Environment_Variable_VALUE.Enum(), Value: ptr("3s")},
		{Name: "MRR_READY_TIMEOUT", Type: mesos.Environment_Variable_VALUE.Enum(), Value: ptr(readyTimeout.String())},
	}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		vars = append(vars, mesos.Environment_Variable{Name: k, Type: mesos.Environment_Variable_VALUE.Enum(), Value: ptr(v)})
	}
	return &e2e{
		cluster: cluster, s: s, offer: offer, workDir: workDir, ctx: ctx,
		execInfo: mesos.ExecutorInfo{
			ExecutorID: mesos.ExecutorID{Value: e2eExecID},
			Type:       mesos.ExecutorInfo_CUSTOM,
			Command: &mesos.CommandInfo{
				Value: &bin, Shell: new(bool), Arguments: []string{bin},
				Environment: &mesos.Environment{Variables: vars},
			},
			Resources: []mesos.Resource{scalarRes("cpus", 0.1), scalarRes("mem", 32)},
		},
	}
}

func (e *e2e) taskInfo(id string, d execproto.TaskData) mesos.TaskInfo {
	data, _ := json.Marshal(d)
	return mesos.TaskInfo{
		Name: id, TaskID: mesos.TaskID{Value: id}, AgentID: e.offer.AgentID,
		Executor:  &e.execInfo,
		Resources: []mesos.Resource{scalarRes("cpus", 0.1), scalarRes("mem", 64), portRes(uint64(d.Port))},
		Data:      data,
	}
}

func (e *e2e) launch(tasks ...mesos.TaskInfo) {
	e.s.call(calls.Accept(calls.OfferOperations{calls.OpLaunch(tasks...)}.WithOffers(e.offer.ID)))
}

// readyTimeout is the executors' ready timeout in these tests: long
// enough for a replica to sync on a loaded machine, short enough to see
// one that never can fail.
const readyTimeout = 8 * time.Second

var e2eBase = execproto.TaskData{Instance: "e2e", MaxMemoryMB: 32, Password: "client-pw", AdminPass: "admin-pw", Persistence: model.PersistenceNone}

// TestEndToEndWithMesosLocal runs the real executor binary under the local
// Mesos: launch a master and a replica, promote, crash, kill, shut down.
func TestEndToEndWithMesosLocal(t *testing.T) {
	e := setupE2E(t, false)
	s, offer, workDir, execID := e.s, e.offer, e.workDir, e2eExecID
	host := offer.Hostname
	ports := firstPorts(t, offer, 5)
	base := e2eBase
	md := base
	md.Role, md.Port = model.RoleMaster, int(ports[0])
	rd := base
	rd.Role, rd.Port, rd.MasterHost, rd.MasterPort = model.RoleReplica, int(ports[1]), host, int(ports[0])
	bad := base
	bad.Role, bad.Port = "boss", int(ports[2])
	// A replica of a master that does not exist never gets its link up.
	orphan := base
	orphan.Role, orphan.Port, orphan.MasterHost, orphan.MasterPort = model.RoleReplica, int(ports[3]), host, int(ports[4])
	e.launch(e.taskInfo("e2e-master", md), e.taskInfo("e2e-replica", rd), e.taskInfo("e2e-bad", bad), e.taskInfo("e2e-orphan", orphan))

	statuses := map[string]execproto.StatusData{}
	for _, id := range []string{"e2e-master", "e2e-replica"} {
		s.waitUpdate(id, mesos.TASK_STARTING, 30*time.Second)
		st := s.waitUpdate(id, mesos.TASK_RUNNING, 30*time.Second)
		var sd execproto.StatusData
		if err := json.Unmarshal(st.Data, &sd); err != nil {
			t.Fatalf("%s: TASK_RUNNING data %q: %v", id, st.Data, err)
		}
		if sd.Host != host || sd.RunID == "" {
			t.Errorf("%s: status data %+v, want host %s and a run id", id, sd, host)
		}
		statuses[id] = sd
	}
	if statuses["e2e-master"].Role != model.RoleMaster || statuses["e2e-replica"].Role != model.RoleReplica ||
		statuses["e2e-replica"].Port != rd.Port {
		t.Errorf("status data: %+v", statuses)
	}

	stats := s.waitMessage("stats of both members", func(m execproto.ExecutorMessage) bool {
		return m.Kind == execproto.KindStats && len(m.Stats) == 2
	})
	for _, st := range stats.Stats {
		if st.TaskID == "e2e-replica" && (!st.LinkUp || st.Role != model.RoleReplica) {
			t.Errorf("replica stats %+v, want a linked replica", st)
		}
	}

	// The task with bad data failed at once and started nothing.
	if st := s.waitUpdate("e2e-bad", mesos.TASK_FAILED, 20*time.Second); !strings.Contains(st.GetMessage(), `role "boss" is invalid`) {
		t.Errorf("bad task failed with %q, want the role named", st.GetMessage())
	}
	sandboxes, _ := filepath.Glob(filepath.Join(workDir, "agents", "*", "frameworks", "*", "executors", execID, "runs", "*"))
	if len(sandboxes) != 1 {
		t.Fatalf("executor sandboxes: %v, want one", sandboxes)
	}
	if _, err := os.Stat(filepath.Join(sandboxes[0], "e2e-master", ConfFile)); err != nil {
		t.Errorf("the master's redis.conf is not in the sandbox: %v", err)
	}
	if _, err := os.Stat(filepath.Join(sandboxes[0], "e2e-bad")); !os.IsNotExist(err) {
		t.Errorf("a member directory was made for the bad task (stat: %v)", err)
	}

	send := func(c execproto.Command) {
		b, _ := json.Marshal(c)
		s.call(calls.Message(offer.AgentID.Value, execID, b))
	}
	reply := func(id string) execproto.Reply {
		return *s.waitMessage("reply "+id, func(m execproto.ExecutorMessage) bool {
			return m.Kind == execproto.KindReply && m.Reply.ID == id
		}).Reply
	}
	// Data flows from the master to the replica, as a client sees it.
	mc, err := dialRedis(fmt.Sprintf("%s:%d", host, md.Port), "", "client-pw", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer mc.Close()
	if _, err := mc.doString("SET", "k", "v"); err != nil {
		t.Fatal(err)
	}
	rc, err := dialRedis(fmt.Sprintf("%s:%d", host, rd.Port), "", "client-pw", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	eventually(t, "k replicated", getIs(rc, "k", "v"))

	send(execproto.Command{ID: "c1", TaskID: "e2e-replica", Op: execproto.OpPromote})
	if r := reply("c1"); !r.OK || r.Error != "" || r.ReplOffset <= 0 {
		t.Errorf("promote reply %+v, want OK with an offset", r)
	}
	s.waitMessage("the promoted replica reported as master", func(m execproto.ExecutorMessage) bool {
		for _, st := range m.Stats {
			if st.TaskID == "e2e-replica" && st.Role == model.RoleMaster {
				return true
			}
		}
		return false
	})
	// The old master follows the new one; both run on this executor.
	send(execproto.Command{ID: "c1b", TaskID: "e2e-master", Op: execproto.OpFollow, MasterHost: host, MasterPort: rd.Port})
	if r := reply("c1b"); !r.OK {
		t.Errorf("follow reply %+v", r)
	}
	s.waitMessage("the old master reported as a linked replica", func(m execproto.ExecutorMessage) bool {
		for _, st := range m.Stats {
			if st.TaskID == "e2e-master" && st.Role == model.RoleReplica && st.LinkUp {
				return true
			}
		}
		return false
	})
	send(execproto.Command{ID: "c1c", TaskID: "e2e-replica", Op: execproto.OpSetMaxMemory, MaxMemoryMB: 48})
	if r := reply("c1c"); !r.OK {
		t.Errorf("set-maxmemory reply %+v", r)
	}
	if v, err := dialAndDo(fmt.Sprintf("%s:%d", host, rd.Port), "CONFIG", "GET", "maxmemory"); err != nil || fmt.Sprint(v) != fmt.Sprint([]any{"maxmemory", strconv.Itoa(48 << 20)}) {
		t.Errorf("maxmemory after set-maxmemory: %v %v", v, err)
	}
	send(execproto.Command{ID: "c2", TaskID: "e2e-replica", Op: "explode"})
	if r := reply("c2"); r.OK || !strings.Contains(r.Error, `unknown op "explode"`) {
		t.Errorf("bad command reply %+v, want an error naming the op", r)
	}
	// Garbage gets no reply (no id to answer) and harms nothing: the next
	// command is still answered.
	s.call(calls.Message(offer.AgentID.Value, execID, []byte("{not json")))
	send(execproto.Command{ID: "c3", TaskID: "nope", Op: execproto.OpPromote})
	if r := reply("c3"); r.OK || !strings.Contains(r.Error, "not running on this executor") {
		t.Errorf("command for an unknown task: %+v", r)
	}

	// kill -9 of a member: TASK_FAILED with the exit status.
	pid := redisPIDOf(t, workDir, "e2e-master")
	killed := time.Now()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	st := s.waitUpdate("e2e-master", mesos.TASK_FAILED, 20*time.Second)
	t.Logf("kill -9 of redis-server -> TASK_FAILED at the scheduler in %s", time.Since(killed))
	if !strings.Contains(st.GetMessage(), "signal: killed") {
		t.Errorf("TASK_FAILED message %q lacks the exit status", st.GetMessage())
	}

	// KILL: graceful stop, TASK_KILLED, no process left.
	replicaPID := redisPIDOf(t, workDir, "e2e-replica")
	s.call(calls.Kill("e2e-replica", offer.AgentID.Value))
	s.waitUpdate("e2e-replica", mesos.TASK_KILLED, 20*time.Second)
	if err := gone(replicaPID); err != nil {
		t.Errorf("after TASK_KILLED: %v", err)
	}

	st = s.waitUpdate("e2e-orphan", mesos.TASK_FAILED, readyTimeout+20*time.Second)
	if msg := st.GetMessage(); !strings.Contains(msg, "did not become ready within 8s") || !strings.Contains(msg, "link to master") {
		t.Errorf("orphan replica failed with %q, want the ready timeout and the link named", msg)
	}

	// SHUTDOWN: the executor exits cleanly.
	s.call(calls.Shutdown(execID, offer.AgentID.Value))
	f := s.waitFor("the executor's exit", 20*time.Second, func(e *scheduler.Event) bool {
		return e.Type == scheduler.Event_FAILURE && e.Failure.ExecutorID != nil && e.Failure.ExecutorID.Value == execID
	}).Failure
	if f.Status == nil || *f.Status != 0 {
		t.Errorf("executor wait status %v, want 0 (exit 0)", f.GetStatus())
	}
	if left := redisPIDsUnder(workDir); len(left) > 0 {
		t.Errorf("redis-server processes left after shutdown: %v", left)
	}
}

func ptr[T any](v T) *T { return &v }

// TestEndToEndAgentRestart: the agent goes away and comes back. The
// executor keeps its members running, keeps the update it could not send
// (a member crashed meanwhile), and hands it over when it re-subscribes.
func TestEndToEndAgentRestart(t *testing.T) {
	e := setupE2E(t, true)
	ports := firstPorts(t, e.offer, 2)
	a, b := e2eBase, e2eBase
	a.Role, a.Port = model.RoleMaster, int(ports[0])
	b.Role, b.Port = model.RoleMaster, int(ports[1])
	e.launch(e.taskInfo("e2e-a", a), e.taskInfo("e2e-b", b))
	e.s.waitUpdate("e2e-a", mesos.TASK_RUNNING, 30*time.Second)
	e.s.waitUpdate("e2e-b", mesos.TASK_RUNNING, 30*time.Second)
	pidA, pidB := redisPIDOf(t, e.workDir, "e2e-a"), redisPIDOf(t, e.workDir, "e2e-b")

	if err := e.cluster.StopAgent(0, false); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pidA, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the crashed member reaped", func() error { return gone(pidA) })
	if err := e.cluster.StartAgent(0); err != nil {
		t.Fatal(err)
	}
	st := e.s.waitUpdate("e2e-a", mesos.TASK_FAILED, 30*time.Second)
	if !strings.Contains(st.GetMessage(), "signal: killed") {
		t.Errorf("TASK_FAILED message %q lacks the exit status", st.GetMessage())
	}
	if err := syscall.Kill(pidB, 0); err != nil {
		t.Errorf("the healthy member did not survive the agent restart: %v", err)
	}
	e.s.waitMessage("stats after the restart", func(m execproto.ExecutorMessage) bool {
		return m.Kind == execproto.KindStats && len(m.Stats) == 1 && m.Stats[0].TaskID == "e2e-b"
	})
	// SHUTDOWN with a live member: it is stopped, reported killed, and
	// the executor exits 0.
	e.s.call(calls.Shutdown(e2eExecID, e.offer.AgentID.Value))
	e.s.waitUpdate("e2e-b", mesos.TASK_KILLED, 20*time.Second)
	f := e.s.waitFor("the executor's exit", 20*time.Second, func(ev *scheduler.Event) bool {
		return ev.Type == scheduler.Event_FAILURE && ev.Failure.ExecutorID != nil
	}).Failure
	if f.Status == nil || *f.Status != 0 {
		t.Errorf("executor wait status %v, want 0 (exit 0)", f.GetStatus())
	}
	if err := gone(pidB); err != nil {
		t.Error(err)
	}
}

// TestEndToEndIdleExit: an executor left without tasks exits by itself.
// It also speaks JSON to the agent, the other encoding.
func TestEndToEndIdleExit(t *testing.T) {
	e := setupE2E(t, false, "MRR_IDLE_TIMEOUT=1s", "MRR_MESOS_CODEC=json")
	d := e2eBase
	d.Role, d.Port = model.RoleMaster, int(firstPorts(t, e.offer, 1)[0])
	e.launch(e.taskInfo("e2e-idle", d))
	running := time.Now()
	e.s.waitUpdate("e2e-idle", mesos.TASK_RUNNING, 30*time.Second)
	// A live task keeps it: it still reports stats after twice the idle
	// timeout.
	e.s.waitMessage("stats 2s after launch", func(m execproto.ExecutorMessage) bool {
		return m.Kind == execproto.KindStats && len(m.Stats) == 1 && m.Stats[0].At.After(running.Add(2*time.Second))
	})
	e.s.call(calls.Kill("e2e-idle", e.offer.AgentID.Value))
	e.s.waitUpdate("e2e-idle", mesos.TASK_KILLED, 20*time.Second)
	f := e.s.waitFor("the idle executor's exit", 20*time.Second, func(ev *scheduler.Event) bool {
		return ev.Type == scheduler.Event_FAILURE && ev.Failure.ExecutorID != nil
	}).Failure
	if f.Status == nil || *f.Status != 0 {
		t.Errorf("executor wait status %v, want 0 (exit 0)", f.GetStatus())
	}
}

// BenchmarkCrashToTaskFailed measures kill -9 of a member's redis-server
// to its TASK_FAILED arriving at the scheduler, through the executor and
// the local Mesos. Target: well under 100 ms.
func BenchmarkCrashToTaskFailed(b *testing.B) {
	e := setupE2E(b, false)
	var total, worst time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		offer := e.offer
		if i > 0 {
			offer = e.s.waitFor("an offer", 20*time.Second, func(ev *scheduler.Event) bool {
				return ev.Type == scheduler.Event_OFFERS && len(ev.Offers.Offers) > 0
			}).Offers.Offers[0]
		}
		d := e2eBase
		d.Role, d.Port = model.RoleMaster, int(firstPorts(b, offer, 1)[0])
		id := fmt.Sprintf("bench-%d", i)
		// Refuse nothing, so the rest of the offer comes straight back.
		e.s.call(calls.Accept(calls.OfferOperations{calls.OpLaunch(e.taskInfo(id, d))}.WithOffers(offer.ID)).
			With(calls.RefuseSeconds(0)))
		e.s.waitUpdate(id, mesos.TASK_RUNNING, 30*time.Second)
		pid := redisPIDOf(b, e.workDir, id)
		b.StartTimer()
		start := time.Now()
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			b.Fatal(err)
		}
		e.s.waitUpdate(id, mesos.TASK_FAILED, 20*time.Second)
		d2 := time.Since(start)
		total += d2
		worst = max(worst, d2)
	}
	b.ReportMetric(float64(total.Microseconds())/float64(b.N), "µs/detect")
	b.ReportMetric(float64(worst.Microseconds()), "µs-worst")
	b.Logf("kill -9 -> TASK_FAILED at the scheduler: mean %s, worst %s over %d kills", total/time.Duration(b.N), worst, b.N)
}

// dialAndDo runs one command as the admin user of the e2e instances.
func dialAndDo(addr string, args ...string) (any, error) {
	c, err := dialRedis(addr, AdminUser, e2eBase.AdminPass, 5*time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.do(args...)
}
