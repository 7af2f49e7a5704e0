package sched

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mrredis/mrredis/internal/execproto"
	"github.com/mrredis/mrredis/internal/model"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// harness drives a Core like the runner does and keeps the actions.
type harness struct {
	t    *testing.T
	c    *Core
	now  time.Time
	acts []Action
}

func newHarness(t *testing.T, cfg CoreConfig) *harness {
	return &harness{t: t, c: NewCore(cfg), now: t0}
}

func (h *harness) step(d time.Duration) { h.now = h.now.Add(d) }

func (h *harness) do(acts []Action) []Action { h.acts = acts; return acts }

func (h *harness) create(name string, mem, replicas int) {
	h.t.Helper()
	inst := model.Instance{Spec: model.Spec{Name: name, MemoryMB: mem, Replicas: replicas, Persistence: model.PersistenceNone},
		ProxyPort: 6100, State: model.StateCreating, AdminPassword: "admin", Created: h.now}
	acts, err := h.c.Created(inst, h.now)
	if err != nil {
		h.t.Fatal(err)
	}
	h.do(acts)
}

func agentOffer(i int, mem float64) Offer {
	return Offer{
		ID: fmt.Sprintf("O%d", i), AgentID: fmt.Sprintf("M-S%d", i), Hostname: fmt.Sprintf("127.0.0.%d", i+2),
		CPUs: 4, MemMB: mem, Ports: []PortRange{{31000, 31010}},
	}
}

func offers(n int, mem float64) []Offer {
	var out []Offer
	for i := 0; i < n; i++ {
		out = append(out, agentOffer(i, mem))
	}
	return out
}

func kinds(acts []Action) []ActionKind {
	var out []ActionKind
	for _, a := range acts {
		out = append(out, a.Kind)
	}
	return out
}

func find(acts []Action, k ActionKind) []Action {
	var out []Action
	for _, a := range acts {
		if a.Kind == k {
			out = append(out, a)
		}
	}
	return out
}

func launched(acts []Action) []LaunchTask {
	var out []LaunchTask
	for _, a := range find(acts, ActLaunch) {
		out = append(out, a.Tasks...)
	}
	return out
}

// running reports TASK_RUNNING for every task launched in acts.
func (h *harness) running(tasks []LaunchTask) {
	for _, t := range tasks {
		_, ms := h.c.findTask(t.TaskID)
		h.do(h.c.Update(TaskUpdate{TaskID: t.TaskID, AgentID: ms.m.AgentID, State: "TASK_RUNNING",
			Data: &execproto.StatusData{Host: ms.m.Host, Port: t.Data.Port, RunID: "r-" + t.TaskID, Role: t.Data.Role}}, h.now))
	}
}

// stats reports stats for every live member of name: replicas linked up.
func (h *harness) stats(name string, offset int64) {
	is := h.c.instances[name]
	var st []execproto.MemberStats
	for _, id := range is.memberIDs() {
		ms := is.members[id]
		if !ms.live() {
			continue
		}
		st = append(st, execproto.MemberStats{TaskID: id, Role: ms.m.Role, ReplOffset: offset, LinkUp: id != is.inst.MasterTask})
	}
	h.do(h.c.Message(execproto.ExecutorMessage{Kind: execproto.KindStats, Stats: st}, h.now))
}

// bringUp creates name and runs it to RUNNING on n agents.
func (h *harness) bringUp(name string, mem, replicas, agents int) {
	h.t.Helper()
	h.create(name, mem, replicas)
	h.running(launched(h.do(h.c.Offers(offers(agents, 4096), h.now))))
	h.running(launched(h.do(h.c.Offers(offers(agents, 4096), h.now))))
	h.stats(name, 100)
	if st := h.c.instances[name].inst.State; st != model.StateRunning {
		h.t.Fatalf("%s: state %s (%s), want RUNNING", name, st, h.c.instances[name].inst.Reason)
	}
}

