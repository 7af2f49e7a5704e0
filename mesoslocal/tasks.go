package mesoslocal

import (
	"bytes"
	"fmt"
	"time"

	"github.com/gogo/protobuf/proto"
	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
)

// maxRetryInterval caps the status update retry backoff, as in Mesos.
const maxRetryInterval = 10 * time.Minute

type taskKey struct{ fw, id string }

// task is one task as both the master and its agent see it.
type task struct {
	info  mesos.TaskInfo
	fw    *framework
	agent *agent
	exec  *executor
	res   resources

	// The master's view: the state it last told the framework.
	state    mesos.TaskState
	status   *mesos.TaskStatus
	statuses []mesos.TaskStatus

	// The agent's view and its status update manager: the latest state, the
	// updates not yet acknowledged by the scheduler (the head is the one in
	// flight) and the uuids already taken.
	agentState    mesos.TaskState
	agentStatus   *mesos.TaskStatus
	updates       []mesos.TaskStatus
	seen          map[string]bool
	retryTimer    *time.Timer
	retryInterval time.Duration

	delivered bool // LAUNCH sent to the executor
	killed    bool // a command task being killed
}

func isTerminal(s mesos.TaskState) bool {
	switch s {
	case mesos.TASK_FINISHED, mesos.TASK_FAILED, mesos.TASK_KILLED, mesos.TASK_ERROR,
		mesos.TASK_LOST, mesos.TASK_DROPPED, mesos.TASK_GONE, mesos.TASK_GONE_BY_OPERATOR:
		return true
	}
	return false
}

// launch creates the tasks on agent a and hands them to their executor,
// starting it when needed. Caller holds c.mu and validated everything.
func (c *Cluster) launch(fw *framework, a *agent, exInfo *mesos.ExecutorInfo, infos []mesos.TaskInfo, group bool) {
	command := exInfo == nil
	if command {
		exInfo = commandExecutorInfo(&infos[0], fw.id)
	}
	key := execKey{fw.id, exInfo.ExecutorID.Value}
	ex := a.executors[key]
	if ex == nil || ex.exited {
		ex = c.newExecutor(fw, a, *exInfo, command)
	}
	batch := launchBatch{group: group}
	for _, ti := range infos {
		res, _ := parseResources(ti.Resources)
		t := &task{
			info: ti, fw: fw, agent: a, exec: ex, res: res,
			state: mesos.TASK_STAGING, agentState: mesos.TASK_STAGING,
			seen: map[string]bool{}, retryInterval: c.cfg.StatusUpdateRetry,
		}
		fw.tasks[ti.TaskID.Value] = t
		a.tasks[taskKey{fw.id, ti.TaskID.Value}] = t
		ex.tasks[ti.TaskID.Value] = t
		batch.tasks = append(batch.tasks, t)
		c.log.Info("launching task", "framework", fw.id, "task", ti.TaskID.Value, "agent", a.id, "executor", ex.id)
	}
	if command {
		ex.commandTask = batch.tasks[0]
	}
	if ex.shuttingDown {
		// The executor is going away: the agent drops the tasks.
		state := mesos.TASK_LOST
		if fw.partitionAware() {
			state = mesos.TASK_DROPPED
		}
		reason := mesos.REASON_EXECUTOR_TERMINATED
		for _, t := range batch.tasks {
			c.statusUpdate(t, agentStatus(t, state, mesos.SOURCE_AGENT, &reason, "Executor terminating"))
		}
		return
	}
	if ex.stream != nil {
		ex.deliver(batch)
	} else {
		ex.queued = append(ex.queued, batch)
	}
	if !ex.launching && !ex.started {
		c.startExecutor(ex)
	}
}

func commandExecutorInfo(ti *mesos.TaskInfo, fwID string) *mesos.ExecutorInfo {
	id := mesos.FrameworkID{Value: fwID}
	return &mesos.ExecutorInfo{
		ExecutorID:  mesos.ExecutorID{Value: ti.TaskID.Value},
		FrameworkID: &id,
		Command:     ti.Command,
		Name:        proto.String("Command Executor (Task: " + ti.TaskID.Value + ")"),
		Source:      proto.String(ti.TaskID.Value),
	}
}

// agentStatus builds an update made on the agent, reliable (with a uuid).
func agentStatus(t *task, state mesos.TaskState, source mesos.TaskStatus_Source, reason *mesos.TaskStatus_Reason, msg string) mesos.TaskStatus {
	st := mesos.TaskStatus{
		TaskID:    t.info.TaskID,
		State:     state.Enum(),
		Source:    source.Enum(),
		Reason:    reason,
		AgentID:   &mesos.AgentID{Value: t.agent.id},
		Timestamp: nowSeconds(),
		UUID:      newUUIDBytes(),
	}
	if t.exec != nil {
		st.ExecutorID = &mesos.ExecutorID{Value: t.exec.id}
	}
	if msg != "" {
		st.Message = proto.String(msg)
	}
	return st
}

