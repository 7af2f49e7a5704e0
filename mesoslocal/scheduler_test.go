package mesoslocal

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"

	"github.com/mrredis/mrredis/internal/testenv"
)

func forEachCodec(t *testing.T, f func(t *testing.T, codec string)) {
	for _, codec := range codecNames {
		t.Run(codec, func(t *testing.T) {
			testenv.NeedProcesses(t)
			t.Parallel()
			f(t, codec)
		})
	}
}

func TestLaunchRunningFinished(t *testing.T) {
	forEachCodec(t, func(t *testing.T, codec string) {
		c := startCluster(t, nil)
		s := startScheduler(t, c, codec)
		sub := s.waitSubscribed()
		if ok, _ := regexp.MatchString(`^[0-9a-f-]{36}-0000$`, sub.FrameworkID.Value); !ok {
			t.Errorf("framework id %q, want <masterUUID>-0000", sub.FrameworkID.Value)
		}
		if sub.GetHeartbeatIntervalSeconds() != 1 {
			t.Errorf("heartbeat interval %v, want 1", sub.GetHeartbeatIntervalSeconds())
		}
		offers := s.waitOffers()
		if len(offers) != 2 {
			t.Fatalf("got %d offers, want one per agent (2)", len(offers))
		}
		for _, o := range offers {
			if !strings.Contains(o.ID.Value, "-O") || !strings.Contains(o.AgentID.Value, "-S") {
				t.Errorf("offer %s on agent %s: ids not in Mesos form", o.ID.Value, o.AgentID.Value)
			}
			got := map[string]string{}
			for _, r := range o.Resources {
				if r.Scalar != nil {
					got[r.Name] = fmt.Sprint(r.Scalar.Value)
				} else if r.Ranges != nil {
					got[r.Name] = fmt.Sprint(r.Ranges.Range)
				}
			}
			want := map[string]string{"cpus": "4", "mem": "4096", "disk": "10240", "ports": "[{31000 32000}]"}
			for k, v := range want {
				if !strings.Contains(got[k], strings.Trim(v, "[]{}")) {
					t.Errorf("offer resource %s = %q, want %q", k, got[k], v)
				}
			}
		}
		o := offerOn(t, c, offers, 0)
		if o.Hostname != "127.0.0.2" {
			t.Errorf("offer hostname %q, want 127.0.0.2", o.Hostname)
		}
		s.mustCall(launch([]mesos.Offer{o}, executorTask(t, o.AgentID, "t1", "finish", codec)))
		running := s.waitUpdate("t1", mesos.TASK_RUNNING)
		if running.GetSource() != mesos.SOURCE_EXECUTOR || len(running.UUID) != 16 {
			t.Errorf("RUNNING update source %v uuid %d bytes, want SOURCE_EXECUTOR with a uuid", running.GetSource(), len(running.UUID))
		}
		if running.GetAgentID().Value != o.AgentID.Value || running.GetExecutorID().Value != "ex-t1" {
			t.Errorf("RUNNING update agent %v executor %v", running.AgentID, running.ExecutorID)
		}
		s.waitUpdate("t1", mesos.TASK_FINISHED)

		// The sandbox follows the Mesos layout and the executor got its environment.
		pattern := filepath.Join(c.WorkDir(), "agents", o.AgentID.Value, "frameworks", sub.FrameworkID.Value, "executors", "ex-t1", "runs", "*", "stderr")
		waitFor(t, 10*time.Second, "executor stderr in the sandbox", func() bool {
			m, _ := filepath.Glob(pattern)
			if len(m) != 1 {
				return false
			}
			b, _ := os.ReadFile(m[0])
			return strings.Contains(string(b), "ExecutorShutdownGracePeriod:2s") && strings.Contains(string(b), "AgentEndpoint:127.0.0.2:")
		})
		// Once FINISHED is acknowledged the task is completed in /state.
		waitFor(t, 10*time.Second, "task t1 completed in /state", func() bool {
			st := getState(t, c)
			for _, fw := range st.Frameworks {
				for _, ct := range fw.CompletedTasks {
					if ct.ID == "t1" && ct.State == "TASK_FINISHED" {
						return len(fw.Tasks) == 0
					}
				}
			}
			return false
		})
	})
}

func TestKillTask(t *testing.T) {
	forEachCodec(t, func(t *testing.T, codec string) {
		c := startCluster(t, nil)
		s := startScheduler(t, c, codec)
		o := offerOn(t, c, s.waitOffers(), 1)
		s.mustCall(launch([]mesos.Offer{o}, executorTask(t, o.AgentID, "k1", "run", codec)))
		s.waitUpdate("k1", mesos.TASK_RUNNING)
		s.mustCall(calls.Kill("k1", o.AgentID.Value))
		st := s.waitUpdate("k1", mesos.TASK_KILLED)
		if st.GetSource() != mesos.SOURCE_EXECUTOR {
			t.Errorf("KILLED source %v, want SOURCE_EXECUTOR", st.GetSource())
		}
		// Killing an unknown task answers like reconciliation.
		s.mustCall(calls.Kill("nope", ""))
		st = s.waitUpdate("nope", mesos.TASK_LOST)
		if st.GetReason() != mesos.REASON_RECONCILIATION {
			t.Errorf("kill of unknown task: reason %v, want REASON_RECONCILIATION", st.GetReason())
		}
	})
}

func TestExecutorCrash(t *testing.T) {
	forEachCodec(t, func(t *testing.T, codec string) {
		c := startCluster(t, nil)
		s := startScheduler(t, c, codec)
		o := offerOn(t, c, s.waitOffers(), 0)
		s.mustCall(launch([]mesos.Offer{o}, executorTask(t, o.AgentID, "c1", "crash", codec)))
		s.waitUpdate("c1", mesos.TASK_RUNNING)
		st := s.waitUpdate("c1", mesos.TASK_FAILED)
		if st.GetReason() != mesos.REASON_EXECUTOR_TERMINATED || st.GetSource() != mesos.SOURCE_AGENT || len(st.UUID) != 16 {
			t.Errorf("FAILED reason %v source %v uuid %d bytes; want EXECUTOR_TERMINATED from the agent, reliable", st.GetReason(), st.GetSource(), len(st.UUID))
		}
		f := s.next(10*time.Second, "FAILURE", func(e *scheduler.Event) bool { return e.Type == scheduler.Event_FAILURE }).Failure
		if f.GetExecutorID().Value != "ex-c1" || f.GetAgentID().Value != o.AgentID.Value {
			t.Errorf("FAILURE for %v on %v", f.ExecutorID, f.AgentID)
		}
		if f.Status == nil || *f.Status>>8 != 3 {
			t.Errorf("FAILURE status %v, want a wait status with exit code 3", f.GetStatus())
		}
		// The resources come back to the agent.
		waitFor(t, 10*time.Second, "agent resources freed after the crash", func() bool {
			for _, a := range getState(t, c).Slaves {
				if a.ID == o.AgentID.Value {
					return a.UsedResources["cpus"] == 0.0 && a.UsedResources["mem"] == 0.0
				}
			}
			return false
		})
	})
}

func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func getState(t testing.TB, c *Cluster) stateDoc {
	t.Helper()
	res, err := http.Get(c.URL() + "/state")
	if err != nil {
		t.Fatalf("GET /state: %v", err)
	}
	defer res.Body.Close()
	var doc stateDoc
	if err := json.NewDecoder(res.Body).Decode(&doc); err != nil {
		t.Fatalf("decode /state: %v", err)
	}
	return doc
}