func TestCreateLifecycle(t *testing.T) {
	h := newHarness(t, DefaultCoreConfig())
	h.create("cache", 256, 2)
	if len(find(h.acts, ActRevive)) != 1 {
		t.Fatalf("create: want a revive, got %v", kinds(h.acts))
	}
	acts := h.do(h.c.Offers(offers(3, 4096), h.now))
	tasks := launched(acts)
	if len(tasks) != 1 || tasks[0].Data.Role != model.RoleMaster {
		t.Fatalf("first offers: want only the master launched, got %+v", tasks)
	}
	if tasks[0].Data.MaxMemoryMB != 256 || tasks[0].MemMB != 256+32 || !tasks[0].NewExec {
		t.Fatalf("master task sizing wrong: %+v", tasks[0])
	}
	// Store before launch: the member and the instance's master task are written first.
	ks := kinds(acts)
	if ks[0] != ActPutMember || indexOf(ks, ActLaunch) < indexOf(ks, ActUpdateInstance) {
		t.Fatalf("store writes must precede the launch: %v", ks)
	}
	if len(find(acts, ActDecline)) != 1 || len(find(acts, ActDecline)[0].OfferIDs) != 2 {
		t.Fatalf("want the 2 unused offers declined, got %+v", find(acts, ActDecline))
	}
	// Nothing placeable until the master runs: suppress.
	if len(find(acts, ActSuppress)) != 1 {
		t.Fatalf("want suppress while waiting for the master, got %v", ks)
	}
	h.running(tasks)
	if sm := find(h.acts, ActSetMaster); len(sm) != 1 || sm[0].Addr != fmt.Sprintf("%s:%d", "127.0.0.3", 31000) && sm[0].Addr != "127.0.0.2:31000" {
		t.Fatalf("master running: want /master written, got %+v", h.acts)
	}
	if len(find(h.acts, ActRevive)) != 1 {
		t.Fatalf("master running: want revive for the replicas, got %v", kinds(h.acts))
	}
	acts = h.do(h.c.Offers(offers(3, 4096), h.now))
	reps := launched(acts)
	if len(reps) != 2 {
		t.Fatalf("want 2 replicas launched, got %d", len(reps))
	}
	hosts := map[string]bool{}
	master := h.c.instances["cache"].masterMember()
	hosts[master.m.Host] = true
	for _, r := range reps {
		if r.Data.Role != model.RoleReplica || r.Data.MasterHost != master.m.Host || r.Data.MasterPort != master.m.Port {
			t.Fatalf("replica must point at the master: %+v", r.Data)
		}
		_, ms := h.c.findTask(r.TaskID)
		if hosts[ms.m.Host] {
			t.Fatalf("anti-affinity violated: two members on %s", ms.m.Host)
		}
		hosts[ms.m.Host] = true
	}
	// The executor reports a replica RUNNING only once its link to the
	// master is up: the instance is RUNNING without waiting for stats.
	h.running(reps[:1])
	if st := h.c.instances["cache"].inst.State; st != model.StateCreating {
		t.Fatalf("one replica of two running: state %s, want CREATING", st)
	}
	h.running(reps[1:])
	is := h.c.instances["cache"]
	if is.inst.State != model.StateRunning || is.inst.Reason != "" {
		t.Fatalf("want RUNNING, got %s (%s)", is.inst.State, is.inst.Reason)
	}
	if u := find(h.acts, ActUpdateInstance); len(u) != 1 || u[0].Inst.State != model.StateRunning {
		t.Fatalf("RUNNING must be stored: %+v", h.acts)
	}
	v, _ := h.c.View("cache")
	if v.ReplicasInSync != 2 || len(v.Members) != 3 || v.Members[0].Role != model.RoleMaster || v.Master == "" {
		t.Fatalf("view wrong: %+v", v)
	}
}

func indexOf(ks []ActionKind, k ActionKind) int {
	for i, x := range ks {
		if x == k {
			return i
		}
	}
	return -1
}

func TestPlacement(t *testing.T) {
	cases := []struct {
		name         string
		antiAffinity bool
		replicas     int
		offers       []Offer
		wantReplicas int
		wantReason   string
	}{
		{"spread over 3 agents", true, 2, offers(3, 4096), 2, ""},
		{"anti-affinity leaves one waiting", true, 3, offers(3, 4096), 2, "waiting: no agent without a member of this instance (anti-affinity)"},
		{"without anti-affinity all fit on few agents", false, 3, offers(2, 8192), 3, ""},
		{"not enough memory", true, 2, []Offer{agentOffer(0, 4096), agentOffer(1, 100), agentOffer(2, 100)}, 0, "waiting: no agent with 2112 MB free"},
		{"no ports", true, 1, []Offer{agentOffer(0, 8192), {ID: "x", AgentID: "M-S9", Hostname: "h9", CPUs: 4, MemMB: 8192}}, 0, "waiting: no agent with a free port"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultCoreConfig()
			cfg.AntiAffinity = tc.antiAffinity
			h := newHarness(t, cfg)
			h.create("big", 2048, tc.replicas)
			h.running(launched(h.do(h.c.Offers(offers(1, 8192), h.now))))
			// The master's agent (offer 0) has room again in the next round.
			reps := launched(h.do(h.c.Offers(tc.offers, h.now)))
			if len(reps) != tc.wantReplicas {
				t.Fatalf("placed %d replicas, want %d", len(reps), tc.wantReplicas)
			}
			if got := h.c.instances["big"].pending; got != tc.wantReason {
				t.Fatalf("pending reason %q, want %q", got, tc.wantReason)
			}
			if tc.wantReason != "" && !strings.Contains(h.c.instances["big"].inst.Reason, tc.wantReason) {
				t.Fatalf("instance reason %q lacks %q", h.c.instances["big"].inst.Reason, tc.wantReason)
			}
			if d := find(h.acts, ActDecline); tc.wantReason != "" && len(d) > 0 && d[0].Refuse != cfg.DeclineShort {
				t.Fatalf("offers declined while members wait must use the short filter")
			}
		})
	}
}

func TestPendingMasterReason(t *testing.T) {
	h := newHarness(t, DefaultCoreConfig())
	h.create("huge", 2048, 0)
	h.do(h.c.Offers(offers(3, 1024), h.now))
	is := h.c.instances["huge"]
	if is.inst.State != model.StateCreating || is.inst.Reason != "waiting: no agent with 2112 MB free" {
		t.Fatalf("got %s %q", is.inst.State, is.inst.Reason)
	}
	if len(find(h.acts, ActLaunch)) != 0 || len(find(h.acts, ActSuppress)) != 0 {
		t.Fatalf("nothing fits: no launch and keep offers coming: %v", kinds(h.acts))
	}
}

