package sched

import (
	"fmt"
	"sort"
	"time"

	"github.com/mrredis/mrredis/internal/execproto"
	"github.com/mrredis/mrredis/internal/model"
)

// Candidate is a replica as the failover decision sees it.
type Candidate struct {
	TaskID   string
	Ready    bool      // TASK_RUNNING with a known port
	LinkUp   bool      // its link to the master is up now
	LinkUpAt time.Time // when its link was last seen up
	// Streaming is set once its offset grew after its link came up. A
	// replica fresh from a full sync is not: its master holds back the
	// writes since the snapshot until the replica's first acknowledgement,
	// up to a second later, while its offset (the snapshot's) can be
	// above the last reported offset of a replica that has them all.
	Streaming  bool
	ReplOffset int64
}

// ChooseSuccessor picks the replica to promote: a running replica whose
// link to the master is up (or was, within grace: the link drops as soon as
// the master dies), streaming replicas first, then the highest replication
// offset; ties go to the smallest task id so the choice is stable.
func ChooseSuccessor(cands []Candidate, now time.Time, grace time.Duration) (Candidate, bool) {
	var ok []Candidate
	for _, c := range cands {
		if c.Ready && (c.LinkUp || (!c.LinkUpAt.IsZero() && now.Sub(c.LinkUpAt) <= grace)) {
			ok = append(ok, c)
		}
	}
	if len(ok) == 0 {
		return Candidate{}, false
	}
	sort.Slice(ok, func(i, j int) bool {
		if ok[i].Streaming != ok[j].Streaming {
			return ok[i].Streaming
		}
		if ok[i].ReplOffset != ok[j].ReplOffset {
			return ok[i].ReplOffset > ok[j].ReplOffset
		}
		return ok[i].TaskID < ok[j].TaskID
	})
	return ok[0], true
}

// candidates lists the live replicas not yet tried.
func (is *instState) candidates(tried map[string]bool, requireLinkNow bool) []Candidate {
	var out []Candidate
	for _, id := range is.memberIDs() {
		ms := is.members[id]
		if id == is.inst.MasterTask || !ms.live() || tried[id] {
			continue
		}
		c := Candidate{TaskID: id, Ready: ms.ready(), LinkUp: ms.m.LinkUp, LinkUpAt: ms.lastLinkUp,
			Streaming: ms.streaming, ReplOffset: ms.m.ReplOffset}
		if requireLinkNow {
			c.LinkUpAt = time.Time{}
		}
		out = append(out, c)
	}
	return out
}

// startFailover handles the loss of the master: it stops the old master
// (a hung or returning master must not take writes) and promotes the best
// replica, or, when there is none, starts a new master.
func (c *Core) startFailover(is *instState, cause string, now time.Time) []Action {
	var acts []Action
	fo := &failoverOp{cause: cause, oldTask: is.inst.MasterTask, started: now, tried: map[string]bool{}}
	lastSeen := is.loadedAt
	if old := is.members[is.inst.MasterTask]; old != nil {
		fo.oldAddr = old.m.Addr()
		fo.oldOffset = old.m.ReplOffset
		lastSeen = old.lastStats
		if old.lastPingOK.After(lastSeen) {
			lastSeen = old.lastPingOK
		}
		if old.live() {
			old.killing = true
			acts = append(acts, c.kill(is.inst.Name, old.m.TaskID, old.m.AgentID, now))
		}
	}
	if is.master != "" && fo.oldAddr == "" {
		fo.oldAddr = is.master
	}
	if !lastSeen.IsZero() && now.After(lastSeen) {
		fo.detectMS = now.Sub(lastSeen).Milliseconds()
	}
	is.fo = fo
	return append(acts, c.promoteNext(is, now)...)
}

// promoteNext sends a promote to the best untried replica, or gives up and
// starts a new master.
func (c *Core) promoteNext(is *instState, now time.Time) []Action {
	fo := is.fo
	cand, ok := ChooseSuccessor(is.candidates(fo.tried, false), now, c.cfg.LinkGrace)
	if !ok {
		return c.noSuccessor(is, now)
	}
	fo.candidate = cand.TaskID
	fo.sent = now
	a := c.command(is, is.members[cand.TaskID], execproto.Command{Op: execproto.OpPromote})
	fo.cmdID = a.Command.ID
	return []Action{a}
}

// noSuccessor records a failover without a replica to promote and lets the
// level pass launch a new master.
func (c *Core) noSuccessor(is *instState, now time.Time) []Action {
	fo := is.fo
	is.fo = nil
	is.inst.MasterTask = ""
	is.masterChanged = now
	is.inst.Failovers++
	loss := "its data is lost"
	if is.inst.Persistence != model.PersistenceNone && is.inst.Persistence != "" {
		loss = "data not on the new agent is lost"
	}
	is.note = fmt.Sprintf("master lost (%s) and no replica could take over: starting a new master; %s", fo.cause, loss)
	f := model.Failover{
		At: now, Cause: fo.cause, OldMaster: fo.oldTask, OldAddr: fo.oldAddr, DetectMS: fo.detectMS,
		TotalMS: now.Sub(fo.started).Milliseconds(), LostBytes: fo.oldOffset,
		Error: "no replica in sync to promote: starting a new master",
	}
	return c.recordFailover(is, f)
}

