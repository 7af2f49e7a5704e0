package sched

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/mrredis/mrredis/internal/execproto"
	"github.com/mrredis/mrredis/internal/model"
)

// Errors the core returns for requests; the API maps them to status codes.
var (
	ErrUnknownInstance = errors.New("unknown instance")
	ErrDuplicate       = errors.New("instance exists")
	ErrBadRequest      = errors.New("bad request")
	ErrBusy            = errors.New("busy")
)

// Core is the scheduler's pure state machine. It does no I/O: callers feed
// it events with the current time and carry out the actions it returns, in
// order. Every handler ends with a level-triggered pass that compares each
// instance's spec with its observed members and acts on the difference, so
// a repeated or missed event does no harm. Core is not safe for concurrent
// use: one goroutine owns it.
type Core struct {
	cfg       CoreConfig
	instances map[string]*instState
	// kills are tasks told to die that have not reported a terminal state:
	// the kill is repeated, because an agent that is just coming back may
	// drop it.
	kills   map[string]*pendingKill
	wanting bool // offers are revived; false means suppressed
	seq     int64
	cmdSeq  int64
}

type instState struct {
	inst    model.Instance
	written model.Instance // as last written to or read from the store
	members map[string]*memberState
	master  string // "host:port" in the /master node
	// replicas is what the /replicas node holds, once written.
	replicas        []string
	replicasWritten bool
	history         []model.Failover
	pending         string // why wanted members are not placed, from the last offers
	note            string // a degraded reason that lasts until the instance runs again
	// Members that fail before they run are retried with a growing wait.
	masterChanged  time.Time // when MasterTask last changed: older role reports are stale
	launchFailures int
	retryAt        time.Time
	launchError    string
	fo             *failoverOp
	loadedAt       time.Time
}

type memberState struct {
	m          model.Member
	written    model.Member
	stored     bool
	killing    bool
	follows    string // replicas: the master address they were last told to follow
	launched   time.Time
	ran        bool       // reached TASK_RUNNING at least once
	followSent time.Time  // when it was last told to follow
	reconciled time.Time  // when Mesos was last asked about it while it started
	reported   model.Role // the role its executor last reported
	reportedAt time.Time
	lastStats  time.Time
	lastLinkUp time.Time
	// linkOffset is the offset first reported after the link came up;
	// streaming is set when a later report is higher (see Candidate).
	linkOffset    int64
	linkOffsetSet bool
	streaming     bool
	pingMisses    int
	lastPingOK    time.Time
}

// failoverOp is a master change in progress.
type failoverOp struct {
	cause      string
	switchover bool
	oldTask    string
	oldAddr    string
	oldOffset  int64
	candidate  string
	cmdID      string
	sent       time.Time // promote (or failover-to) sent
	started    time.Time
	detectMS   int64
	tried      map[string]bool
}

type pendingKill struct {
	instance, agentID string
	sent              time.Time
	wait              time.Duration
}

// kill returns a Kill and remembers it for repeating.
func (c *Core) kill(instance, taskID, agentID string, now time.Time) Action {
	k := c.kills[taskID]
	if k == nil {
		k = &pendingKill{instance: instance, agentID: agentID, wait: c.cfg.KillRetry}
		c.kills[taskID] = k
	}
	k.sent = now
	return Action{Kind: ActKill, Instance: instance, TaskID: taskID, AgentID: agentID}
}

// repeatKills re-sends kills not confirmed in time, waiting longer each time.
func (c *Core) repeatKills(now time.Time) []Action {
	var acts []Action
	ids := make([]string, 0, len(c.kills))
	for id := range c.kills {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		k := c.kills[id]
		if now.Sub(k.sent) < k.wait {
			continue
		}
		if k.wait < time.Minute {
			k.wait *= 2
		}
		acts = append(acts, c.kill(k.instance, id, k.agentID, now))
	}
	return acts
}

// slowStart is how long a member may stay staging or starting before the
// core asks Mesos about it (a launch lost with a broken connection is only
// found by reconciliation).
const slowStart = 30 * time.Second