func TestScale(t *testing.T) {
	h := newHarness(t, DefaultCoreConfig())
	h.bringUp("s", 64, 2, 5)
	four := 4
	inst, err := h.c.PlanPatch("s", model.PatchRequest{Replicas: &four}, model.DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	h.do(h.c.Apply(inst, h.now))
	if h.c.instances["s"].inst.State != model.StateDegraded || len(find(h.acts, ActRevive)) != 1 {
		t.Fatalf("scale up: want DEGRADED and revive, got %s %v", h.c.instances["s"].inst.State, kinds(h.acts))
	}
	reps := launched(h.do(h.c.Offers(offers(5, 4096), h.now)))
	if len(reps) != 2 {
		t.Fatalf("scale up placed %d, want 2", len(reps))
	}
	h.running(reps)
	h.stats("s", 200)
	if h.c.instances["s"].inst.State != model.StateRunning || h.c.instances["s"].liveReplicas() != 4 {
		t.Fatalf("after scale up: %s", h.c.instances["s"].inst.Reason)
	}
	one := 1
	inst, _ = h.c.PlanPatch("s", model.PatchRequest{Replicas: &one}, model.DefaultLimits())
	acts := h.do(h.c.Apply(inst, h.now))
	kills := find(acts, ActKill)
	if len(kills) != 3 {
		t.Fatalf("scale down 4->1: want 3 kills, got %v", kinds(acts))
	}
	for _, k := range kills {
		if k.TaskID == h.c.instances["s"].inst.MasterTask {
			t.Fatal("scale down killed the master")
		}
	}
	if h.c.instances["s"].inst.State != model.StateRunning {
		t.Fatalf("after scale down: %s %s", h.c.instances["s"].inst.State, h.c.instances["s"].inst.Reason)
	}
	for _, k := range kills {
		h.do(h.c.Update(TaskUpdate{TaskID: k.TaskID, State: "TASK_KILLED"}, h.now))
		if len(find(h.acts, ActDeleteMember)) != 1 {
			t.Fatalf("killed member must be removed from the store: %v", kinds(h.acts))
		}
	}
	if n := len(h.c.instances["s"].members); n != 2 {
		t.Fatalf("members after scale down: %d, want 2", n)
	}
	// Bad patches change nothing.
	neg := -1
	if _, err := h.c.PlanPatch("s", model.PatchRequest{Replicas: &neg}, model.DefaultLimits()); err == nil {
		t.Fatal("negative replicas accepted")
	}
	if _, err := h.c.PlanPatch("nope", model.PatchRequest{Replicas: &one}, model.DefaultLimits()); err == nil {
		t.Fatal("unknown instance accepted")
	}
}

func TestResizeMemory(t *testing.T) {
	h := newHarness(t, DefaultCoreConfig())
	h.bringUp("r", 64, 1, 3)
	mem := 128
	inst, err := h.c.PlanPatch("r", model.PatchRequest{MemoryMB: &mem}, model.DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	acts := h.do(h.c.Apply(inst, h.now))
	msgs := find(acts, ActMessage)
	if len(msgs) != 2 {
		t.Fatalf("want set-maxmemory to both members, got %v", kinds(acts))
	}
	for _, m := range msgs {
		if m.Command.Op != execproto.OpSetMaxMemory || m.Command.MaxMemoryMB != 128 || m.Exec == "" {
			t.Fatalf("bad resize command %+v", m)
		}
	}
}

func TestDelete(t *testing.T) {
	h := newHarness(t, DefaultCoreConfig())
	h.bringUp("d", 64, 1, 3)
	inst, err := h.c.PlanDelete("d")
	if err != nil {
		t.Fatal(err)
	}
	acts := h.do(h.c.Apply(inst, h.now))
	kills := find(acts, ActKill)
	if len(kills) != 2 {
		t.Fatalf("delete: want 2 kills, got %v", kinds(acts))
	}
	for i, k := range kills {
		h.do(h.c.Update(TaskUpdate{TaskID: k.TaskID, State: "TASK_KILLED"}, h.now))
		del := find(h.acts, ActDeleteInstance)
		if i == 0 && len(del) != 0 {
			t.Fatal("instance deleted before all members are gone")
		}
		if i == 1 && (len(del) != 1 || del[0].Inst.ProxyPort != 6100) {
			t.Fatalf("last member gone: want delete-instance with the port, got %v", kinds(h.acts))
		}
	}
	if _, ok := h.c.instances["d"]; ok {
		t.Fatal("instance still in the core")
	}
	// A late RUNNING from a deleted instance's task gets killed.
	acts = h.c.Update(TaskUpdate{TaskID: kills[0].TaskID, State: "TASK_RUNNING"}, h.now)
	if len(find(acts, ActKill)) != 1 {
		t.Fatalf("orphan running task must be killed, got %v", kinds(acts))
	}
}

func TestChooseSuccessor(t *testing.T) {
	now := t0
	cases := []struct {
		name  string
		cands []Candidate
		want  string
	}{
		{"highest offset wins", []Candidate{{TaskID: "a", Ready: true, LinkUp: true, ReplOffset: 10}, {TaskID: "b", Ready: true, LinkUp: true, ReplOffset: 20}}, "b"},
		{"tie goes to smallest id", []Candidate{{TaskID: "b", Ready: true, LinkUp: true, ReplOffset: 5}, {TaskID: "a", Ready: true, LinkUp: true, ReplOffset: 5}}, "a"},
		{"link down long ago excluded", []Candidate{{TaskID: "a", Ready: true, LinkUpAt: now.Add(-time.Minute), ReplOffset: 99}, {TaskID: "b", Ready: true, LinkUp: true, ReplOffset: 1}}, "b"},
		{"link just dropped still ok", []Candidate{{TaskID: "a", Ready: true, LinkUpAt: now.Add(-time.Second), ReplOffset: 99}}, "a"},
		{"not running excluded", []Candidate{{TaskID: "a", LinkUp: true, ReplOffset: 99}}, ""},
		{"streaming beats a higher offset fresh from a full sync", []Candidate{{TaskID: "a", Ready: true, LinkUp: true, Streaming: true, ReplOffset: 10}, {TaskID: "b", Ready: true, LinkUp: true, ReplOffset: 20}}, "a"},
		{"not streaming still taken when alone", []Candidate{{TaskID: "b", Ready: true, LinkUp: true, ReplOffset: 20}}, "b"},
		{"none", nil, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := ChooseSuccessor(tc.cands, now, 10*time.Second)
			if tc.want == "" {
				if ok {
					t.Fatalf("want none, got %s", got.TaskID)
				}
				return
			}
			if !ok || got.TaskID != tc.want {
				t.Fatalf("got %q (%v), want %q", got.TaskID, ok, tc.want)
			}
		})
	}
}

func TestFailover(t *testing.T) {
	causes := []struct {
		name   string
		detect func(h *harness, master *memberState)
		cause  string
	}{
		{"task failed", func(h *harness, m *memberState) {
			h.do(h.c.Update(TaskUpdate{TaskID: m.m.TaskID, State: "TASK_FAILED"}, h.now))
		}, "task TASK_FAILED"},
		{"agent unreachable", func(h *harness, m *memberState) {
			h.do(h.c.Update(TaskUpdate{TaskID: m.m.TaskID, State: "TASK_UNREACHABLE"}, h.now))
		}, "task TASK_UNREACHABLE"},
		{"ping timeout", func(h *harness, m *memberState) {
			for i := 0; i < 3; i++ {
				h.step(200 * time.Millisecond)
				h.do(h.c.Ping("f", m.m.TaskID, false, h.now))
			}
		}, "ping timeout (3 misses)"},
		{"stale stats", func(h *harness, m *memberState) {
			h.step(11 * time.Second)
			// Replicas keep reporting.
			is := h.c.instances["f"]
			for _, id := range is.memberIDs() {
				if id != m.m.TaskID {
					is.members[id].lastStats = h.now
					is.members[id].lastLinkUp = h.now
				}
			}
			h.do(h.c.Tick(h.now))
		}, "executor stats stale"},
	}
	for _, tc := range causes {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, DefaultCoreConfig())
			h.bringUp("f", 64, 2, 4)
			is := h.c.instances["f"]
			old := is.masterMember()
			// Replica offsets differ: the higher one must win.
			var best string
			for i, id := range is.memberIDs() {
				if id != old.m.TaskID {
					is.members[id].m.ReplOffset = int64(100 + i)
					best = id
				}
			}
			tc.detect(h, old)
			acts := h.acts
			var promote *Action
			for i, a := range acts {
				if a.Kind == ActMessage && a.Command.Op == execproto.OpPromote {
					promote = &acts[i]
				}
			}
			if promote == nil || promote.Command.TaskID != best {
				t.Fatalf("want promote of %s, got %+v", best, acts)
			}
			if tc.name == "ping timeout" || tc.name == "stale stats" {
				if k := find(acts, ActKill); len(k) != 1 || k[0].TaskID != old.m.TaskID {
					t.Fatalf("a hung master must be killed: %v", kinds(acts))
				}
			}
			if is.inst.State != model.StateDegraded || !strings.Contains(is.inst.Reason, tc.cause) {
				t.Fatalf("during failover: %s %q", is.inst.State, is.inst.Reason)
			}
			h.step(50 * time.Millisecond)
			acts = h.do(h.c.Message(execproto.ExecutorMessage{Kind: execproto.KindReply, Reply: &execproto.Reply{
				ID: promote.Command.ID, TaskID: best, Op: execproto.OpPromote, OK: true, ReplOffset: 200}}, h.now))
			sm := find(acts, ActSetMaster)
			newM := is.members[best]
			if len(sm) != 1 || sm[0].Addr != newM.m.Addr() || is.inst.MasterTask != best {
				t.Fatalf("after promote: want /master = %s, got %+v", newM.m.Addr(), acts)
			}
			if indexOf(kinds(acts), ActSetMaster) > indexOf(kinds(acts), ActMessage) && indexOf(kinds(acts), ActMessage) >= 0 {
				// The runner orders store writes first anyway; check the follow exists.
			}
			var follows int
			for _, a := range find(acts, ActMessage) {
				if a.Command.Op == execproto.OpFollow && a.Command.MasterPort == newM.m.Port {
					follows++
				}
			}
			if follows != 1 {
				t.Fatalf("want the other replica told to follow, got %d: %+v", follows, acts)
			}
			f := find(acts, ActAddFailover)
			if len(f) != 1 || f[0].Failover.NewMaster != best || f[0].Failover.Cause != tc.cause || is.inst.Failovers != 1 {
				t.Fatalf("failover not recorded right: %+v", f)
			}
			if f[0].Failover.TotalMS != 50 {
				t.Fatalf("total_ms %d, want 50", f[0].Failover.TotalMS)
			}
			// A replacement replica is wanted.
			if len(find(acts, ActRevive)) != 1 {
				t.Fatalf("want revive for a replacement replica: %v", kinds(acts))
			}
			reps := launched(h.do(h.c.Offers(offers(4, 4096), h.now)))
			if len(reps) != 1 || reps[0].Data.MasterPort != newM.m.Port {
				t.Fatalf("want one replacement replica following the new master, got %+v", reps)
			}
			// The old master returns (TASK_LOST was not final): it is killed.
			acts = h.c.Update(TaskUpdate{TaskID: old.m.TaskID, State: "TASK_RUNNING"}, h.now)
			if k := find(acts, ActKill); len(k) != 1 || k[0].TaskID != old.m.TaskID {
				t.Fatalf("returning old master must be killed, got %v", kinds(acts))
			}
			if is.inst.MasterTask != best {
				t.Fatal("returning old master changed the master")
			}
		})
	}
}