func (c *Core) recordFailover(is *instState, f model.Failover) []Action {
	is.history = append(is.history, f)
	if len(is.history) > 50 {
		is.history = is.history[len(is.history)-50:]
	}
	return []Action{{Kind: ActAddFailover, Instance: is.inst.Name, Failover: f}}
}

// candidateFailed tries the next replica after a promote failed.
func (c *Core) candidateFailed(is *instState, why string, now time.Time) []Action {
	fo := is.fo
	if fo == nil {
		return nil
	}
	if fo.switchover {
		return c.abortSwitchover(is, why, now)
	}
	fo.tried[fo.candidate] = true
	fo.candidate, fo.cmdID = "", ""
	return c.promoteNext(is, now)
}

// abortSwitchover gives up a switchover; the old master stays.
func (c *Core) abortSwitchover(is *instState, why string, now time.Time) []Action {
	fo := is.fo
	is.fo = nil
	return c.recordFailover(is, model.Failover{
		At: now, Cause: fo.cause, OldMaster: fo.oldTask, OldAddr: fo.oldAddr,
		TotalMS: now.Sub(fo.started).Milliseconds(), Error: "switchover abandoned: " + why,
	})
}

// adoptReportedMaster follows what Redis says when the recorded master
// reports itself a replica and exactly one other member reports itself
// master: a switchover went through but its answer was lost (or came
// after the scheduler gave up or restarted). The record then follows the
// facts instead of demoting the real master.
func (c *Core) adoptReportedMaster(is *instState, now time.Time) []Action {
	old := is.masterMember()
	if old == nil || old.reported != model.RoleReplica || now.Sub(old.reportedAt) > followRetry || !old.reportedAt.After(is.masterChanged) {
		return nil
	}
	var found *memberState
	for _, id := range is.memberIDs() {
		ms := is.members[id]
		if id == is.inst.MasterTask || !ms.live() || !ms.ready() || ms.reported != model.RoleMaster ||
			now.Sub(ms.reportedAt) > followRetry || !ms.reportedAt.After(is.masterChanged) {
			continue
		}
		if found != nil {
			return nil // two claim mastership: leave the record; they are told to follow
		}
		found = ms
	}
	if found == nil {
		return nil
	}
	f := model.Failover{
		At: now, Cause: "master changed without an answer (switchover completed late)", OldMaster: old.m.TaskID,
		NewMaster: found.m.TaskID, OldAddr: old.m.Addr(), NewAddr: found.m.Addr(),
	}
	is.inst.MasterTask = found.m.TaskID
	is.masterChanged = now
	is.inst.Failovers++
	found.m.Role = model.RoleMaster
	old.m.Role = model.RoleReplica
	old.follows, old.followSent = found.m.Addr(), now
	return c.recordFailover(is, f)
}

// reply handles an executor's answer to a command.
func (c *Core) reply(r execproto.Reply, now time.Time) []Action {
	is, ms := c.findTask(r.TaskID)
	if is == nil {
		return nil
	}
	fo := is.fo
	if fo == nil || r.ID != fo.cmdID {
		if !r.OK && r.Op == execproto.OpFollow {
			ms.follows = "" // retried by the next level pass
		}
		return nil
	}
	if !r.OK {
		return c.candidateFailed(is, r.Op+" failed: "+r.Error, now)
	}
	if fo.switchover {
		ms = is.members[fo.candidate] // the reply came from the old master
		if ms == nil {
			return c.abortSwitchover(is, "the replica went away during the switchover", now)
		}
	}
	is.fo = nil
	is.inst.MasterTask = ms.m.TaskID
	is.masterChanged = now
	is.inst.Failovers++
	is.note = ""
	ms.m.Role = model.RoleMaster
	ms.follows = ""
	if r.ReplOffset > 0 && !fo.switchover {
		ms.m.ReplOffset = r.ReplOffset
	}
	f := model.Failover{
		At: now, Cause: fo.cause, OldMaster: fo.oldTask, NewMaster: ms.m.TaskID, OldAddr: fo.oldAddr,
		NewAddr: ms.m.Addr(), DetectMS: fo.detectMS, TotalMS: now.Sub(fo.started).Milliseconds(),
	}
	if !fo.switchover && fo.oldOffset > ms.m.ReplOffset {
		f.LostBytes = fo.oldOffset - ms.m.ReplOffset
	}
	if fo.switchover {
		// FAILOVER TO made the old master a replica of the new one.
		if old := is.members[fo.oldTask]; old != nil && old.live() {
			old.m.Role = model.RoleReplica
			old.follows, old.followSent = ms.m.Addr(), now
		}
	}
	return c.recordFailover(is, f)
}
