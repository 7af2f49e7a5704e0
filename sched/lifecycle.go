package sched

import (
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/mrredis/mrredis/internal/execproto"
	"github.com/mrredis/mrredis/internal/model"
)

// level is the reconciliation pass run after every event: for each
// instance it compares the spec with the members and emits what closes the
// gap, then stores what changed, then decides revive/suppress.
func (c *Core) level(now time.Time) []Action {
	var acts []Action
	for _, is := range c.sorted() {
		acts = append(acts, c.levelInstance(is, now)...)
	}
	acts = append(acts, c.writeMembers()...)
	acts = append(acts, c.writeReplicas()...)
	acts = append(acts, c.writeInstances(now)...)
	wanting := len(c.wants(now)) > 0
	switch {
	case wanting && !c.wanting:
		acts = append(acts, Action{Kind: ActRevive})
	case !wanting && c.wanting:
		acts = append(acts, Action{Kind: ActSuppress})
	}
	c.wanting = wanting
	return acts
}

func (c *Core) levelInstance(is *instState, now time.Time) []Action {
	var acts []Action
	name := is.inst.Name
	if is.inst.State == model.StateDeleting {
		is.fo = nil
		for _, id := range is.memberIDs() {
			ms := is.members[id]
			if !ms.killing {
				ms.killing = true
				acts = append(acts, c.kill(name, id, ms.m.AgentID, now))
			}
		}
		if len(is.members) == 0 {
			acts = append(acts, Action{Kind: ActDeleteInstance, Instance: name, Inst: is.inst})
			delete(c.instances, name)
			return acts
		}
		is.inst.Reason = fmt.Sprintf("stopping %d members", len(is.members))
		return acts
	}

	// A switchover whose replica went away is given up; if the master
	// went away, the failover below takes over.
	if fo := is.fo; fo != nil && fo.switchover {
		if cand := is.members[fo.candidate]; cand == nil || !cand.live() {
			acts = append(acts, c.abortSwitchover(is, "the replica went away during the switchover", now)...)
		} else if old := is.members[fo.oldTask]; old == nil || !old.live() {
			is.fo = nil
		}
	}

	if is.fo == nil {
		acts = append(acts, c.adoptReportedMaster(is, now)...)
	}

	// The master is gone but no failover runs: decide one (also after a restart).
	if is.fo == nil && is.inst.MasterTask != "" && is.masterMember() == nil {
		acts = append(acts, c.startFailover(is, "master task gone", now)...)
	}

	master := is.masterMember()
	if is.fo == nil && master != nil && master.ready() {
		if master.m.Role != model.RoleMaster {
			master.m.Role = model.RoleMaster
		}
		if addr := master.m.Addr(); is.master != addr {
			is.master = addr
			acts = append(acts, Action{Kind: ActSetMaster, Instance: name, Addr: addr})
		}
		// Replicas follow the current master.
		for _, id := range is.memberIDs() {
			ms := is.members[id]
			if id == is.inst.MasterTask || !ms.live() {
				continue
			}
			if ms.m.Role != model.RoleReplica {
				ms.m.Role = model.RoleReplica
			}
			if ms.ready() && ms.follows != is.master {
				ms.follows = is.master
				ms.followSent = now
				acts = append(acts, c.command(is, ms, execproto.Command{Op: execproto.OpFollow, MasterHost: master.m.Host, MasterPort: master.m.Port}))
			}
		}
		// Scale down: stop the replicas least worth keeping.
		if extra := is.liveReplicas() - is.inst.Replicas; extra > 0 {
			for _, id := range scaleDownVictims(is, extra) {
				ms := is.members[id]
				ms.killing = true
				acts = append(acts, c.kill(name, id, ms.m.AgentID, now))
			}
		}
	}
	c.setState(is)
	return acts
}

// scaleDownVictims picks n live replicas to stop: those not running first,
// then those out of sync, then the lowest offset, then the newest.
func scaleDownVictims(is *instState, n int) []string {
	var reps []*memberState
	for id, ms := range is.members {
		if id != is.inst.MasterTask && ms.live() {
			reps = append(reps, ms)
		}
	}
	sort.Slice(reps, func(i, j int) bool {
		a, b := reps[i], reps[j]
		if a.ready() != b.ready() {
			return !a.ready()
		}
		if a.inSync() != b.inSync() {
			return !a.inSync()
		}
		if a.m.ReplOffset != b.m.ReplOffset {
			return a.m.ReplOffset < b.m.ReplOffset
		}
		return a.m.TaskID > b.m.TaskID
	})
	var out []string
	for i := 0; i < n && i < len(reps); i++ {
		out = append(out, reps[i].m.TaskID)
	}
	return out
}

