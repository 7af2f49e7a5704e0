package mesoslocal

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/gogo/protobuf/proto"
	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"
)

func commandTask(agentID mesos.AgentID, id, cmd string) mesos.TaskInfo {
	return mesos.TaskInfo{
		Name: id, TaskID: mesos.TaskID{Value: id}, AgentID: agentID,
		Resources: []mesos.Resource{scalar("cpus", 0.1), scalar("mem", 16)},
		Command:   &mesos.CommandInfo{Value: proto.String(cmd)},
	}
}

func TestCommandTasks(t *testing.T) {
	forEachCodec(t, func(t *testing.T, codec string) {
		c := startCluster(t, nil)
		s := startScheduler(t, c, codec)
		o := offerOn(t, c, s.waitOffers(), 0)
		s.mustCall(launch([]mesos.Offer{o},
			commandTask(o.AgentID, "ok", `test -n "$MESOS_SANDBOX" && test "$PWD" = "$MESOS_SANDBOX"`),
			commandTask(o.AgentID, "bad", "exit 2"),
			commandTask(o.AgentID, "long", "sleep 60"),
		))
		s.waitUpdate("ok", mesos.TASK_FINISHED)
		st := s.waitUpdate("bad", mesos.TASK_FAILED)
		if !strings.Contains(st.GetMessage(), "status 2") {
			t.Errorf("FAILED message %q, want the exit status", st.GetMessage())
		}
		s.waitUpdate("long", mesos.TASK_RUNNING)
		s.mustCall(calls.Kill("long", ""))
		s.waitUpdate("long", mesos.TASK_KILLED)
	})
}

func TestExecutorRegistrationTimeout(t *testing.T) {
	forEachCodec(t, func(t *testing.T, codec string) {
		c := startCluster(t, func(cfg *Config) { cfg.ExecutorRegisterTimeout = 500 * time.Millisecond })
		s := startScheduler(t, c, codec)
		o := s.waitOffers()[0]
		task := executorTask(t, o.AgentID, "rt", "run", codec, mesos.Environment_Variable{Name: "TESTEXEC_NO_SUBSCRIBE", Value: proto.String("1")})
		s.mustCall(launch([]mesos.Offer{o}, task))
		st := s.waitUpdate("rt", mesos.TASK_FAILED)
		if st.GetReason() != mesos.REASON_EXECUTOR_REGISTRATION_TIMEOUT {
			t.Errorf("reason %v, want REASON_EXECUTOR_REGISTRATION_TIMEOUT", st.GetReason())
		}
	})
}

func TestInvalidOffersAndTasks(t *testing.T) {
	forEachCodec(t, func(t *testing.T, codec string) {
		c := startCluster(t, nil)
		for _, pa := range []bool{false, true} {
			var opts []schedOpt
			if pa {
				opts = append(opts, partitionAware())
			}
			s := startScheduler(t, c, codec, opts...)
			offers := s.waitOffers()
			o := offerOn(t, c, offers, 0)

			bogus := o
			bogus.ID = mesos.OfferID{Value: "no-such-offer"}
			s.mustCall(launch([]mesos.Offer{bogus}, executorTask(t, o.AgentID, "inv", "run", codec)))
			want := mesos.TASK_LOST
			if pa {
				want = mesos.TASK_DROPPED
			}
			st := s.waitUpdate("inv", want)
			if st.GetReason() != mesos.REASON_INVALID_OFFERS || st.GetSource() != mesos.SOURCE_MASTER || st.UUID != nil {
				t.Errorf("invalid offer update: reason %v source %v uuid %x", st.GetReason(), st.GetSource(), st.UUID)
			}

			// Offers of two agents cannot be combined.
			s.mustCall(launch(offers, executorTask(t, o.AgentID, "two", "run", codec)))
			s.waitUpdate("two", want)

			// The valid offers went back: they are offered again.
			offers = s.waitOffers()
			o = offerOn(t, c, offers, 0)
			huge := executorTask(t, o.AgentID, "huge", "run", codec)
			huge.Resources = []mesos.Resource{scalar("cpus", 64)}
			noRes := commandTask(o.AgentID, "nores", "true")
			noRes.Resources = nil
			both := executorTask(t, o.AgentID, "both", "run", codec)
			both.Command = &mesos.CommandInfo{Value: proto.String("true")}
			wrongAgent := commandTask(mesos.AgentID{Value: "elsewhere"}, "where", "true")
			dupA := commandTask(o.AgentID, "dup", "sleep 30")
			dupB := commandTask(o.AgentID, "dup", "sleep 30")
			slash := commandTask(o.AgentID, "a/b", "true")
			s.mustCall(launch([]mesos.Offer{o}, huge, noRes, both, wrongAgent, dupA, dupB, slash))
			for _, id := range []string{"huge", "nores", "both", "where", "a/b"} {
				st := s.waitUpdate(id, mesos.TASK_ERROR)
				if st.GetReason() != mesos.REASON_TASK_INVALID || st.GetSource() != mesos.SOURCE_MASTER {
					t.Errorf("%s: reason %v source %v", id, st.GetReason(), st.GetSource())
				}
			}
			s.waitUpdate("dup", mesos.TASK_RUNNING)
			s.waitUpdate("dup", mesos.TASK_ERROR)
			s.mustCall(calls.Kill("dup", ""))
			s.waitUpdate("dup", mesos.TASK_KILLED)
			s.stop()
		}
	})
}

