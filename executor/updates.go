package executor

import (
	"context"
	"crypto/rand"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/executor"
	"github.com/mesos/mesos-go/api/v1/lib/executor/calls"
)

// callTimeout bounds one UPDATE or MESSAGE call to the agent.
const callTimeout = 5 * time.Second

// pendingUpdate is a status update the agent has not acknowledged yet.
// Mesos executors must keep these and hand them back in a re-SUBSCRIBE
// after losing the agent; until then the agent may not have them.
type pendingUpdate struct {
	update executor.Call_Update
	// sent: the agent accepted the UPDATE call (or a SUBSCRIBE carrying
	// it). Unsent updates are retried, in order, while connected.
	sent bool
	// inSubscribe: carried by the SUBSCRIBE in flight.
	inSubscribe bool
}

// updateQueue holds the unacknowledged updates in the order they were
// made; the agent wants each task's updates in order.
type updateQueue struct {
	list []*pendingUpdate
}

func (q *updateQueue) add(u executor.Call_Update) *pendingUpdate {
	p := &pendingUpdate{update: u}
	q.list = append(q.list, p)
	return p
}

// ack removes the update with uuid; it reports the task it was for.
func (q *updateQueue) ack(uuid []byte) (mesos.TaskID, bool) {
	for i, p := range q.list {
		if string(p.update.Status.UUID) == string(uuid) {
			q.list = append(q.list[:i], q.list[i+1:]...)
			return p.update.Status.TaskID, true
		}
	}
	return mesos.TaskID{}, false
}

// pendingFor reports whether task has unacknowledged updates.
func (q *updateQueue) pendingFor(task string) bool {
	for _, p := range q.list {
		if p.update.Status.TaskID.Value == task {
			return true
		}
	}
	return false
}

// forSubscribe returns every unacknowledged update and marks them as
// carried by the SUBSCRIBE about to be sent.
func (q *updateQueue) forSubscribe() []executor.Call_Update {
	out := make([]executor.Call_Update, 0, len(q.list))
	for _, p := range q.list {
		p.inSubscribe = true
		out = append(out, p.update)
	}
	return out
}

// subscribed records that the agent took the updates the SUBSCRIBE
// carried.
func (q *updateQueue) subscribed() {
	for _, p := range q.list {
		if p.inSubscribe {
			p.sent, p.inSubscribe = true, false
		}
	}
}

// disconnected forgets which updates a failed SUBSCRIBE carried.
func (q *updateQueue) disconnected() {
	for _, p := range q.list {
		p.inSubscribe = false
	}
}

// flush sends the unsent updates in order. After a failure it sends no
// later update of the same task, so the agent never sees them reordered.
func (q *updateQueue) flush(ctx context.Context, cli calls.Sender) error {
	var firstErr error
	blocked := map[string]bool{}
	for _, p := range q.list {
		id := p.update.Status.TaskID.Value
		if p.sent || blocked[id] {
			continue
		}
		if err := sendCall(ctx, cli, &executor.Call{Type: executor.Call_UPDATE, Update: &p.update}); err != nil {
			blocked[id] = true
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		p.sent = true
	}
	return firstErr
}

// sendCall sends one non-streaming call and closes its response.
func sendCall(ctx context.Context, cli calls.Sender, call *executor.Call) error {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	resp, err := cli.Send(ctx, calls.NonStreaming(call))
	if resp != nil {
		resp.Close()
	}
	return err
}

// newStatus builds a status from this executor with a fresh uuid.
func newStatus(task mesos.TaskID, exec mesos.ExecutorID, state mesos.TaskState, msg string, data []byte) mesos.TaskStatus {
	uuid := make([]byte, 16)
	_, _ = rand.Read(uuid)
	uuid[6] = uuid[6]&0x0f | 0x40 // version 4
	uuid[8] = uuid[8]&0x3f | 0x80 // RFC 4122 variant
	now := float64(time.Now().UnixNano()) / 1e9
	s := mesos.TaskStatus{
		TaskID:     task,
		State:      state.Enum(),
		Source:     mesos.SOURCE_EXECUTOR.Enum(),
		ExecutorID: &exec,
		UUID:       uuid,
		Timestamp:  &now,
		Data:       data,
	}
	if msg != "" {
		s.Message = &msg
	}
	return s
}
