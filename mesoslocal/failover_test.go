package mesoslocal

import (
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/gogo/protobuf/proto"
	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"
)

// An agent stopped without its executors goes unreachable after the
// removal timeout and comes back with its task still running.
func TestAgentLossAndReregistration(t *testing.T) {
	forEachCodec(t, func(t *testing.T, codec string) {
		c := startCluster(t, nil)
		s := startScheduler(t, c, codec, partitionAware(), checkpointing(), withFailover(time.Minute, ""))
		o := offerOn(t, c, s.waitOffers(), 0)
		s.mustCall(launch([]mesos.Offer{o}, executorTask(t, o.AgentID, "a1", "run", codec)))
		s.waitUpdate("a1", mesos.TASK_RUNNING)

		if err := c.StopAgent(0, false); err != nil {
			t.Fatal(err)
		}
		if c.Agents()[0].Running {
			t.Error("agent 0 still reported running after StopAgent")
		}
		st := s.waitUpdate("a1", mesos.TASK_UNREACHABLE)
		if st.GetReason() != mesos.REASON_AGENT_REMOVED || st.GetSource() != mesos.SOURCE_MASTER || st.UUID != nil || st.UnreachableTime == nil {
			t.Errorf("UNREACHABLE update: reason %v source %v uuid %x unreachable_time %v", st.GetReason(), st.GetSource(), st.UUID, st.UnreachableTime)
		}
		f := s.next(5*time.Second, "FAILURE for the agent", func(e *scheduler.Event) bool {
			return e.Type == scheduler.Event_FAILURE && e.Failure.ExecutorID == nil
		}).Failure
		if f.GetAgentID().Value != o.AgentID.Value {
			t.Errorf("agent FAILURE for %v, want %s", f.AgentID, o.AgentID.Value)
		}
		// Reconciliation reports the task unreachable.
		s.mustCall(calls.Reconcile(calls.ReconcileTasks(map[string]string{"a1": ""})))
		s.waitUpdate("a1", mesos.TASK_UNREACHABLE)

		if err := c.StartAgent(0); err != nil {
			t.Fatal(err)
		}
		st = s.waitUpdate("a1", mesos.TASK_RUNNING)
		if st.GetReason() != mesos.REASON_AGENT_REREGISTERED {
			t.Errorf("re-registration update reason %v, want REASON_AGENT_REREGISTERED", st.GetReason())
		}
		if c.Agents()[0].ID != o.AgentID.Value {
			t.Errorf("agent came back as %s, want its old id %s", c.Agents()[0].ID, o.AgentID.Value)
		}
		// The executor re-subscribed to the restarted agent: it gets the kill.
		waitFor(t, 10*time.Second, "executor re-subscribed", func() bool {
			c.mu.Lock()
			defer c.mu.Unlock()
			ex := c.agents[0].executors[execKey{s.FrameworkID(), "ex-a1"}]
			return ex != nil && ex.stream != nil
		})
		s.mustCall(calls.Kill("a1", o.AgentID.Value))
		s.waitUpdate("a1", mesos.TASK_KILLED)
	})
}

// A host crash kills the executors and their children; the agent comes
// back as a new agent and the old tasks are gone.
func TestAgentHostCrash(t *testing.T) {
	forEachCodec(t, func(t *testing.T, codec string) {
		c := startCluster(t, nil)
		s := startScheduler(t, c, codec, partitionAware(), checkpointing(), withFailover(time.Minute, ""))
		o := offerOn(t, c, s.waitOffers(), 1)
		s.mustCall(launch([]mesos.Offer{o}, executorTask(t, o.AgentID, "h1", "child", codec)))
		s.waitUpdate("h1", mesos.TASK_RUNNING)
		var childPID int
		waitFor(t, 10*time.Second, "child.pid", func() bool {
			m, _ := filepath.Glob(filepath.Join(c.WorkDir(), "agents", o.AgentID.Value, "frameworks", "*", "executors", "ex-h1", "runs", "*", "child.pid"))
			if len(m) != 1 {
				return false
			}
			b, _ := os.ReadFile(m[0])
			childPID, _ = strconv.Atoi(string(b))
			return childPID > 0
		})
		if err := c.StopAgent(1, true); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 10*time.Second, "the executor's child to die with the host", func() bool {
			return syscall.Kill(childPID, 0) != nil || isZombie(childPID)
		})
		s.waitUpdate("h1", mesos.TASK_UNREACHABLE)
		if err := c.StartAgent(1); err != nil {
			t.Fatal(err)
		}
		st := s.waitUpdate("h1", mesos.TASK_GONE)
		if st.GetReason() != mesos.REASON_AGENT_RESTARTED {
			t.Errorf("GONE reason %v, want REASON_AGENT_RESTARTED", st.GetReason())
		}
		if id := c.Agents()[1].ID; id == o.AgentID.Value {
			t.Errorf("agent kept id %s after a host crash", id)
		}
		s.next(10*time.Second, "an offer from the new agent", func(e *scheduler.Event) bool {
			if e.Type != scheduler.Event_OFFERS {
				return false
			}
			for _, off := range e.Offers.Offers {
				if off.AgentID.Value == c.Agents()[1].ID {
					return true
				}
			}
			return false
		})
	})
}