func TestFailoverNoReplica(t *testing.T) {
	h := newHarness(t, DefaultCoreConfig())
	h.bringUp("solo", 64, 0, 3)
	is := h.c.instances["solo"]
	old := is.inst.MasterTask
	acts := h.do(h.c.Update(TaskUpdate{TaskID: old, State: "TASK_FAILED"}, h.now))
	if is.inst.State != model.StateDegraded || !strings.Contains(is.inst.Reason, "no replica could take over") ||
		!strings.Contains(is.inst.Reason, "data is lost") {
		t.Fatalf("got %s %q", is.inst.State, is.inst.Reason)
	}
	if f := find(acts, ActAddFailover); len(f) != 1 || f[0].Failover.Error == "" {
		t.Fatalf("want a failed failover recorded: %+v", acts)
	}
	tasks := launched(h.do(h.c.Offers(offers(3, 4096), h.now)))
	if len(tasks) != 1 || tasks[0].Data.Role != model.RoleMaster {
		t.Fatalf("want a new master launched, got %+v", tasks)
	}
	h.running(tasks)
	if is.inst.State != model.StateRunning {
		t.Fatalf("new master running: %s %q", is.inst.State, is.inst.Reason)
	}
}

func TestPromoteFailsTriesNext(t *testing.T) {
	h := newHarness(t, DefaultCoreConfig())
	h.bringUp("p", 64, 2, 4)
	is := h.c.instances["p"]
	acts := h.do(h.c.Update(TaskUpdate{TaskID: is.inst.MasterTask, State: "TASK_FAILED"}, h.now))
	first := find(acts, ActMessage)[0]
	acts = h.do(h.c.Message(execproto.ExecutorMessage{Kind: execproto.KindReply, Reply: &execproto.Reply{
		ID: first.Command.ID, TaskID: first.Command.TaskID, Op: execproto.OpPromote, OK: false, Error: "boom"}}, h.now))
	msgs := find(acts, ActMessage)
	if len(msgs) != 1 || msgs[0].Command.Op != execproto.OpPromote || msgs[0].Command.TaskID == first.Command.TaskID {
		t.Fatalf("want promote of the other replica, got %+v", acts)
	}
	// It times out too: no replica left, a new master is started.
	h.step(6 * time.Second)
	h.do(h.c.Tick(h.now))
	if is.inst.MasterTask != "" || len(h.c.wants(h.now)) != 1 || h.c.wants(h.now)[0].role != model.RoleMaster {
		t.Fatalf("want a new master wanted after all promotes failed: %+v", h.acts)
	}
}

