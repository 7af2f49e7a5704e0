package client

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mrredis/mrredis/internal/model"
)

// StateError means an instance reached a state it will not leave by
// itself on the way to RUNNING: FAILED, DELETING or gone.
type StateError struct {
	Name   string
	State  model.State // DELETED when the instance is gone
	Reason string
}

func (e *StateError) Error() string {
	switch {
	case e.State == model.StateDeleted:
		return fmt.Sprintf("instance %s was deleted while waiting for it", e.Name)
	case e.Reason != "":
		return fmt.Sprintf("instance %s is %s: %s", e.Name, e.State, e.Reason)
	}
	return fmt.Sprintf("instance %s is %s", e.Name, e.State)
}

// Ready reports whether v is RUNNING with all its replicas in sync, which
// is what Wait waits for.
func Ready(v model.InstanceView) bool {
	return v.State == model.StateRunning && v.ReplicasInSync >= v.Replicas
}

// Wait returns when the instance is RUNNING with all its replicas in sync.
// It follows the event stream, calls progress (if not nil) with every new
// view of the instance, and rides out scheduler restarts by reconnecting.
// It fails with a *StateError if the instance becomes FAILED or DELETING or
// is deleted, with the Get error if the instance does not exist at the
// start, and with a *NotReadyError wrapping ctx.Err() when ctx ends first.
func (c *Client) Wait(ctx context.Context, name string, progress func(model.InstanceView)) (model.InstanceView, error) {
	v, err := c.Get(ctx, name)
	if err != nil {
		return v, err
	}
	see := func(nv model.InstanceView) (bool, error) {
		v = nv
		if progress != nil {
			progress(nv)
		}
		switch {
		case Ready(nv):
			return true, nil
		case nv.State == model.StateFailed, nv.State == model.StateDeleting, nv.State == model.StateDeleted:
			return true, &StateError{Name: name, State: nv.State, Reason: nv.Reason}
		}
		return false, nil
	}
	if done, err := see(v); done {
		return v, err
	}
	const maxBackoff = time.Second
	backoff := 100 * time.Millisecond
	for {
		done, err := c.followEvents(ctx, name, see)
		if done {
			return v, err
		}
		if ctx.Err() != nil {
			return v, c.waitTimeout(ctx, v)
		}
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return v, c.waitTimeout(ctx, v)
		}
		backoff = min(2*backoff, maxBackoff)
		// The stream is down or unsupported: look directly, in case it
		// stays down.
		nv, err := c.Get(ctx, name)
		switch {
		case err == nil:
			if done, err := see(nv); done {
				return v, err
			}
		case IsNotFound(err):
			return v, &StateError{Name: name, State: model.StateDeleted}
		case ctx.Err() != nil:
			return v, c.waitTimeout(ctx, v)
		}
	}
}

// followEvents feeds the instance's events to see until see says done or
// the stream ends.
func (c *Client) followEvents(ctx context.Context, name string, see func(model.InstanceView) (bool, error)) (bool, error) {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops the stream's goroutine when we return early
	events, err := c.Events(sctx)
	if err != nil {
		return false, nil
	}
	for ev := range events {
		if ev.Name != name {
			continue
		}
		switch ev.Kind {
		case model.EventInstance:
			if ev.Instance != nil {
				if done, err := see(*ev.Instance); done {
					return true, err
				}
			}
		case model.EventDeleted:
			return true, &StateError{Name: name, State: model.StateDeleted}
		}
	}
	return false, nil
}

// NotReadyError means Wait gave up because its context ended first. It
// wraps the context's error, so errors.Is(err, context.DeadlineExceeded)
// tells a timeout.
type NotReadyError struct {
	View model.InstanceView // the last view seen
	Err  error
}

func (e *NotReadyError) Error() string {
	v := e.View
	msg := fmt.Sprintf("instance %s is not ready: it is %s with %d of %d replicas in sync", v.Name, v.State, v.ReplicasInSync, v.Replicas)
	if v.Reason != "" {
		msg += " (" + v.Reason + ")"
	}
	return msg
}

func (e *NotReadyError) Unwrap() error { return e.Err }

func (c *Client) waitTimeout(ctx context.Context, v model.InstanceView) error {
	cause := ctx.Err()
	if c := context.Cause(ctx); c != nil && !errors.Is(c, cause) {
		cause = fmt.Errorf("%w: %w", cause, c)
	}
	return &NotReadyError{View: v, Err: cause}
}