func isZombie(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	// pid (comm) S ...: the state follows the last ')'.
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == ')' && i+2 < len(b) {
			return b[i+2] == 'Z'
		}
	}
	return false
}

// Without checkpointing, an agent disconnect loses the tasks at once.
func TestAgentDisconnectWithoutCheckpoint(t *testing.T) {
	forEachCodec(t, func(t *testing.T, codec string) {
		c := startCluster(t, func(cfg *Config) { cfg.AgentRemovalTimeout = time.Minute })
		s := startScheduler(t, c, codec)
		offers := s.waitOffers()
		o := offerOn(t, c, offers, 0)
		s.mustCall(launch([]mesos.Offer{o}, executorTask(t, o.AgentID, "d1", "run", codec)))
		s.waitUpdate("d1", mesos.TASK_RUNNING)
		// The leftover of agent 0 is offered again; stopping the agent rescinds it.
		left := s.next(10*time.Second, "an offer of the leftover on agent 0", func(e *scheduler.Event) bool {
			return e.Type == scheduler.Event_OFFERS && e.Offers.Offers[0].AgentID == o.AgentID
		}).Offers.Offers[0]
		if err := c.StopAgent(0, false); err != nil {
			t.Fatal(err)
		}
		r := s.next(5*time.Second, "RESCIND", func(e *scheduler.Event) bool { return e.Type == scheduler.Event_RESCIND }).Rescind
		if r.OfferID != left.ID {
			t.Errorf("rescinded %s, want %s", r.OfferID.Value, left.ID.Value)
		}
		st := s.waitUpdate("d1", mesos.TASK_LOST)
		if st.GetReason() != mesos.REASON_AGENT_DISCONNECTED {
			t.Errorf("LOST reason %v, want REASON_AGENT_DISCONNECTED", st.GetReason())
		}
	})
}

// A scheduler that fails over within its timeout keeps its tasks; the old
// stream is told; after the timeout the framework and its tasks are gone.
func TestFrameworkFailover(t *testing.T) {
	forEachCodec(t, func(t *testing.T, codec string) {
		c := startCluster(t, nil)
		s1 := startScheduler(t, c, codec, withFailover(30*time.Second, ""))
		id := s1.waitSubscribed().FrameworkID.Value
		o := offerOn(t, c, s1.waitOffers(), 0)
		s1.mustCall(launch([]mesos.Offer{o}, executorTask(t, o.AgentID, "f1", "run", codec)))
		s1.waitUpdate("f1", mesos.TASK_RUNNING)

		// A second scheduler with the same id takes over while the first is connected.
		s2 := startScheduler(t, c, codec, withFailover(30*time.Second, id))
		if got := s2.waitSubscribed().FrameworkID.Value; got != id {
			t.Fatalf("failed-over framework id %s, want %s", got, id)
		}
		e := s1.next(5*time.Second, "ERROR on the old stream", func(e *scheduler.Event) bool { return e.Type == scheduler.Event_ERROR })
		if e.Error.Message != "Framework failed over" {
			t.Errorf("old stream ERROR %q", e.Error.Message)
		}
		s1.stop()
		s2.mustCall(calls.Reconcile())
		st := s2.waitUpdate("f1", mesos.TASK_RUNNING)
		if st.GetReason() != mesos.REASON_RECONCILIATION || st.GetSource() != mesos.SOURCE_MASTER || st.UUID != nil {
			t.Errorf("implicit reconciliation: reason %v source %v uuid %x", st.GetReason(), st.GetSource(), st.UUID)
		}

		// Disconnected: calls are refused until it comes back.
		s2.stop()
		waitFor(t, 5*time.Second, "framework disconnected in /state", func() bool {
			for _, fw := range getState(t, c).Frameworks {
				if fw.ID == id {
					return !fw.Connected && len(fw.Tasks) == 1
				}
			}
			return false
		})
		s3 := startScheduler(t, c, codec, withFailover(30*time.Second, id))
		s3.waitSubscribed()
		s3.mustCall(calls.Kill("f1", ""))
		s3.waitUpdate("f1", mesos.TASK_KILLED)
	})
}