// statusUpdate is the agent's status update manager taking an update: it
// records it and forwards it when no older update is waiting for an
// acknowledgement. It reports whether the update was new.
func (c *Cluster) statusUpdate(t *task, st mesos.TaskStatus) bool {
	key := string(st.UUID)
	if t.seen[key] {
		return false
	}
	t.seen[key] = true
	state := st.GetState()
	if isTerminal(t.agentState) {
		c.log.Warn("status update for a terminal task ignored", "task", t.info.TaskID.Value, "state", state.String(), "current", t.agentState.String())
		return false
	}
	t.agentState = state
	stCopy := st
	t.agentStatus = &stCopy
	t.updates = append(t.updates, st)
	if len(t.updates) == 1 {
		c.forwardUpdate(t)
	}
	if isTerminal(state) {
		c.allocate()
	}
	return true
}

// forwardUpdate sends the oldest unacknowledged update of t to the master
// and retries it with backoff until the scheduler acknowledges it.
func (c *Cluster) forwardUpdate(t *task) {
	if t.retryTimer != nil {
		t.retryTimer.Stop()
		t.retryTimer = nil
	}
	if len(t.updates) == 0 || !t.agent.active() || t.fw.removed {
		return
	}
	st := t.updates[0]
	c.masterUpdate(t, st)
	interval := t.retryInterval
	t.retryTimer = c.afterFunc(interval, func() {
		t.retryInterval = min(2*interval, maxRetryInterval)
		c.forwardUpdate(t)
	})
}

// masterUpdate records st as the master's view of t and sends it to the
// framework.
func (c *Cluster) masterUpdate(t *task, st mesos.TaskStatus) {
	t.state = st.GetState()
	stCopy := st
	t.status = &stCopy
	t.statuses = append(t.statuses, st)
	if len(t.statuses) > 20 {
		t.statuses = t.statuses[len(t.statuses)-20:]
	}
	t.fw.send(updateEvent(st))
}

// acknowledge handles a scheduler's ACKNOWLEDGE. Caller holds c.mu.
func (c *Cluster) acknowledge(fw *framework, ack *scheduler.Call_Acknowledge) {
	t := fw.tasks[ack.TaskID.Value]
	if t == nil || t.agent.id != ack.AgentID.Value {
		c.log.Debug("acknowledgement for an unknown task ignored", "task", ack.TaskID.Value, "agent", ack.AgentID.Value)
		return
	}
	if len(t.updates) == 0 || !bytes.Equal(t.updates[0].UUID, ack.UUID) {
		c.log.Debug("duplicate or unexpected acknowledgement ignored", "task", ack.TaskID.Value, "uuid", formatUUID(ack.UUID))
		return
	}
	head := t.updates[0]
	t.updates = t.updates[1:]
	if t.retryTimer != nil {
		t.retryTimer.Stop()
		t.retryTimer = nil
	}
	t.retryInterval = c.cfg.StatusUpdateRetry
	if isTerminal(head.GetState()) && len(t.updates) == 0 {
		c.forgetTask(t)
		return
	}
	c.forwardUpdate(t)
}

// forgetTask removes t from the master and its agent once it is over.
func (c *Cluster) forgetTask(t *task) {
	if t.retryTimer != nil {
		t.retryTimer.Stop()
		t.retryTimer = nil
	}
	if cur := t.fw.tasks[t.info.TaskID.Value]; cur == t {
		delete(t.fw.tasks, t.info.TaskID.Value)
		t.fw.completed = append(t.fw.completed, t)
		if len(t.fw.completed) > maxCompletedTasks {
			t.fw.completed = t.fw.completed[1:]
		}
	}
	key := taskKey{t.fw.id, t.info.TaskID.Value}
	if cur := t.agent.tasks[key]; cur == t {
		delete(t.agent.tasks, key)
	}
	if t.exec != nil {
		if cur := t.exec.tasks[t.info.TaskID.Value]; cur == t {
			delete(t.exec.tasks, t.info.TaskID.Value)
		}
	}
}