func (c *Core) reconcileSlowStarts(now time.Time) []Action {
	var tasks []ReconcileTask
	for _, is := range c.sorted() {
		for _, id := range is.memberIDs() {
			ms := is.members[id]
			if ms.ran || isTerminal(ms.m.State) || now.Sub(ms.launched) < slowStart || now.Sub(ms.reconciled) < slowStart {
				continue
			}
			ms.reconciled = now
			tasks = append(tasks, ReconcileTask{TaskID: id, AgentID: ms.m.AgentID})
		}
	}
	if len(tasks) == 0 {
		return nil
	}
	return []Action{{Kind: ActReconcile, Reconcile: tasks}}
}

// followRetry is how long a member may keep acting as master after being
// told to follow before it is told again.
const followRetry = 3 * time.Second

// NewCore returns an empty core.
func NewCore(cfg CoreConfig) *Core {
	return &Core{cfg: cfg, instances: map[string]*instState{}, kills: map[string]*pendingKill{}}
}

// Load puts an instance read from the store into the core, replacing what
// the core knew about it: used on start, after a leader change and after a
// failed store write.
func (c *Core) Load(inst model.Instance, members []model.Member, master string, history []model.Failover, now time.Time) {
	is := &instState{inst: inst, written: inst, members: map[string]*memberState{}, master: master, history: history, loadedAt: now}
	for _, m := range members {
		ms := &memberState{m: m, written: m, stored: true, launched: now, lastStats: now, lastPingOK: now, ran: m.State == "TASK_RUNNING"}
		if m.Role == model.RoleReplica {
			// Assume replicas were in sync when the last leader stopped, so
			// that a failover right after a restart can still promote one.
			ms.follows = master
			ms.lastLinkUp = now
		}
		is.members[m.TaskID] = ms
	}
	c.instances[inst.Name] = is
}

// Forget drops an instance from the core without any action (reload).
func (c *Core) Forget(name string) { delete(c.instances, name) }