func TestSwitchover(t *testing.T) {
	h := newHarness(t, DefaultCoreConfig())
	h.bringUp("sw", 64, 2, 4)
	is := h.c.instances["sw"]
	old := is.inst.MasterTask
	// The replica with the highest offset is the target.
	var best, other string
	for i, id := range is.memberIDs() {
		if id != old {
			is.members[id].m.ReplOffset = int64(100 + i)
			other, best = best, id
		}
	}
	acts, err := h.c.Switchover("sw", h.now)
	if err != nil {
		t.Fatal(err)
	}
	msgs := find(acts, ActMessage)
	target := is.members[best]
	if len(msgs) != 1 || msgs[0].Command.Op != execproto.OpFailoverTo || msgs[0].Command.TaskID != old ||
		msgs[0].Command.MasterHost != target.m.Host || msgs[0].Command.MasterPort != target.m.Port || msgs[0].Command.TimeoutMS != 10000 {
		t.Fatalf("want failover-to %s sent to the master, got %+v", target.m.Addr(), acts)
	}
	if len(find(acts, ActKill)) != 0 || is.inst.State != model.StateDegraded || !strings.Contains(is.inst.Reason, "switching over") {
		t.Fatalf("switchover kills nothing and says what it does: %v %q", kinds(acts), is.inst.Reason)
	}
	if _, err := h.c.Switchover("sw", h.now); err == nil {
		t.Fatal("second switchover accepted while one runs")
	}
	h.step(300 * time.Millisecond)
	acts = h.do(h.c.Message(execproto.ExecutorMessage{Kind: execproto.KindReply, Reply: &execproto.Reply{
		ID: msgs[0].Command.ID, TaskID: old, Op: execproto.OpFailoverTo, OK: true, ReplOffset: 500}}, h.now))
	if is.inst.MasterTask != best || len(find(acts, ActKill)) != 0 {
		t.Fatalf("switchover: master %s, acts %v", is.inst.MasterTask, kinds(acts))
	}
	if sm := find(acts, ActSetMaster); len(sm) != 1 || sm[0].Addr != target.m.Addr() {
		t.Fatalf("want /master = %s, got %+v", target.m.Addr(), acts)
	}
	var follows []string
	for _, a := range find(acts, ActMessage) {
		if a.Command.Op == execproto.OpFollow {
			follows = append(follows, a.Command.TaskID)
		}
	}
	// The old master is already a replica of the new one (FAILOVER did it);
	// only the other replica is told to follow.
	if len(follows) != 1 || follows[0] != other || is.members[old].m.Role != model.RoleReplica {
		t.Fatalf("follows %v, old master role %s", follows, is.members[old].m.Role)
	}
	if f := find(acts, ActAddFailover); len(f) != 1 || f[0].Failover.LostBytes != 0 || f[0].Failover.Cause != "switchover" || f[0].Failover.TotalMS != 300 {
		t.Fatalf("switchover record: %+v", f)
	}
	if is.inst.State != model.StateDegraded && is.inst.State != model.StateRunning {
		t.Fatalf("state %s", is.inst.State)
	}
	if _, err := h.c.Switchover("nope", h.now); err == nil {
		t.Fatal("switchover of unknown instance accepted")
	}
}