// An update the scheduler does not acknowledge is sent again with the same
// uuid; the next one waits behind it.
func TestStatusUpdateRetry(t *testing.T) {
	forEachCodec(t, func(t *testing.T, codec string) {
		c := startCluster(t, func(cfg *Config) { cfg.StatusUpdateRetry = 200 * time.Millisecond })
		s := startScheduler(t, c, codec, noAutoAck())
		o := s.waitOffers()[0]
		s.mustCall(launch([]mesos.Offer{o}, executorTask(t, o.AgentID, "u1", "finish", codec)))
		first := s.waitUpdate("u1", mesos.TASK_RUNNING)
		again := s.next(5*time.Second, "retried RUNNING", func(e *scheduler.Event) bool {
			return e.Type == scheduler.Event_UPDATE && e.Update.Status.TaskID.Value == "u1"
		}).Update.Status
		if again.GetState() != mesos.TASK_RUNNING || !bytes.Equal(again.UUID, first.UUID) {
			t.Fatalf("after an unacknowledged RUNNING got %v uuid %x, want RUNNING again with uuid %x", again.GetState(), again.UUID, first.UUID)
		}
		s.mustCall(calls.Acknowledge(o.AgentID.Value, "u1", first.UUID))
		fin := s.waitUpdate("u1", mesos.TASK_FINISHED)
		s.mustCall(calls.Acknowledge(o.AgentID.Value, "u1", fin.UUID))
		waitFor(t, 5*time.Second, "task forgotten after its terminal update is acknowledged", func() bool {
			c.mu.Lock()
			defer c.mu.Unlock()
			return len(c.frameworks[s.FrameworkID()].tasks) == 0
		})
	})
}

func TestLaunchGroup(t *testing.T) {
	forEachCodec(t, func(t *testing.T, codec string) {
		c := startCluster(t, nil)
		s := startScheduler(t, c, codec)
		o := s.waitOffers()[0]
		a := executorTask(t, o.AgentID, "g-a", "run", codec)
		b := executorTask(t, o.AgentID, "g-b", "finish", codec)
		ex := *a.Executor
		ex.ExecutorID = mesos.ExecutorID{Value: "group-ex"}
		a.Executor, b.Executor = nil, nil
		s.mustCall(calls.Accept(calls.OfferOperations{calls.OpLaunchGroup(ex, a, b)}.WithOffers(o.ID)))
		s.waitUpdate("g-a", mesos.TASK_RUNNING)
		s.waitUpdate("g-b", mesos.TASK_FINISHED)
		s.mustCall(calls.Kill("g-a", ""))
		s.waitUpdate("g-a", mesos.TASK_KILLED)
	})
}

func TestDeclineSuppressRevive(t *testing.T) {
	forEachCodec(t, func(t *testing.T, codec string) {
		c := startCluster(t, nil)
		s := startScheduler(t, c, codec)
		offers := s.waitOffers()
		ids := []mesos.OfferID{offers[0].ID, offers[1].ID}
		s.mustCall(calls.Decline(ids...).With(calls.RefuseSeconds(200 * time.Millisecond)))
		again := s.waitOffers()
		for _, o := range again {
			if o.ID == ids[0] || o.ID == ids[1] {
				t.Errorf("declined offer %s offered again", o.ID.Value)
			}
		}
		// Suppressed: declined resources are not offered again until REVIVE.
		s.mustCall(calls.Suppress())
		ids = nil
		for _, o := range again {
			ids = append(ids, o.ID)
		}
		s.mustCall(calls.Decline(ids...).With(calls.RefuseSeconds(time.Millisecond)))
		deadline := time.After(300 * time.Millisecond)
	quiet:
		for {
			select {
			case e := <-s.events:
				if e.Type == scheduler.Event_OFFERS {
					t.Fatalf("OFFERS while suppressed")
				}
			case <-deadline:
				break quiet
			}
		}
		s.mustCall(calls.Revive())
		if n := len(s.waitOffers()); n != 2 {
			t.Errorf("after REVIVE got %d offers, want 2", n)
		}
	})
}