// Names returns the names of the instances the core knows.
func (c *Core) Names() []string {
	var out []string
	for n := range c.instances {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Instance returns the record of an instance as the core sees it.
func (c *Core) Instance(name string) (model.Instance, bool) {
	is, ok := c.instances[name]
	if !ok {
		return model.Instance{}, false
	}
	return is.inst, true
}

// Subscribed is called when the framework (re)subscribed to Mesos: it
// reconciles every known task and re-decides revive/suppress.
func (c *Core) Subscribed(now time.Time) []Action {
	acts := c.ReconcileAll()
	// Mesos may still hold filters from before: decide afresh.
	c.wanting = len(c.wants(now)) == 0 // forces the level pass to emit one of revive/suppress
	return append(acts, c.level(now)...)
}

// ReconcileAll asks Mesos for the state of every task the core knows, and
// of every task Mesos knows (orphans get killed when they answer). Run
// now and then: Mesos delivers updates at most once to a connected
// scheduler, and reconciliation repairs what was missed.
func (c *Core) ReconcileAll() []Action {
	var tasks []ReconcileTask
	for _, is := range c.sorted() {
		for _, id := range is.memberIDs() {
			tasks = append(tasks, ReconcileTask{TaskID: id, AgentID: is.members[id].m.AgentID})
		}
	}
	return []Action{{Kind: ActReconcile, Reconcile: tasks, All: true}}
}

// Created adds a new instance that is already stored (state CREATING).
func (c *Core) Created(inst model.Instance, now time.Time) ([]Action, error) {
	if _, ok := c.instances[inst.Name]; ok {
		return nil, fmt.Errorf("instance %q already exists: %w", inst.Name, ErrDuplicate)
	}
	c.instances[inst.Name] = &instState{inst: inst, written: inst, members: map[string]*memberState{}, loadedAt: now}
	return c.level(now), nil
}

// PlanPatch returns the instance record a PATCH would store, without
// changing anything; the caller stores it (CAS) and then calls Apply.
func (c *Core) PlanPatch(name string, req model.PatchRequest, limits model.Limits) (model.Instance, error) {
	is, ok := c.instances[name]
	if !ok {
		return model.Instance{}, fmt.Errorf("instance %q does not exist: %w", name, ErrUnknownInstance)
	}
	if is.inst.State == model.StateDeleting {
		return model.Instance{}, fmt.Errorf("instance %q is being deleted: %w", name, ErrBusy)
	}
	inst := is.inst
	if req.Replicas == nil && req.MemoryMB == nil {
		return inst, fmt.Errorf("nothing to change: give replicas and/or memory_mb: %w", ErrBadRequest)
	}
	if req.Replicas != nil {
		if err := limits.ValidateReplicas(*req.Replicas); err != nil {
			return inst, fmt.Errorf("%v: %w", err, ErrBadRequest)
		}
		inst.Replicas = *req.Replicas
	}
	if req.MemoryMB != nil {
		if err := limits.ValidateMemory(*req.MemoryMB); err != nil {
			return inst, fmt.Errorf("%v: %w", err, ErrBadRequest)
		}
		inst.MemoryMB = *req.MemoryMB
	}
	return inst, nil
}

// PlanDelete returns the record a DELETE would store.
func (c *Core) PlanDelete(name string) (model.Instance, error) {
	is, ok := c.instances[name]
	if !ok {
		return model.Instance{}, fmt.Errorf("instance %q does not exist: %w", name, ErrUnknownInstance)
	}
	inst := is.inst
	inst.State = model.StateDeleting
	inst.Reason = "stopping members"
	return inst, nil
}

// Apply takes a record the caller has just stored (after PlanPatch or
// PlanDelete) and acts on the difference.
func (c *Core) Apply(inst model.Instance, now time.Time) []Action {
	is, ok := c.instances[inst.Name]
	if !ok {
		return nil
	}
	old := is.inst
	is.inst, is.written = inst, inst
	var acts []Action
	if inst.MemoryMB != old.MemoryMB && inst.State != model.StateDeleting {
		// Resize live members in place; new ones start with the new size.
		for _, id := range is.memberIDs() {
			ms := is.members[id]
			if ms.live() && ms.ready() {
				acts = append(acts, c.command(is, ms, execproto.Command{Op: execproto.OpSetMaxMemory, MaxMemoryMB: inst.MemoryMB}))
			}
		}
	}
	return append(acts, c.level(now)...)
}

// Switchover starts a planned master change to the best replica. It waits
// for the replica to catch up before promoting, so no write is lost.
func (c *Core) Switchover(name string, now time.Time) ([]Action, error) {
	is, ok := c.instances[name]
	if !ok {
		return nil, fmt.Errorf("instance %q does not exist: %w", name, ErrUnknownInstance)
	}
	if is.inst.State == model.StateDeleting {
		return nil, fmt.Errorf("instance %q is being deleted: %w", name, ErrBusy)
	}
	if is.fo != nil {
		return nil, fmt.Errorf("instance %q is already failing over: %w", name, ErrBusy)
	}
	master := is.masterMember()
	if master == nil || !master.ready() || is.master == "" {
		return nil, fmt.Errorf("instance %q has no running master to switch from: %w", name, ErrBusy)
	}
	cand, ok := ChooseSuccessor(is.candidates(nil, true), now, c.cfg.LinkGrace)
	if !ok {
		return nil, fmt.Errorf("instance %q has no replica in sync to promote: %w", name, ErrBusy)
	}
	is.fo = &failoverOp{
		cause: "switchover", switchover: true, oldTask: master.m.TaskID, oldAddr: master.m.Addr(),
		candidate: cand.TaskID, started: now, sent: now, tried: map[string]bool{},
	}
	// Redis' FAILOVER TO on the master pauses writes until the replica has
	// the same offset, then swaps the two: no acknowledged write is lost.
	target := is.members[cand.TaskID]
	a := c.command(is, master, execproto.Command{Op: execproto.OpFailoverTo, MasterHost: target.m.Host, MasterPort: target.m.Port,
		TimeoutMS: int(c.cfg.CatchUpTimeout.Milliseconds())})
	is.fo.cmdID = a.Command.ID
	return append([]Action{a}, c.level(now)...), nil
}

// Offers places wanted members on offers and declines the rest.
func (c *Core) Offers(offers []Offer, now time.Time) []Action {
	acts := c.place(offers, now)
	return append(acts, c.level(now)...)
}

// Update handles a task status update.
func (c *Core) Update(u TaskUpdate, now time.Time) []Action {
	if isTerminal(u.State) {
		delete(c.kills, u.TaskID)
	}
	is, ms := c.findTask(u.TaskID)
	if ms == nil {
		if isTerminal(u.State) || isGoneForNow(u.State) {
			return nil
		}
		if k := c.kills[u.TaskID]; k != nil && now.Sub(k.sent) < c.cfg.KillRetry {
			return nil // a kill is on its way
		}
		// A task we do not own (replaced after TASK_LOST, or left from a
		// deleted instance) is running: stop it before anything routes to it.
		return []Action{c.kill("", u.TaskID, u.AgentID, now)}
	}
	ms.m.State = u.State
	ms.m.Reason = u.Reason
	if u.AgentID != "" {
		ms.m.AgentID = u.AgentID
	}
	if u.State == "TASK_RUNNING" {
		ms.ran = true
		is.launchFailures, is.launchError = 0, ""
	}
	if u.State == "TASK_RUNNING" && u.Data != nil {
		if u.Data.Host != "" {
			ms.m.Host = u.Data.Host
		}
		if u.Data.Port > 0 {
			ms.m.Port = u.Data.Port
		}
		if u.Data.RunID != "" {
			ms.m.RunID = u.Data.RunID
		}
		ms.lastStats, ms.lastPingOK = now, now
		// The executor reports a replica RUNNING only once its link to the
		// master is up: count it in sync now rather than at the next stats.
		if u.Data.Role == model.RoleReplica {
			ms.m.LinkUp, ms.lastLinkUp = true, now
		}
	}
	var acts []Action
	if ms.killing && !isTerminal(u.State) && !isGoneForNow(u.State) {
		// Still alive after a kill (a master that came back): kill again.
		acts = append(acts, c.kill(is.inst.Name, u.TaskID, ms.m.AgentID, now))
	}
	if isTerminal(u.State) || isGoneForNow(u.State) {
		if !ms.ran && !ms.killing {
			is.launchFailures++
			wait := c.cfg.RetryMin << min(is.launchFailures-1, 10)
			if wait > c.cfg.RetryMax || wait <= 0 {
				wait = c.cfg.RetryMax
			}
			is.retryAt = now.Add(wait)
			is.launchError = fmt.Sprintf("member %s failed to start (%s): %s", u.TaskID, u.State, firstNonEmpty(u.Message, u.Reason))
		}
		if ms.m.TaskID == is.inst.MasterTask && !ms.ran {
			is.inst.MasterTask = "" // a master that never ran holds no data: start another
		}
		if ms.m.TaskID == is.inst.MasterTask && is.fo == nil && is.inst.State != model.StateDeleting {
			acts = append(acts, c.startFailover(is, "task "+u.State, now)...)
		}
		if is.fo != nil && is.fo.candidate == u.TaskID {
			acts = append(acts, c.candidateFailed(is, "candidate "+u.State, now)...)
		}
		delete(is.members, u.TaskID)
		if ms.stored {
			acts = append(acts, Action{Kind: ActDeleteMember, Instance: is.inst.Name, TaskID: u.TaskID})
		}
	}
	return append(acts, c.level(now)...)
}

// Message handles a framework message from an executor.
func (c *Core) Message(msg execproto.ExecutorMessage, now time.Time) []Action {
	switch msg.Kind {
	case execproto.KindStats:
		for _, s := range msg.Stats {
			is, ms := c.findTask(s.TaskID)
			if ms == nil {
				continue
			}
			// A member that acts as master but is not ours (promoted just
			// before a scheduler crash, or a demoted master that did not
			// follow yet) is told again to follow the master.
			if s.Role == model.RoleMaster && s.TaskID != is.inst.MasterTask && ms.live() && now.Sub(is.masterChanged) > followRetry &&
				(is.fo == nil || is.fo.candidate != s.TaskID) && now.Sub(ms.followSent) > followRetry {
				ms.follows = ""
			}
			ms.lastStats = now
			ms.m.LastSeen = now
			ms.reported, ms.reportedAt = s.Role, now
			ms.m.ReplOffset = s.ReplOffset
			ms.m.LinkUp = s.LinkUp
			if s.LinkUp {
				ms.lastLinkUp = now
			}
			ms.trackStreaming(s)
			ms.m.LagBytes = s.LagBytes
			ms.m.UsedMemory = s.UsedMemory
			ms.m.OpsPerSec = s.OpsPerSec
			ms.m.ConnectedClients = s.ConnectedClients
			if s.RunID != "" {
				ms.m.RunID = s.RunID
			}
		}
		return c.level(now)
	case execproto.KindReply:
		if msg.Reply == nil {
			return nil
		}
		return append(c.reply(*msg.Reply, now), c.level(now)...)
	}
	return nil
}

// Ping records the result of one PING of an instance's master.
func (c *Core) Ping(name, taskID string, ok bool, now time.Time) []Action {
	is, found := c.instances[name]
	if !found {
		return nil
	}
	ms := is.members[taskID]
	if ms == nil || taskID != is.inst.MasterTask {
		return nil
	}
	if ok {
		ms.pingMisses = 0
		ms.lastPingOK = now
		return nil
	}
	ms.pingMisses++
	if c.cfg.PingMisses > 0 && ms.pingMisses >= c.cfg.PingMisses && is.fo == nil && is.inst.State != model.StateDeleting {
		acts := c.startFailover(is, fmt.Sprintf("ping timeout (%d misses)", ms.pingMisses), now)
		return append(acts, c.level(now)...)
	}
	return nil
}

// Tick checks timeouts: stale executor stats, unanswered promotes and
// switchovers, kills without answer.
func (c *Core) Tick(now time.Time) []Action {
	acts := c.repeatKills(now)
	acts = append(acts, c.reconcileSlowStarts(now)...)
	for _, is := range c.sorted() {
		if is.inst.State == model.StateDeleting {
			continue
		}
		if fo := is.fo; fo != nil {
			switch {
			case fo.switchover && now.Sub(fo.sent) > c.cfg.CatchUpTimeout+c.cfg.CommandTimeout:
				// Redis may or may not have switched; the roles the
				// executors report settle it (see adoptReportedMaster).
				acts = append(acts, c.abortSwitchover(is, "the master did not answer in time", now)...)
			case !fo.switchover && now.Sub(fo.sent) > c.cfg.CommandTimeout:
				acts = append(acts, c.candidateFailed(is, "promote not answered", now)...)
			}
			continue
		}
		if ms := is.masterMember(); ms != nil && ms.ready() && c.cfg.StatsTimeout > 0 {
			if now.Sub(ms.lastStats) > c.cfg.StatsTimeout {
				acts = append(acts, c.startFailover(is, "executor stats stale", now)...)
			}
		}
	}
	return append(acts, c.level(now)...)
}

// PingTarget is a master the pinger should check.
type PingTarget struct {
	Instance, TaskID, Addr, AdminPassword string
}

// PingTargets lists running masters not being failed over.
func (c *Core) PingTargets() []PingTarget {
	var out []PingTarget
	for _, is := range c.sorted() {
		if is.fo != nil || is.inst.State == model.StateDeleting {
			continue
		}
		if ms := is.masterMember(); ms != nil && ms.ready() {
			out = append(out, PingTarget{Instance: is.inst.Name, TaskID: ms.m.TaskID, Addr: ms.m.Addr(), AdminPassword: is.inst.AdminPassword})
		}
	}
	return out
}

// Views returns what the API shows of every instance (not redacted).
func (c *Core) Views() []model.InstanceView {
	var out []model.InstanceView
	for _, is := range c.sorted() {
		out = append(out, is.view())
	}
	return out
}

// View returns one instance's view.
func (c *Core) View(name string) (model.InstanceView, bool) {
	is, ok := c.instances[name]
	if !ok {
		return model.InstanceView{}, false
	}
	return is.view(), true
}

// KnownTask reports whether the core owns a live task with this id.
func (c *Core) KnownTask(id string) bool { _, ms := c.findTask(id); return ms != nil }

func (is *instState) view() model.InstanceView {
	v := model.InstanceView{Instance: is.inst, Master: is.master, Members: []model.Member{}}
	for _, id := range is.memberIDs() {
		ms := is.members[id]
		m := ms.m
		if id == is.inst.MasterTask {
			m.Role = model.RoleMaster
		}
		v.Members = append(v.Members, m)
		if ms.inSync() {
			v.ReplicasInSync++
		}
	}
	sort.SliceStable(v.Members, func(i, j int) bool {
		return v.Members[i].Role == model.RoleMaster && v.Members[j].Role != model.RoleMaster
	})
	v.History = append([]model.Failover{}, is.history...)
	return v
}

// --- helpers ---

func (c *Core) sorted() []*instState {
	out := make([]*instState, 0, len(c.instances))
	for _, is := range c.instances {
		out = append(out, is)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].inst, out[j].inst
		if !a.Created.Equal(b.Created) {
			return a.Created.Before(b.Created)
		}
		return a.Name < b.Name
	})
	return out
}