// setState derives the lifecycle state and its reason from the members:
// RUNNING when the master runs and every wanted replica is linked to it;
// otherwise CREATING until the instance first ran, DEGRADED after.
func (c *Core) setState(is *instState) {
	master := is.masterMember()
	inSync, live := len(is.inSyncReplicas()), is.liveReplicas()
	var reason string
	pending := is.pending
	if is.launchError != "" {
		pending = "waiting: " + is.launchError
	}
	switch {
	case is.fo != nil && is.fo.switchover:
		reason = fmt.Sprintf("switching over to %s", is.fo.candidate)
	case is.fo != nil:
		reason = fmt.Sprintf("master lost (%s): promoting replica %s", is.fo.cause, is.fo.candidate)
	case master == nil || !master.ready():
		switch {
		case is.note != "":
			reason = is.note
		case pending != "":
			reason = pending
		case master == nil:
			reason = "waiting for offers"
		default:
			reason = "starting master"
		}
	case inSync >= is.inst.Replicas && live == is.inst.Replicas && is.master == master.m.Addr():
		reason = ""
	case pending != "":
		reason = fmt.Sprintf("%d of %d replicas in sync; %s", inSync, is.inst.Replicas, pending)
	default:
		reason = fmt.Sprintf("%d of %d replicas in sync", inSync, is.inst.Replicas)
	}
	if reason == "" {
		is.inst.State, is.inst.Reason, is.note = model.StateRunning, "", ""
		return
	}
	if is.inst.State == model.StateCreating {
		is.inst.Reason = reason
		return
	}
	is.inst.State, is.inst.Reason = model.StateDegraded, reason
}

// writeMembers stores members whose record changed.
func (c *Core) writeMembers() []Action {
	var acts []Action
	for _, is := range c.sorted() {
		for _, id := range is.memberIDs() {
			ms := is.members[id]
			if !ms.stored || !memberChanged(ms.written, ms.m) {
				continue
			}
			ms.written = ms.m
			acts = append(acts, Action{Kind: ActPutMember, Instance: is.inst.Name, Member: ms.m})
		}
	}
	return acts
}

// writeReplicas stores the in-sync replicas of instances that read from
// replicas, when the set changed. Written after every (re)load too: the
// node may predate a failover the old leader missed.
func (c *Core) writeReplicas() []Action {
	var acts []Action
	for _, is := range c.sorted() {
		if is.inst.State == model.StateDeleting || !is.inst.ReadFromReplicas {
			continue
		}
		var addrs []string
		for _, ms := range is.inSyncReplicas() {
			addrs = append(addrs, ms.m.Addr())
		}
		sort.Strings(addrs)
		if is.replicasWritten && slices.Equal(addrs, is.replicas) {
			continue
		}
		is.replicas, is.replicasWritten = addrs, true
		acts = append(acts, Action{Kind: ActSetReplicas, Instance: is.inst.Name, Addrs: addrs})
	}
	return acts
}

func memberChanged(a, b model.Member) bool {
	return a.AgentID != b.AgentID || a.ExecutorID != b.ExecutorID || a.Host != b.Host || a.Port != b.Port ||
		a.Role != b.Role || a.State != b.State || a.Reason != b.Reason || a.RunID != b.RunID ||
		a.LinkUp != b.LinkUp // so that standbys reading ZooKeeper see replicas in sync
}

// writeInstances stores instance records whose state changed.
func (c *Core) writeInstances(now time.Time) []Action {
	var acts []Action
	for _, is := range c.sorted() {
		a, b := is.written, is.inst
		if a.State == b.State && a.Reason == b.Reason && a.MasterTask == b.MasterTask && a.Failovers == b.Failovers &&
			a.Replicas == b.Replicas && a.MemoryMB == b.MemoryMB {
			continue
		}
		is.inst.Updated = now
		is.written = is.inst
		acts = append(acts, Action{Kind: ActUpdateInstance, Instance: b.Name, Inst: is.inst})
	}
	return acts
}