func TestSwitchoverRefused(t *testing.T) {
	h := newHarness(t, DefaultCoreConfig())
	h.bringUp("sr", 64, 1, 3)
	is := h.c.instances["sr"]
	old := is.inst.MasterTask
	acts, _ := h.c.Switchover("sr", h.now)
	cmd := find(acts, ActMessage)[0].Command
	acts = h.do(h.c.Message(execproto.ExecutorMessage{Kind: execproto.KindReply, Reply: &execproto.Reply{
		ID: cmd.ID, TaskID: old, Op: execproto.OpFailoverTo, OK: false, Error: "replica did not catch up"}}, h.now))
	f := find(acts, ActAddFailover)
	if is.inst.MasterTask != old || is.fo != nil || len(f) != 1 || !strings.Contains(f[0].Failover.Error, "did not catch up") {
		t.Fatalf("a refused switchover changes nothing but is recorded: master %s %+v", is.inst.MasterTask, acts)
	}
	if len(find(acts, ActSetMaster)) != 0 || len(find(acts, ActKill)) != 0 {
		t.Fatalf("refused switchover acted: %v", kinds(acts))
	}
	// No replica in sync: refused at once.
	h2 := newHarness(t, DefaultCoreConfig())
	h2.bringUp("solo", 64, 0, 1)
	if _, err := h2.c.Switchover("solo", h2.now); err == nil || !strings.Contains(err.Error(), "no replica in sync") {
		t.Fatalf("switchover without replica: %v", err)
	}
}

func TestSwitchoverAnswerLost(t *testing.T) {
	// The answer of a switchover never comes; Redis did switch. The
	// scheduler gives up waiting, then the roles the executors report make
	// it adopt the new master instead of demoting it.
	h := newHarness(t, DefaultCoreConfig())
	h.bringUp("lost", 64, 1, 3)
	is := h.c.instances["lost"]
	old := is.inst.MasterTask
	acts, _ := h.c.Switchover("lost", h.now)
	_ = acts
	var rep string
	for _, id := range is.memberIDs() {
		if id != old {
			rep = id
		}
	}
	h.step(16 * time.Second)
	h.do(h.c.Tick(h.now))
	if is.fo != nil || is.inst.MasterTask != old {
		t.Fatalf("after the timeout the switchover is given up: fo %v master %s", is.fo, is.inst.MasterTask)
	}
	acts = h.do(h.c.Message(execproto.ExecutorMessage{Kind: execproto.KindStats, Stats: []execproto.MemberStats{
		{TaskID: old, Role: model.RoleReplica, LinkUp: true}, {TaskID: rep, Role: model.RoleMaster}}}, h.now))
	if is.inst.MasterTask != rep {
		t.Fatalf("want %s adopted as master, got %s: %v", rep, is.inst.MasterTask, kinds(acts))
	}
	if sm := find(acts, ActSetMaster); len(sm) != 1 || sm[0].Addr != is.members[rep].m.Addr() {
		t.Fatalf("want /master moved, got %+v", acts)
	}
	for _, a := range find(acts, ActMessage) {
		if a.Command.TaskID == rep {
			t.Fatalf("the real master was told to %s", a.Command.Op)
		}
	}
}

func TestRecovery(t *testing.T) {
	// A restarted scheduler loads the store, reconciles, and decides from
	// the answers.
	members := []model.Member{
		{TaskID: "r.m", AgentID: "M-S0", ExecutorID: "mrr-r-S0", Host: "127.0.0.2", Port: 31000, Role: model.RoleMaster, State: "TASK_RUNNING"},
		{TaskID: "r.a", AgentID: "M-S1", ExecutorID: "mrr-r-S1", Host: "127.0.0.3", Port: 31000, Role: model.RoleReplica, State: "TASK_RUNNING"},
		{TaskID: "r.b", AgentID: "M-S2", ExecutorID: "mrr-r-S2", Host: "127.0.0.4", Port: 31000, Role: model.RoleReplica, State: "TASK_STAGING"},
	}
	inst := model.Instance{Spec: model.Spec{Name: "r", MemoryMB: 64, Replicas: 2}, State: model.StateRunning, MasterTask: "r.m", ProxyPort: 6101}
	cases := []struct {
		name    string
		answers map[string]string
		check   func(t *testing.T, h *harness)
	}{
		{"all running: nothing to do", map[string]string{"r.m": "TASK_RUNNING", "r.a": "TASK_RUNNING", "r.b": "TASK_RUNNING"}, func(t *testing.T, h *harness) {
			for _, a := range h.acts {
				if a.Kind == ActLaunch || a.Kind == ActKill || a.Kind == ActMessage || a.Kind == ActSetMaster {
					t.Fatalf("unexpected %v", a.Kind)
				}
			}
		}},
		{"launch never happened: replaced", map[string]string{"r.m": "TASK_RUNNING", "r.a": "TASK_RUNNING", "r.b": "TASK_GONE"}, func(t *testing.T, h *harness) {
			// It never ran: retried after a short wait.
			if len(find(h.acts, ActDeleteMember)) != 1 || len(h.c.wants(h.now)) != 0 || len(h.c.wants(h.now.Add(time.Second))) != 1 {
				t.Fatalf("want the gone member removed and a replica wanted: %v", kinds(h.acts))
			}
		}},
		{"master gone while we were down: failover", map[string]string{"r.m": "TASK_GONE", "r.a": "TASK_RUNNING", "r.b": "TASK_RUNNING"}, func(t *testing.T, h *harness) {
			is := h.c.instances["r"]
			if is.fo == nil || is.fo.candidate == "" {
				t.Fatalf("want a failover to a replica, reason %q", is.inst.Reason)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, DefaultCoreConfig())
			h.c.Load(inst, members, "127.0.0.2:31000", nil, h.now)
			acts := h.c.Subscribed(h.now)
			rec := find(acts, ActReconcile)
			if len(rec) != 1 || len(rec[0].Reconcile) != 3 {
				t.Fatalf("want one reconcile of 3 tasks, got %+v", rec)
			}
			var all []Action
			for _, id := range []string{"r.m", "r.a", "r.b"} {
				m := members[indexMember(members, id)]
				u := TaskUpdate{TaskID: id, AgentID: m.AgentID, State: tc.answers[id]}
				if u.State == "TASK_RUNNING" {
					u.Data = &execproto.StatusData{Host: m.Host, Port: m.Port}
				}
				all = append(all, h.c.Update(u, h.now)...)
			}
			h.acts = all
			tc.check(t, h)
		})
	}
}