// reconcile answers a RECONCILE call. Caller holds c.mu.
func (c *Cluster) reconcile(fw *framework, tasks []scheduler.Call_Reconcile_Task) {
	if len(tasks) == 0 {
		for _, t := range fw.tasks {
			fw.send(updateEvent(reconcileStatus(t)))
		}
		return
	}
	for _, rt := range tasks {
		t := fw.tasks[rt.TaskID.Value]
		if t != nil && (rt.AgentID == nil || rt.AgentID.Value == t.agent.id) {
			fw.send(updateEvent(reconcileStatus(t)))
			continue
		}
		agentID := ""
		if rt.AgentID != nil {
			agentID = rt.AgentID.Value
		}
		var st mesos.TaskStatus
		a := c.agentsByID[agentID]
		switch {
		case a != nil && a.unreachable:
			state := mesos.TASK_LOST
			if fw.partitionAware() {
				state = mesos.TASK_UNREACHABLE
			}
			st = masterStatus(rt.TaskID, state, mesos.REASON_RECONCILIATION, "Reconciliation: Task is unreachable", agentID, nil)
		case a != nil && !a.running:
			// The agent is transitioning: Mesos answers once it is back or removed.
			continue
		case a != nil:
			state := mesos.TASK_LOST
			if fw.partitionAware() {
				state = mesos.TASK_GONE
			}
			st = masterStatus(rt.TaskID, state, mesos.REASON_RECONCILIATION, "Reconciliation: Task is unknown to the agent", agentID, nil)
		default:
			state := mesos.TASK_LOST
			if fw.partitionAware() {
				state = mesos.TASK_UNKNOWN
			}
			st = masterStatus(rt.TaskID, state, mesos.REASON_RECONCILIATION, "Reconciliation: Task is unknown", agentID, nil)
		}
		fw.send(updateEvent(st))
	}
}

// reconcileStatus is the master's latest state of t, as Mesos reports it.
func reconcileStatus(t *task) mesos.TaskStatus {
	var execID *mesos.ExecutorID
	if t.exec != nil {
		execID = &mesos.ExecutorID{Value: t.exec.id}
	}
	st := masterStatus(t.info.TaskID, t.state, mesos.REASON_RECONCILIATION, "Reconciliation: Latest task state", t.agent.id, execID)
	if t.status != nil {
		st.Healthy = t.status.Healthy
		st.Labels = t.status.Labels
		st.UnreachableTime = t.status.UnreachableTime
		st.CheckStatus = t.status.CheckStatus
		st.ContainerStatus = t.status.ContainerStatus
	}
	return st
}

// killTask handles a scheduler's KILL. Caller holds c.mu.
func (c *Cluster) killTask(fw *framework, k *scheduler.Call_Kill) {
	t := fw.tasks[k.TaskID.Value]
	if t == nil || (k.AgentID != nil && k.AgentID.Value != t.agent.id) {
		c.reconcile(fw, []scheduler.Call_Reconcile_Task{{TaskID: k.TaskID, AgentID: k.AgentID}})
		return
	}
	if !t.agent.active() {
		c.reconcile(fw, []scheduler.Call_Reconcile_Task{{TaskID: k.TaskID, AgentID: k.AgentID}})
		return
	}
	if isTerminal(t.agentState) {
		return
	}
	ex := t.exec
	policy := k.KillPolicy
	if policy == nil {
		policy = t.info.KillPolicy
	}
	switch {
	case ex.command:
		c.killCommandTask(t, policy)
	case !t.delivered:
		ex.unqueue(t)
		reason := mesos.REASON_TASK_KILLED_DURING_LAUNCH
		c.statusUpdate(t, agentStatus(t, mesos.TASK_KILLED, mesos.SOURCE_AGENT, &reason, "Killed before delivery to the executor"))
		if !ex.subscribed && len(ex.liveTasks()) == 0 {
			c.shutdownExecutor(ex)
		}
	case ex.stream != nil:
		ex.stream.send(killEvent(t.info.TaskID, policy))
	default:
		c.log.Warn("kill for a task whose executor is disconnected dropped", "task", t.info.TaskID.Value, "executor", ex.id)
	}
}

func (c *Cluster) shutdownCall(fw *framework, s *scheduler.Call_Shutdown) {
	a := c.agentsByID[s.AgentID.Value]
	if a == nil {
		return
	}
	if ex := a.executors[execKey{fw.id, s.ExecutorID.Value}]; ex != nil {
		c.shutdownExecutor(ex)
	}
}

func stoutDuration(d time.Duration) string {
	type unit struct {
		d    time.Duration
		name string
	}
	units := []unit{{7 * 24 * time.Hour, "weeks"}, {24 * time.Hour, "days"}, {time.Hour, "hrs"}, {time.Minute, "mins"},
		{time.Second, "secs"}, {time.Millisecond, "ms"}, {time.Microsecond, "us"}}
	for _, u := range units {
		if d >= u.d {
			return fmt.Sprintf("%g%s", float64(d)/float64(u.d), u.name)
		}
	}
	return fmt.Sprintf("%dns", int64(d))
}
