package integration

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mrredis/mrredis/internal/model"
)

// TestFailover kills the master of a running instance in each way a master
// dies or hangs, and checks the same outcome every time: a replica that had
// the data is promoted, /master (and so the proxy) follows it, the failover
// is recorded, the instance gets back to its replica count, and there is
// never more than one master.
func TestFailover(t *testing.T) {
	tests := []struct {
		name  string
		cause func(t *testing.T, s *system, master model.Member, pid int)
		// comeback, when set, revives the old master after the failover.
		comeback func(pid int)
	}{
		{"redis-server killed", func(t *testing.T, s *system, _ model.Member, pid int) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}, nil},
		{"executor killed", func(t *testing.T, s *system, _ model.Member, pid int) {
			// The executor is redis-server's parent; its death takes the
			// member down with it (Pdeathsig), as Mesos would.
			_ = syscall.Kill(parentPID(t, pid), syscall.SIGKILL)
		}, nil},
		{"agent lost", func(t *testing.T, s *system, master model.Member, _ int) {
			for i, a := range s.mesos.Agents() {
				if a.Hostname == master.Host {
					if err := s.mesos.StopAgent(i, true); err != nil {
						t.Fatal(err)
					}
					return
				}
			}
			t.Fatalf("no agent with host %s", master.Host)
		}, nil},
		{"master hung, then back", func(t *testing.T, s *system, _ model.Member, pid int) {
			_ = syscall.Kill(pid, syscall.SIGSTOP)
			t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGCONT) })
		}, func(pid int) { _ = syscall.Kill(pid, syscall.SIGCONT) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSystem(t, options{agents: 4})
			s.startProxy()
			ctx := s.ctx()
			v := s.create(model.Spec{Name: "fo", MemoryMB: 32, Replicas: 2})
			proxy := redisAt(t, fmt.Sprintf("127.0.0.1:%d", v.ProxyPort), "")
			waitRedis(t, func() error { return proxy.Set(ctx, "before", "1", 0).Err() })
			// WAIT makes the write reach both replicas before the kill.
			if n, err := redisAt(t, v.Master, "").Wait(ctx, 2, 5000).Result(); err != nil || n != 2 {
				t.Fatalf("WAIT 2 replicas: %d, %v", n, err)
			}
			old := masterMember(t, v)
			pid := memberPID(t, v.Master, "")

			start := time.Now()
			tt.cause(t, s, old, pid)
			after := s.waitFor("fo", "failed over to a new master", func(v model.InstanceView) bool {
				return v.Master != "" && v.Master != old.Addr() && len(v.History) > 0
			})
			t.Logf("%s: new master %s after %v (recorded: %+v)", tt.name, after.Master, time.Since(start), after.History[len(after.History)-1])
			waitRedis(t, func() error {
				got, err := proxy.Get(ctx, "before").Result()
				if err == nil && got != "1" {
					return fmt.Errorf("GET before = %q", got)
				}
				if err == nil {
					err = proxy.Set(ctx, "after", "2", 0).Err()
				}
				return err
			})
			if got, err := redisAt(t, after.Master, "").Get(ctx, "after").Result(); err != nil || got != "2" {
				t.Fatalf("write through the proxy did not reach the new master %s: %q, %v", after.Master, got, err)
			}
			healed := s.waitFor("fo", "back to 2 replicas in sync", func(v model.InstanceView) bool {
				return v.State == model.StateRunning && v.ReplicasInSync == 2 && len(v.Members) == 3
			})
			assertOneMaster(t, s, healed)
			if tt.comeback != nil {
				// The old master wakes up believing it is master: it must
				// be gone (or a replica) before anything routes to it.
				tt.comeback(pid)
				waitRedis(t, func() error {
					if err := syscall.Kill(pid, 0); err == nil {
						return fmt.Errorf("old master (pid %d) still runs after it came back", pid)
					}
					return nil
				})
				assertOneMaster(t, s, s.waitFor("fo", "RUNNING", func(v model.InstanceView) bool { return v.State == model.StateRunning }))
				if got, err := proxy.Get(ctx, "after").Result(); err != nil || got != "2" {
					t.Fatalf("after the old master came back: GET after = %q, %v", got, err)
				}
			}
		})
	}
}

// TestSwitchover asks for a planned failover while a writer runs and checks
// that every acknowledged write is on the new master.
func TestSwitchover(t *testing.T) {
	s := newSystem(t, options{agents: 3})
	s.startProxy()
	v := s.create(model.Spec{Name: "sw", MemoryMB: 32, Replicas: 1})
	proxy := redisAt(t, fmt.Sprintf("127.0.0.1:%d", v.ProxyPort), "")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	waitRedis(t, func() error { return proxy.Ping(ctx).Err() })

	done := make(chan []int, 1)
	go func() {
		var acked []int
		for i := 1; ctx.Err() == nil; i++ {
			if err := proxy.RPush(ctx, "log", i).Err(); err == nil {
				acked = append(acked, i)
			}
			time.Sleep(time.Millisecond)
		}
		done <- acked
	}()
	time.Sleep(300 * time.Millisecond)
	if _, err := s.api.Failover(ctx, "sw"); err != nil {
		t.Fatalf("switchover: %v", err)
	}
	after := s.waitFor("sw", "switched over", func(x model.InstanceView) bool {
		return x.Master != "" && x.Master != v.Master
	})
	time.Sleep(300 * time.Millisecond)
	cancel()
	acked := <-done
	vals, err := redisAt(t, after.Master, "").LRange(context.Background(), "log", 0, -1).Result()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, x := range vals {
		seen[x] = true
	}
	// A write that failed may have landed or not; an acknowledged one
	// must never be missing.
	var lost []int
	for _, i := range acked {
		if !seen[strconv.Itoa(i)] {
			lost = append(lost, i)
		}
	}
	if len(lost) > 0 || len(acked) == 0 {
		t.Fatalf("switchover lost %d of %d acknowledged writes: %v", len(lost), len(acked), lost)
	}
	t.Logf("switchover: %d acknowledged writes, none lost", len(acked))
}

func masterMember(t *testing.T, v model.InstanceView) model.Member {
	t.Helper()
	for _, m := range v.Members {
		if m.Addr() == v.Master {
			return m
		}
	}
	t.Fatalf("no member at master address %s: %+v", v.Master, v.Members)
	return model.Member{}
}

// assertOneMaster asks every member, and every redis-server under the
// test's sandboxes, for its role: exactly one may say master.
func assertOneMaster(t *testing.T, s *system, v model.InstanceView) {
	t.Helper()
	masters := 0
	for _, m := range v.Members {
		info, err := redisAt(t, m.Addr(), "").Info(context.Background(), "replication").Result()
		if err != nil {
			t.Fatalf("INFO on member %s: %v", m.Addr(), err)
		}
		if strings.Contains(info, "role:master") {
			masters++
			if m.Addr() != v.Master {
				t.Fatalf("member %s says master but /master is %s", m.Addr(), v.Master)
			}
		}
	}
	if masters != 1 {
		t.Fatalf("%d members say master, want 1", masters)
	}
}

func parentPID(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// pid (comm) state ppid ...: comm may hold spaces, so cut after ')'.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	ppid, err := strconv.Atoi(f[1])
	if err != nil {
		t.Fatal(err)
	}
	return ppid
}
