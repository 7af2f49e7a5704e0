package mesoslocal

import (
	"net/http"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/encoding"
	executorpb "github.com/mesos/mesos-go/api/v1/lib/executor"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
)

// validateExecutorCall checks a call before the agent looks it up.
func validateExecutorCall(call *executorpb.Call) *httpError {
	bad := func(format string, args ...any) *httpError { return errorf(http.StatusBadRequest, format, args...) }
	if call.ExecutorID.Value == "" {
		return bad("Expecting 'executor_id' to be present")
	}
	if call.FrameworkID.Value == "" {
		return bad("Expecting 'framework_id' to be present")
	}
	switch call.Type {
	case executorpb.Call_SUBSCRIBE:
		if call.Subscribe == nil {
			return bad("Expecting 'subscribe' to be present")
		}
	case executorpb.Call_UPDATE:
		if call.Update == nil {
			return bad("Expecting 'update' to be present")
		}
		st := &call.Update.Status
		if len(st.UUID) != 16 {
			return bad("'uuid' must be a 16 byte UUID (got %d bytes)", len(st.UUID))
		}
		if st.State == nil {
			return bad("Expecting 'status.state' to be present")
		}
		if *st.State == mesos.TASK_STAGING {
			return bad("Received TASK_STAGING from executor")
		}
		if st.Source != nil && *st.Source != mesos.SOURCE_EXECUTOR {
			return bad("Received Call from executor with 'status.source' %s, expected SOURCE_EXECUTOR", st.Source.String())
		}
		if st.ExecutorID != nil && st.ExecutorID.Value != call.ExecutorID.Value {
			return bad("ExecutorID in Call: %s does not match ExecutorID in TaskStatus: %s", call.ExecutorID.Value, st.ExecutorID.Value)
		}
	case executorpb.Call_MESSAGE:
		if call.Message == nil {
			return bad("Expecting 'message' to be present")
		}
	case executorpb.Call_HEARTBEAT:
	default:
		return bad("Expecting 'type' to be present")
	}
	return nil
}

func (c *Cluster) handleExecutor(a *agent, w http.ResponseWriter, r *http.Request) {
	var call executorpb.Call
	codec, herr := decodeCall(r, &call)
	if herr == nil {
		herr = validateExecutorCall(&call)
	}
	if herr != nil {
		writeError(w, herr)
		return
	}
	c.mu.Lock()
	if !a.running {
		c.mu.Unlock()
		writeError(w, errorf(http.StatusServiceUnavailable, "Agent is shutting down"))
		return
	}
	ex := a.executors[execKey{call.FrameworkID.Value, call.ExecutorID.Value}]
	if ex == nil || ex.exited {
		known := false
		for k := range a.executors {
			if k.fw == call.FrameworkID.Value {
				known = true
			}
		}
		c.mu.Unlock()
		if !known {
			writeError(w, errorf(http.StatusBadRequest, "Framework cannot be found"))
		} else {
			writeError(w, errorf(http.StatusBadRequest, "Executor cannot be found"))
		}
		return
	}
	switch call.Type {
	case executorpb.Call_SUBSCRIBE:
		c.executorSubscribe(ex, w, r, &call, codec) // unlocks
		return
	case executorpb.Call_UPDATE:
		if !ex.subscribed {
			c.mu.Unlock()
			writeError(w, errorf(http.StatusForbidden, "Executor is not subscribed"))
			return
		}
		c.executorUpdate(ex, call.Update.Status)
	case executorpb.Call_MESSAGE:
		if !ex.subscribed {
			c.mu.Unlock()
			writeError(w, errorf(http.StatusForbidden, "Executor is not subscribed"))
			return
		}
		if a.active() && !ex.fw.removed {
			ex.fw.send(&scheduler.Event{Type: scheduler.Event_MESSAGE, Message: &scheduler.Event_Message{
				AgentID: mesos.AgentID{Value: a.id}, ExecutorID: mesos.ExecutorID{Value: ex.id}, Data: call.Message.Data,
			}})
		}
	}
	c.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
}

// executorSubscribe serves an executor's event stream. Called with c.mu
// held; it releases it.
func (c *Cluster) executorSubscribe(ex *executor, w http.ResponseWriter, r *http.Request, call *executorpb.Call, codec encoding.Codec) {
	a := ex.agent
	if ex.stream != nil {
		ex.stream.close()
	}
	s := newEventStream()
	ex.stream = s
	ex.subscribed = true
	if ex.registerTimer != nil {
		ex.registerTimer.Stop()
		ex.registerTimer = nil
	}
	cid := mesos.ContainerID{Value: ex.containerID}
	s.send(&executorpb.Event{Type: executorpb.Event_SUBSCRIBED, Subscribed: &executorpb.Event_Subscribed{
		ExecutorInfo: ex.info, FrameworkInfo: ex.fw.info, AgentInfo: a.agentInfo(), ContainerID: &cid,
	}})
	for _, u := range call.Subscribe.UnacknowledgedUpdates {
		c.executorUpdate(ex, u.Status)
	}
	for _, b := range ex.queued {
		ex.deliver(b)
	}
	ex.queued = nil
	if ex.shuttingDown {
		s.send(&executorpb.Event{Type: executorpb.Event_SHUTDOWN})
	}
	c.log.Info("executor subscribed", "executor", ex.id, "framework", ex.fwID, "agent", a.id)
	c.mu.Unlock()

	err := s.serve(r.Context(), w, codec, nil, executorHeartbeat, c.cfg.HeartbeatInterval)

	c.mu.Lock()
	defer c.mu.Unlock()
	if ex.stream != s {
		return
	}
	ex.stream = nil
	c.log.Info("executor disconnected", "executor", ex.id, "framework", ex.fwID, "err", err)
	// Mesos shuts down the executors of frameworks that do not checkpoint
	// when they disconnect: nothing could recover them. Give an exiting
	// process a moment first, so that its own exit status is reported.
	if a.running && !ex.exited && !ex.fw.checkpoint() {
		c.afterFunc(disconnectedExecutorGrace, func() {
			if ex.stream == nil && !ex.exited && a.running {
				c.shutdownExecutor(ex)
			}
		})
	}
}

// disconnectedExecutorGrace is how long a disconnected executor of a
// framework without checkpointing may live before it is shut down.
const disconnectedExecutorGrace = time.Second

func executorHeartbeat() encoding.Marshaler {
	return &executorpb.Event{Type: executorpb.Event_HEARTBEAT}
}

// executorUpdate takes a status update from an executor and acknowledges
// it to the executor once the agent has it.
func (c *Cluster) executorUpdate(ex *executor, st mesos.TaskStatus) {
	t := ex.tasks[st.TaskID.Value]
	if t != nil {
		st.AgentID = &mesos.AgentID{Value: ex.agent.id}
		if st.ExecutorID == nil {
			st.ExecutorID = &mesos.ExecutorID{Value: ex.id}
		}
		if st.Timestamp == nil {
			st.Timestamp = nowSeconds()
		}
		st.Source = mesos.SOURCE_EXECUTOR.Enum()
		c.statusUpdate(t, st)
	} else {
		c.log.Warn("status update for a task the executor does not run ignored", "task", st.TaskID.Value, "executor", ex.id)
	}
	if ex.stream != nil {
		ex.stream.send(&executorpb.Event{Type: executorpb.Event_ACKNOWLEDGED, Acknowledged: &executorpb.Event_Acknowledged{
			TaskID: st.TaskID, UUID: st.UUID,
		}})
	}
}
