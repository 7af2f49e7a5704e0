package sched

import (
	"fmt"
	"sort"
	"time"

	"github.com/mrredis/mrredis/internal/execproto"
	"github.com/mrredis/mrredis/internal/model"
)

// want is one member an instance needs and that could be placed now.
type want struct {
	is   *instState
	role model.Role
}

// wants lists the members to place, oldest instance first, a master before
// replicas. Replicas are only wanted once the master runs, because they are
// launched pointing at it.
func (c *Core) wants(now time.Time) []want {
	var out []want
	for _, is := range c.sorted() {
		if is.inst.State == model.StateDeleting || is.fo != nil || now.Before(is.retryAt) {
			continue
		}
		master := is.masterMember()
		if master == nil {
			if is.inst.MasterTask == "" {
				out = append(out, want{is: is, role: model.RoleMaster})
			}
			continue
		}
		if !master.ready() {
			continue
		}
		for i := is.liveReplicas(); i < is.inst.Replicas; i++ {
			out = append(out, want{is: is, role: model.RoleReplica})
		}
	}
	return out
}

func (is *instState) liveReplicas() int {
	n := 0
	for id, ms := range is.members {
		if id != is.inst.MasterTask && ms.live() {
			n++
		}
	}
	return n
}

// inSyncReplicas returns the replicas linked to the master, in no order.
func (is *instState) inSyncReplicas() []*memberState {
	var out []*memberState
	for id, ms := range is.members {
		if id != is.inst.MasterTask && ms.inSync() {
			out = append(out, ms)
		}
	}
	return out
}

// offerLeft is what remains of an offer while placing.
type offerLeft struct {
	Offer
	cpus, mem float64
	ports     []PortRange
	execs     map[string]bool
	tasks     []LaunchTask
}

func (o *offerLeft) takePort() (int, bool) {
	for i, r := range o.ports {
		if r.Begin <= r.End {
			p := r.Begin
			o.ports[i].Begin++
			return p, true
		}
	}
	return 0, false
}

func (o *offerLeft) hasPort() bool {
	for _, r := range o.ports {
		if r.Begin <= r.End {
			return true
		}
	}
	return false
}

// place assigns wanted members to offers: feasibility (cpus, mem, a port,
// anti-affinity) then the offer with the most memory left, which spreads
// members. It records a pending reason for members that fit nowhere.
func (c *Core) place(offers []Offer, now time.Time) []Action {
	left := make([]*offerLeft, 0, len(offers))
	for _, o := range offers {
		ol := &offerLeft{Offer: o, cpus: o.CPUs, mem: o.MemMB, execs: map[string]bool{}}
		ol.ports = append(ol.ports, o.Ports...)
		for _, e := range o.ExecutorIDs {
			ol.execs[e] = true
		}
		left = append(left, ol)
	}
	wants := c.wants(now)
	for _, is := range c.instances {
		is.pending = ""
	}
	unmet := 0
	for _, w := range wants {
		is := w.is
		if is.pending != "" {
			unmet++ // one reason per instance is enough: the rest wait too
			continue
		}
		hosts := map[string]bool{}
		for _, ms := range is.members {
			if ms.live() {
				hosts[ms.m.Host] = true
			}
		}
		memNeed := float64(is.inst.MemoryMB) + c.cfg.MemberMemExtra
		var best *offerLeft
		var why []string
		for _, o := range left {
			execID := ExecutorID(is.inst.Name, o.AgentID, c.cfg.ExecVersion)
			cpus, mem := c.cfg.MemberCPUs, memNeed
			if !o.execs[execID] {
				cpus += c.cfg.ExecCPUs
				mem += c.cfg.ExecMemMB
			}
			switch {
			case c.cfg.AntiAffinity && hosts[o.Hostname]:
				why = append(why, "no agent without a member of this instance (anti-affinity)")
			case o.mem < mem:
				why = append(why, fmt.Sprintf("no agent with %d MB free", int(mem)))
			case o.cpus < cpus:
				why = append(why, fmt.Sprintf("no agent with %.2f cpus free", cpus))
			case !o.hasPort():
				why = append(why, "no agent with a free port")
			default:
				if best == nil || o.mem > best.mem || (o.mem == best.mem && o.Hostname < best.Hostname) {
					best = o
				}
			}
		}
		if best == nil {
			is.pending = "waiting: " + pendingReason(why)
			unmet++
			continue
		}
		execID := ExecutorID(is.inst.Name, best.AgentID, c.cfg.ExecVersion)
		newExec := !best.execs[execID]
		cpus, mem := c.cfg.MemberCPUs, memNeed
		if newExec {
			cpus += c.cfg.ExecCPUs
			mem += c.cfg.ExecMemMB
			best.execs[execID] = true
		}
		port, _ := best.takePort()
		best.cpus -= cpus
		best.mem -= mem
		task := LaunchTask{
			Instance: is.inst.Name, TaskID: c.newTaskID(is.inst.Name, now), ExecutorID: execID, NewExec: newExec,
			CPUs: c.cfg.MemberCPUs, MemMB: memNeed,
			Data: execproto.TaskData{
				Instance: is.inst.Name, Role: w.role, MaxMemoryMB: is.inst.MemoryMB, Password: is.inst.Password,
				AdminPass: is.inst.AdminPassword, Persistence: is.inst.Persistence, Port: port,
			},
		}
		ms := &memberState{
			m: model.Member{
				TaskID: task.TaskID, AgentID: best.AgentID, ExecutorID: execID, Host: best.Hostname, Port: port,
				Role: w.role, State: "TASK_STAGING",
			},
			launched: now, lastStats: now, lastPingOK: now,
		}
		if w.role == model.RoleReplica {
			master := is.masterMember()
			task.Data.MasterHost, task.Data.MasterPort = master.m.Host, master.m.Port
			ms.follows = master.m.Addr()
		} else {
			is.inst.MasterTask = task.TaskID
			is.masterChanged = now
		}
		is.members[task.TaskID] = ms
		best.tasks = append(best.tasks, task)
	}
	refuse := c.cfg.DeclineLong
	if unmet > 0 {
		refuse = c.cfg.DeclineShort
	}
	var acts, launches []Action
	var declines []string
	for _, o := range left {
		if len(o.tasks) == 0 {
			declines = append(declines, o.ID)
			continue
		}
		launches = append(launches, Action{Kind: ActLaunch, OfferID: o.ID, AgentID: o.AgentID, Tasks: o.tasks, Refuse: refuse})
	}
	// Store the new members (and the instance's master task) before launching.
	for _, a := range launches {
		for _, t := range a.Tasks {
			is := c.instances[t.Instance]
			ms := is.members[t.TaskID]
			ms.stored, ms.written = true, ms.m
			acts = append(acts, Action{Kind: ActPutMember, Instance: t.Instance, Member: ms.m})
		}
	}
	acts = append(acts, c.writeInstances(now)...)
	acts = append(acts, launches...)
	if len(declines) > 0 {
		acts = append(acts, Action{Kind: ActDecline, OfferIDs: declines, Refuse: refuse})
	}
	return acts
}

// pendingReason picks the most telling reason among the offers' refusals.
func pendingReason(why []string) string {
	if len(why) == 0 {
		return "waiting for offers"
	}
	// Report the refusal most agents gave.
	count := map[string]int{}
	for _, w := range why {
		count[w]++
	}
	keys := make([]string, 0, len(count))
	for k := range count {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if count[keys[i]] != count[keys[j]] {
			return count[keys[i]] > count[keys[j]]
		}
		return keys[i] < keys[j]
	})
	return keys[0]
}
