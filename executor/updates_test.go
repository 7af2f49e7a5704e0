package executor

import (
	"context"
	"errors"
	"testing"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/executor"
	"github.com/mesos/mesos-go/api/v1/lib/executor/calls"
)

// recordingSender records UPDATE calls and fails those whose task is in fail.
type recordingSender struct {
	sent []string
	fail map[string]bool
}

func (r *recordingSender) Send(_ context.Context, req calls.Request) (mesos.Response, error) {
	st := req.Call().Update.Status
	id := st.TaskID.Value + ":" + st.State.String()
	if r.fail[st.TaskID.Value] {
		return nil, errors.New("agent unreachable")
	}
	r.sent = append(r.sent, id)
	return nil, nil
}

func queued(q *updateQueue, task string, state mesos.TaskState) executor.Call_Update {
	u := executor.Call_Update{Status: newStatus(mesos.TaskID{Value: task}, mesos.ExecutorID{Value: "e"}, state, "", nil)}
	q.add(u)
	return u
}

func TestUpdateQueueKeepsOrderPerTask(t *testing.T) {
	var q updateQueue
	s := &recordingSender{fail: map[string]bool{"a": true}}
	queued(&q, "a", mesos.TASK_STARTING)
	queued(&q, "b", mesos.TASK_STARTING)
	queued(&q, "a", mesos.TASK_RUNNING)
	if err := q.flush(context.Background(), s); err == nil {
		t.Fatal("flush hid a failed send")
	}
	// b went out; a's RUNNING must not overtake its unsent STARTING.
	if got := s.sent; len(got) != 1 || got[0] != "b:TASK_STARTING" {
		t.Fatalf("sent %v, want only b:TASK_STARTING", got)
	}
	s.fail = nil
	if err := q.flush(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	want := []string{"b:TASK_STARTING", "a:TASK_STARTING", "a:TASK_RUNNING"}
	if len(s.sent) != 3 || s.sent[1] != want[1] || s.sent[2] != want[2] {
		t.Fatalf("sent %v, want %v", s.sent, want)
	}
	if err := q.flush(context.Background(), s); err != nil || len(s.sent) != 3 {
		t.Fatalf("a second flush resent updates: %v %v", s.sent, err)
	}
}

func TestUpdateQueueSubscribeAndAck(t *testing.T) {
	var q updateQueue
	a1 := queued(&q, "a", mesos.TASK_STARTING)
	queued(&q, "a", mesos.TASK_RUNNING)
	if got := q.forSubscribe(); len(got) != 2 {
		t.Fatalf("subscribe carries %d updates, want 2", len(got))
	}
	late := queued(&q, "b", mesos.TASK_STARTING) // made while the SUBSCRIBE was in flight
	q.subscribed()
	s := &recordingSender{}
	if err := q.flush(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	if len(s.sent) != 1 || s.sent[0] != "b:TASK_STARTING" {
		t.Fatalf("after SUBSCRIBED sent %v, want only the update the SUBSCRIBE did not carry", s.sent)
	}
	if id, ok := q.ack(a1.Status.UUID); !ok || id.Value != "a" {
		t.Fatalf("ack: %v %v", id, ok)
	}
	if _, ok := q.ack(a1.Status.UUID); ok {
		t.Error("an update was acknowledged twice")
	}
	if !q.pendingFor("a") || !q.pendingFor("b") {
		t.Error("unacknowledged updates lost")
	}
	q.ack(late.Status.UUID)
	if q.pendingFor("b") {
		t.Error("acknowledged update still pending")
	}
	if len(q.forSubscribe()) != 1 {
		t.Error("a re-subscribe must carry exactly the unacknowledged update")
	}
}

func TestNewStatusUUID(t *testing.T) {
	a := newStatus(mesos.TaskID{Value: "t"}, mesos.ExecutorID{Value: "e"}, mesos.TASK_RUNNING, "m", []byte("d"))
	b := newStatus(mesos.TaskID{Value: "t"}, mesos.ExecutorID{Value: "e"}, mesos.TASK_RUNNING, "", nil)
	if len(a.UUID) != 16 || string(a.UUID) == string(b.UUID) {
		t.Errorf("uuids %x %x: want 16 distinct bytes", a.UUID, b.UUID)
	}
	if a.GetSource() != mesos.SOURCE_EXECUTOR || a.GetMessage() != "m" || b.Message != nil || a.Timestamp == nil {
		t.Errorf("status %+v", a)
	}
}