func TestFrameworkFailoverTimeout(t *testing.T) {
	forEachCodec(t, func(t *testing.T, codec string) {
		c := startCluster(t, nil)
		s1 := startScheduler(t, c, codec, withFailover(300*time.Millisecond, ""))
		id := s1.waitSubscribed().FrameworkID.Value
		o := offerOn(t, c, s1.waitOffers(), 0)
		s1.mustCall(launch([]mesos.Offer{o}, executorTask(t, o.AgentID, "g1", "run", codec)))
		s1.waitUpdate("g1", mesos.TASK_RUNNING)
		s1.stop()
		waitFor(t, 10*time.Second, "framework removed and its executor gone", func() bool {
			st := getState(t, c)
			for _, fw := range st.CompletedFrameworks {
				if fw.ID == id {
					c.mu.Lock()
					defer c.mu.Unlock()
					return len(c.agents[0].executors) == 0
				}
			}
			return false
		})
		s2 := startScheduler(t, c, codec, withFailover(time.Minute, id))
		e := s2.next(5*time.Second, "ERROR for a removed framework", func(e *scheduler.Event) bool { return e.Type == scheduler.Event_ERROR })
		if e.Error.Message != "Framework has been removed" {
			t.Errorf("ERROR %q, want \"Framework has been removed\"", e.Error.Message)
		}
	})
}

func TestReconciliation(t *testing.T) {
	forEachCodec(t, func(t *testing.T, codec string) {
		c := startCluster(t, nil)
		for _, pa := range []bool{true, false} {
			var opts []schedOpt
			if pa {
				opts = append(opts, partitionAware())
			}
			s := startScheduler(t, c, codec, opts...)
			o := s.waitOffers()[0]
			task := "r-" + strconv.FormatBool(pa)
			s.mustCall(launch([]mesos.Offer{o}, executorTask(t, o.AgentID, task, "run", codec)))
			s.waitUpdate(task, mesos.TASK_RUNNING)

			s.mustCall(calls.Reconcile())
			s.waitUpdate(task, mesos.TASK_RUNNING)
			s.mustCall(calls.Reconcile(calls.ReconcileTasks(map[string]string{task: o.AgentID.Value})))
			st := s.waitUpdate(task, mesos.TASK_RUNNING)
			if st.GetReason() != mesos.REASON_RECONCILIATION || st.GetMessage() == "" {
				t.Errorf("explicit reconciliation: reason %v message %q", st.GetReason(), st.GetMessage())
			}
			gone, unknown := mesos.TASK_LOST, mesos.TASK_LOST
			if pa {
				gone, unknown = mesos.TASK_GONE, mesos.TASK_UNKNOWN
			}
			s.mustCall(calls.Reconcile(calls.ReconcileTasks(map[string]string{"x-" + task: o.AgentID.Value})))
			s.waitUpdate("x-"+task, gone)
			s.mustCall(calls.Reconcile(calls.ReconcileTasks(map[string]string{"y-" + task: ""})))
			s.waitUpdate("y-"+task, unknown)
			s.mustCall(calls.Kill(task, ""))
			s.waitUpdate(task, mesos.TASK_KILLED)
			s.stop()
		}
	})
}