// An executor that ignores SHUTDOWN is killed after its grace period; its
// live tasks fail.
func TestShutdownGracePeriod(t *testing.T) {
	forEachCodec(t, func(t *testing.T, codec string) {
		c := startCluster(t, nil)
		s := startScheduler(t, c, codec)
		o := s.waitOffers()[0]
		task := executorTask(t, o.AgentID, "sg", "run", codec, mesos.Environment_Variable{Name: "TESTEXEC_IGNORE_SHUTDOWN", Value: proto.String("1")})
		task.Executor.ShutdownGracePeriod = &mesos.DurationInfo{Nanoseconds: int64(300 * time.Millisecond)}
		s.mustCall(launch([]mesos.Offer{o}, task))
		s.waitUpdate("sg", mesos.TASK_RUNNING)
		s.mustCall(calls.Shutdown("ex-sg", o.AgentID.Value))
		st := s.waitUpdate("sg", mesos.TASK_FAILED)
		if st.GetReason() != mesos.REASON_EXECUTOR_TERMINATED || st.GetSource() != mesos.SOURCE_AGENT {
			t.Errorf("reason %v source %v", st.GetReason(), st.GetSource())
		}
		f := s.next(5*time.Second, "FAILURE", func(e *scheduler.Event) bool { return e.Type == scheduler.Event_FAILURE }).Failure
		if f.GetStatus() != 9 {
			t.Errorf("FAILURE status %d, want 9 (killed by SIGKILL)", f.GetStatus())
		}
	})
}

// Tasks naming the same executor share one process; a different
// ExecutorInfo under that id is an invalid task.
func TestExecutorShared(t *testing.T) {
	forEachCodec(t, func(t *testing.T, codec string) {
		c := startCluster(t, nil)
		s := startScheduler(t, c, codec)
		o := offerOn(t, c, s.waitOffers(), 0)
		a := executorTask(t, o.AgentID, "s-a", "run", codec)
		b := executorTask(t, o.AgentID, "s-b", "run", codec)
		b.Executor = a.Executor
		s.mustCall(launch([]mesos.Offer{o}, a, b))
		s.waitUpdate("s-a", mesos.TASK_RUNNING)
		s.waitUpdate("s-b", mesos.TASK_RUNNING)
		c.mu.Lock()
		n := len(c.agents[0].executors)
		c.mu.Unlock()
		if n != 1 {
			t.Errorf("%d executors on the agent, want 1 shared", n)
		}
		o = s.next(10*time.Second, "an offer on agent 0", func(e *scheduler.Event) bool {
			return e.Type == scheduler.Event_OFFERS && e.Offers.Offers[0].AgentID == o.AgentID
		}).Offers.Offers[0]
		if len(o.ExecutorIDs) != 1 || o.ExecutorIDs[0].Value != "ex-s-a" {
			t.Errorf("offer executor_ids %v, want [ex-s-a]", o.ExecutorIDs)
		}
		other := executorTask(t, o.AgentID, "s-c", "run", codec)
		other.Executor.ExecutorID = a.Executor.ExecutorID
		other.Executor.Name = proto.String("a different executor")
		s.mustCall(launch([]mesos.Offer{o}, other))
		st := s.waitUpdate("s-c", mesos.TASK_ERROR)
		if !strings.Contains(st.GetMessage(), "not compatible") {
			t.Errorf("message %q", st.GetMessage())
		}
	})
}

// A task killed before its executor subscribed is killed by the agent, and
// the executor with nothing left to run is destroyed.
func TestKillBeforeDelivery(t *testing.T) {
	forEachCodec(t, func(t *testing.T, codec string) {
		c := startCluster(t, nil)
		s := startScheduler(t, c, codec)
		o := s.waitOffers()[0]
		task := executorTask(t, o.AgentID, "kq", "run", codec, mesos.Environment_Variable{Name: "TESTEXEC_NO_SUBSCRIBE", Value: proto.String("1")})
		s.mustCall(launch([]mesos.Offer{o}, task))
		s.mustCall(calls.Kill("kq", ""))
		st := s.waitUpdate("kq", mesos.TASK_KILLED)
		if st.GetReason() != mesos.REASON_TASK_KILLED_DURING_LAUNCH || st.GetSource() != mesos.SOURCE_AGENT {
			t.Errorf("reason %v source %v", st.GetReason(), st.GetSource())
		}
		waitFor(t, 10*time.Second, "the idle executor destroyed", func() bool {
			c.mu.Lock()
			defer c.mu.Unlock()
			for _, a := range c.agents {
				if len(a.executors) > 0 {
					return false
				}
			}
			return true
		})
	})
}

func TestCommandTaskArgv(t *testing.T) {
	forEachCodec(t, func(t *testing.T, codec string) {
		c := startCluster(t, nil)
		s := startScheduler(t, c, codec)
		o := s.waitOffers()[0]
		task := commandTask(o.AgentID, "argv", "sh")
		task.Command.Shell = proto.Bool(false)
		task.Command.Arguments = []string{"sh", "-c", `test "$GREETING" = hello`}
		task.Command.Environment = &mesos.Environment{Variables: []mesos.Environment_Variable{{Name: "GREETING", Value: proto.String("hello")}}}
		s.mustCall(launch([]mesos.Offer{o}, task))
		s.waitUpdate("argv", mesos.TASK_FINISHED)
	})
}