func (is *instState) memberIDs() []string {
	ids := make([]string, 0, len(is.members))
	for id := range is.members {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

func (is *instState) masterMember() *memberState {
	if is.inst.MasterTask == "" {
		return nil
	}
	ms := is.members[is.inst.MasterTask]
	if ms == nil || !ms.live() {
		return nil
	}
	return ms
}

func (c *Core) findTask(id string) (*instState, *memberState) {
	for _, is := range c.instances {
		if ms, ok := is.members[id]; ok {
			return is, ms
		}
	}
	return nil, nil
}

func (ms *memberState) live() bool {
	return !ms.killing && !isTerminal(ms.m.State) && !isGoneForNow(ms.m.State)
}

func (ms *memberState) ready() bool { return ms.m.State == "TASK_RUNNING" && ms.m.Port > 0 }

// trackStreaming notes whether a replica's offset has grown since its
// link came up: only then are the master's writes known to flow to it.
func (ms *memberState) trackStreaming(s execproto.MemberStats) {
	switch {
	case s.Role != model.RoleReplica || !s.LinkUp:
		ms.linkOffsetSet, ms.streaming = false, false
	case !ms.linkOffsetSet:
		ms.linkOffset, ms.linkOffsetSet = s.ReplOffset, true
	case s.ReplOffset > ms.linkOffset:
		ms.streaming = true
	}
}

func (ms *memberState) inSync() bool {
	return ms.live() && ms.ready() && ms.m.Role == model.RoleReplica && ms.m.LinkUp
}

func (c *Core) newTaskID(name string, now time.Time) string {
	n := now.UnixNano() / 1000
	if n <= c.seq {
		n = c.seq + 1
	}
	c.seq = n
	return name + "." + strconv.FormatInt(n, 36)
}

func (c *Core) command(is *instState, ms *memberState, cmd execproto.Command) Action {
	c.cmdSeq++
	cmd.ID = fmt.Sprintf("c%d", c.cmdSeq)
	cmd.TaskID = ms.m.TaskID
	return Action{Kind: ActMessage, Instance: is.inst.Name, AgentID: ms.m.AgentID, Exec: ms.m.ExecutorID, Command: cmd}
}

// ExecutorID is the executor of an instance on an agent: one per instance
// per agent, so members of one instance on one agent share it.
//
// version names the executor's ExecutorInfo (a hash of where it is fetched
// from): the agent refuses a task whose ExecutorInfo differs from that of
// a running executor with the same id, so a scheduler that moved starts
// new executors under a new id instead.
func ExecutorID(instance, agentID, version string) string {
	suffix := agentID
	if i := strings.LastIndex(agentID, "-"); i >= 0 {
		suffix = agentID[i+1:]
	}
	id := "mrr-" + instance + "-" + suffix
	if version != "" {
		id += "-" + version
	}
	return id
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

func isTerminal(state string) bool {
	switch state {
	case "TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_ERROR", "TASK_LOST",
		"TASK_DROPPED", "TASK_GONE", "TASK_GONE_BY_OPERATOR":
		return true
	}
	return false
}

// isGoneForNow is a state that may come back (the agent re-registers); the
// core replaces such a member and kills it if it returns.
func isGoneForNow(state string) bool { return state == "TASK_UNREACHABLE" || state == "TASK_UNKNOWN" }