func TestMessagesBothWays(t *testing.T) {
	forEachCodec(t, func(t *testing.T, codec string) {
		c := startCluster(t, nil)
		s := startScheduler(t, c, codec)
		o := offerOn(t, c, s.waitOffers(), 0)
		s.mustCall(launch([]mesos.Offer{o}, executorTask(t, o.AgentID, "m1", "run", codec)))
		s.waitUpdate("m1", mesos.TASK_RUNNING)
		s.mustCall(calls.Message(o.AgentID.Value, "ex-m1", []byte("hello")))
		m := s.next(10*time.Second, "MESSAGE from the executor", func(e *scheduler.Event) bool { return e.Type == scheduler.Event_MESSAGE }).Message
		if string(m.Data) != "echo:hello" || m.AgentID.Value != o.AgentID.Value || m.ExecutorID.Value != "ex-m1" {
			t.Errorf("MESSAGE %q from %s/%s", m.Data, m.AgentID.Value, m.ExecutorID.Value)
		}
		// SHUTDOWN: the executor kills its task and exits; FAILURE follows.
		s.mustCall(calls.Shutdown("ex-m1", o.AgentID.Value))
		s.waitUpdate("m1", mesos.TASK_KILLED)
		f := s.next(10*time.Second, "FAILURE after SHUTDOWN", func(e *scheduler.Event) bool { return e.Type == scheduler.Event_FAILURE }).Failure
		if f.GetExecutorID().Value != "ex-m1" {
			t.Errorf("FAILURE for %v", f.ExecutorID)
		}
	})
}

func TestTeardown(t *testing.T) {
	forEachCodec(t, func(t *testing.T, codec string) {
		c := startCluster(t, nil)
		s := startScheduler(t, c, codec, withFailover(time.Minute, ""))
		id := s.waitSubscribed().FrameworkID.Value
		o := offerOn(t, c, s.waitOffers(), 0)
		s.mustCall(launch([]mesos.Offer{o}, executorTask(t, o.AgentID, "td", "run", codec)))
		s.waitUpdate("td", mesos.TASK_RUNNING)
		s.mustCall(&scheduler.Call{Type: scheduler.Call_TEARDOWN})
		waitFor(t, 10*time.Second, "executor gone and framework completed", func() bool {
			c.mu.Lock()
			defer c.mu.Unlock()
			_, done := c.completedFrameworks[id]
			return done && len(c.agents[0].executors) == 0
		})
		s.stop()
		s2 := startScheduler(t, c, codec, withFailover(time.Minute, id))
		e := s2.next(5*time.Second, "ERROR after teardown", func(e *scheduler.Event) bool { return e.Type == scheduler.Event_ERROR })
		if e.Error.Message != "Framework has been removed" {
			t.Errorf("ERROR %q", e.Error.Message)
		}
	})
}

// An executor that survives an agent restart but does not re-subscribe is
// destroyed and its task fails.
func TestExecutorReregistrationTimeout(t *testing.T) {
	forEachCodec(t, func(t *testing.T, codec string) {
		c := startCluster(t, func(cfg *Config) { cfg.AgentRemovalTimeout = time.Minute })
		s := startScheduler(t, c, codec, checkpointing(), withFailover(time.Minute, ""))
		o := offerOn(t, c, s.waitOffers(), 0)
		task := executorTask(t, o.AgentID, "rr", "run", codec, mesos.Environment_Variable{Name: "TESTEXEC_NO_RESUBSCRIBE", Value: proto.String("1")})
		s.mustCall(launch([]mesos.Offer{o}, task))
		s.waitUpdate("rr", mesos.TASK_RUNNING)
		if err := c.StopAgent(0, false); err != nil {
			t.Fatal(err)
		}
		if err := c.StartAgent(0); err != nil {
			t.Fatal(err)
		}
		st := s.waitUpdate("rr", mesos.TASK_FAILED)
		if st.GetReason() != mesos.REASON_EXECUTOR_REREGISTRATION_TIMEOUT {
			t.Errorf("reason %v, want REASON_EXECUTOR_REREGISTRATION_TIMEOUT", st.GetReason())
		}
	})
}