func indexMember(ms []model.Member, id string) int {
	for i, m := range ms {
		if m.TaskID == id {
			return i
		}
	}
	return -1
}

func TestExecutorID(t *testing.T) {
	if got := ExecutorID("cache", "5c1c-0d7e-S3", ""); got != "mrr-cache-S3" {
		t.Fatalf("got %s", got)
	}
	if got := ExecutorID("cache", "5c1c-0d7e-S3", "a1b2"); got != "mrr-cache-S3-a1b2" {
		t.Fatalf("got %s", got)
	}
}

func TestLaunchFailureBackoff(t *testing.T) {
	h := newHarness(t, DefaultCoreConfig())
	h.create("bo", 64, 0)
	for i, wait := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second} {
		tasks := launched(h.do(h.c.Offers(offers(1, 4096), h.now)))
		if len(tasks) != 1 {
			t.Fatalf("attempt %d: want a launch, got %v", i, kinds(h.acts))
		}
		h.do(h.c.Update(TaskUpdate{TaskID: tasks[0].TaskID, State: "TASK_ERROR", Message: "bad executor"}, h.now))
		is := h.c.instances["bo"]
		if !strings.Contains(is.inst.Reason, "bad executor") {
			t.Fatalf("reason %q must tell why", is.inst.Reason)
		}
		if n := len(launched(h.c.Offers(offers(1, 4096), h.now.Add(wait-time.Millisecond)))); n != 0 {
			t.Fatalf("attempt %d: relaunched before %s", i, wait)
		}
		h.step(wait)
	}
}

func TestRogueMasterIsToldToFollow(t *testing.T) {
	// After a restart a replica reports itself master (it was promoted
	// just before the crash, but the record still names the old master).
	h := newHarness(t, DefaultCoreConfig())
	h.bringUp("rg", 64, 1, 3)
	is := h.c.instances["rg"]
	var rep string
	for _, id := range is.memberIDs() {
		if id != is.inst.MasterTask {
			rep = id
		}
	}
	h.step(5 * time.Second)
	acts := h.do(h.c.Message(execproto.ExecutorMessage{Kind: execproto.KindStats, Stats: []execproto.MemberStats{
		{TaskID: rep, Role: model.RoleMaster, ReplOffset: 10}, {TaskID: is.inst.MasterTask, Role: model.RoleMaster, ReplOffset: 10}}}, h.now))
	msgs := find(acts, ActMessage)
	if len(msgs) != 1 || msgs[0].Command.TaskID != rep || msgs[0].Command.Op != execproto.OpFollow {
		t.Fatalf("want the rogue master told to follow, got %+v", acts)
	}
	// Not again at once.
	h.step(time.Second)
	acts = h.do(h.c.Message(execproto.ExecutorMessage{Kind: execproto.KindStats, Stats: []execproto.MemberStats{{TaskID: rep, Role: model.RoleMaster}}}, h.now))
	if len(find(acts, ActMessage)) != 0 {
		t.Fatalf("follow resent within %s", followRetry)
	}
}

func TestKillRepeatedUntilConfirmed(t *testing.T) {
	h := newHarness(t, DefaultCoreConfig())
	h.bringUp("k", 64, 1, 3)
	is := h.c.instances["k"]
	old := is.inst.MasterTask
	h.do(h.c.Update(TaskUpdate{TaskID: old, State: "TASK_UNREACHABLE"}, h.now))
	// The lost master comes back: killed, and the kill repeated until it dies.
	acts := h.c.Update(TaskUpdate{TaskID: old, State: "TASK_RUNNING"}, h.now)
	if len(find(acts, ActKill)) != 1 {
		t.Fatalf("want a kill, got %v", kinds(acts))
	}
	var sent []time.Duration
	start := h.now
	for i := 0; i < 100; i++ {
		h.step(100 * time.Millisecond)
		if k := find(h.c.Tick(h.now), ActKill); len(k) == 1 && k[0].TaskID == old {
			sent = append(sent, h.now.Sub(start))
		}
	}
	if len(sent) != 2 || sent[0] != 3*time.Second || sent[1] != 9*time.Second {
		t.Fatalf("kill repeats at %v, want [3s 9s]", sent)
	}
	h.c.Update(TaskUpdate{TaskID: old, State: "TASK_KILLED"}, h.now)
	h.step(time.Minute)
	if k := find(h.c.Tick(h.now), ActKill); len(k) != 0 {
		t.Fatalf("kill repeated after the task died: %+v", k)
	}
}

func TestSlowStartReconciled(t *testing.T) {
	h := newHarness(t, DefaultCoreConfig())
	h.create("slow", 64, 0)
	tasks := launched(h.do(h.c.Offers(offers(1, 4096), h.now)))
	h.step(10 * time.Second)
	if r := find(h.c.Tick(h.now), ActReconcile); len(r) != 0 {
		t.Fatalf("reconciled too early: %+v", r)
	}
	h.step(25 * time.Second)
	r := find(h.c.Tick(h.now), ActReconcile)
	if len(r) != 1 || len(r[0].Reconcile) != 1 || r[0].Reconcile[0].TaskID != tasks[0].TaskID || r[0].All {
		t.Fatalf("want the staging task reconciled, got %+v", r)
	}
	h.step(time.Second)
	if r := find(h.c.Tick(h.now), ActReconcile); len(r) != 0 {
		t.Fatalf("reconciled again at once: %+v", r)
	}
	// Mesos never heard of it: replaced after the retry wait.
	h.do(h.c.Update(TaskUpdate{TaskID: tasks[0].TaskID, State: "TASK_GONE", Reason: "REASON_RECONCILIATION"}, h.now))
	if len(h.c.wants(h.now.Add(2*time.Second))) != 1 {
		t.Fatal("a lost launch must be replaced")
	}
}

// The /replicas node follows the in-sync replicas: written when the set
// changes, never for an unchanged set, without the master.
func TestReplicasNodeFollowsInSyncReplicas(t *testing.T) {
	h := newHarness(t, DefaultCoreConfig())
	h.bringUp("cache", 256, 2, 3)
	is := h.c.instances["cache"]
	if is.replicasWritten {
		t.Fatal("an instance that does not read from replicas got a /replicas node")
	}
	is.inst.ReadFromReplicas = true
	h.stats("cache", 100)
	var reps []string
	for _, id := range is.memberIDs() {
		if id != is.inst.MasterTask {
			reps = append(reps, is.members[id].m.Addr())
		}
	}
	if len(reps) != 2 || strings.Join(is.replicas, ",") != strings.Join(reps, ",") || !is.replicasWritten {
		t.Fatalf("running: replicas node %v (written %v), want %v", is.replicas, is.replicasWritten, reps)
	}

	h.stats("cache", 200) // nothing changed
	if sr := find(h.acts, ActSetReplicas); len(sr) != 0 {
		t.Fatalf("unchanged set written again: %+v", sr)
	}

	// A replica fails: the node loses it at once.
	var failed string
	for _, id := range is.memberIDs() {
		if id != is.inst.MasterTask {
			failed = id
			break
		}
	}
	failedAddr := is.members[failed].m.Addr()
	h.do(h.c.Update(TaskUpdate{TaskID: failed, State: "TASK_FAILED"}, h.now))
	sr := find(h.acts, ActSetReplicas)
	if len(sr) != 1 || len(sr[0].Addrs) != 1 || sr[0].Addrs[0] == failedAddr {
		t.Fatalf("replica failed: want the other replica alone, got %+v", sr)
	}
	if ks := kinds(h.acts); indexOf(ks, ActSetReplicas) > indexOf(ks, ActLaunch) && indexOf(ks, ActLaunch) >= 0 {
		t.Fatalf("store writes must precede mesos calls: %v", ks)
	}

	// The master fails: the promoted replica leaves the set once it is master.
	h.do(h.c.Update(TaskUpdate{TaskID: is.inst.MasterTask, State: "TASK_FAILED"}, h.now))
	for _, a := range find(h.acts, ActMessage) {
		if a.Command.Op == execproto.OpPromote {
			h.do(h.c.Message(execproto.ExecutorMessage{Kind: execproto.KindReply, Reply: &execproto.Reply{
				ID: a.Command.ID, TaskID: a.Command.TaskID, Op: execproto.OpPromote, OK: true}}, h.now))
		}
	}
	if is.master == "" || slices.Contains(is.replicas, is.master) {
		t.Fatalf("after failover: master %q, replicas node %v: the master must not be listed", is.master, is.replicas)
	}
}

func TestTrackStreaming(t *testing.T) {
	rep := func(offset int64, up bool) execproto.MemberStats {
		return execproto.MemberStats{Role: model.RoleReplica, LinkUp: up, ReplOffset: offset}
	}
	cases := []struct {
		name    string
		reports []execproto.MemberStats
		want    bool
	}{
		{"fresh from a sync", []execproto.MemberStats{rep(500, true)}, false},
		{"offset unchanged", []execproto.MemberStats{rep(500, true), rep(500, true)}, false},
		{"offset grew", []execproto.MemberStats{rep(500, true), rep(520, true)}, true},
		{"stays streaming", []execproto.MemberStats{rep(500, true), rep(520, true), rep(520, true)}, true},
		{"link down resets", []execproto.MemberStats{rep(500, true), rep(520, true), rep(520, false)}, false},
		{"synced again", []execproto.MemberStats{rep(500, true), rep(520, true), rep(0, false), rep(900, true)}, false},
		{"master reports never stream", []execproto.MemberStats{{Role: model.RoleMaster, ReplOffset: 1}, {Role: model.RoleMaster, ReplOffset: 9}}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var ms memberState
			for _, r := range tc.reports {
				ms.trackStreaming(r)
			}
			if ms.streaming != tc.want {
				t.Fatalf("streaming = %v, want %v", ms.streaming, tc.want)
			}
		})
	}
}
