package zkstore

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/mrredis/mrredis/internal/model"
)

// WatchInstances sends the sorted instance names at once and again after
// every change. The child watch is re-armed after every fire, after
// reconnects and after a session expiry. The channel closes when ctx ends
// or the store closes. Failed reads are retried and not sent.
func (s *Store) WatchInstances(ctx context.Context) <-chan []string {
	out := make(chan []string, 1)
	dir := s.path("instances")
	go func() {
		defer close(out)
		var last []string
		first := true
		s.watchLoop(ctx, func() (<-chan zk.Event, error) {
			type res struct {
				names []string
				ev    <-chan zk.Event
			}
			r, err := call(ctx, s, func() (res, error) {
				names, _, ev, err := s.conn.ChildrenW(dir)
				return res{names, ev}, err
			})
			if err != nil {
				s.log.Debug("watch instances: read failed; retrying", "err", opErr("watch", dir, err))
				return nil, err
			}
			slices.Sort(r.names)
			if first || !slices.Equal(last, r.names) {
				// The receiver owns what it gets: keep our own copy.
				if !send(ctx, s, out, slices.Clone(r.names)) {
					return nil, ctx.Err()
				}
				first, last = false, r.names
			}
			return r.ev, nil
		})
	}()
	return out
}

// watchNode is the loop behind WatchMaster and WatchReplicas: it sends
// decode's value of instances/<name>/<node> (at path p) at once and again
// after every change (as same judges), and errv of the error once when
// reads start failing; the next good read is sent even if unchanged. A
// node that does not decode counts as a failed read, but its watch stays
// armed for the next write. An invalid name is sent as the only value.
// The channel closes when ctx ends or the store closes.
func watchNode[T any](ctx context.Context, s *Store, name, node string,
	decode func(p string, data []byte, version int32, deleted bool) (T, error),
	errv func(error) T, same func(a, b T) bool) <-chan T {
	out := make(chan T, 1)
	p := s.instancePath(name, node)
	go func() {
		defer close(out)
		if err := model.ValidateName(name); err != nil {
			send(ctx, s, out, errv(fmt.Errorf("watch %s: %w", node, err)))
			return
		}
		var last T
		sent, failing := false, false
		s.watchLoop(ctx, func() (<-chan zk.Event, error) {
			data, version, deleted, ev, err := s.readNodeW(ctx, p)
			var v T
			if err == nil {
				v, err = decode(p, data, version, deleted)
			}
			if err != nil {
				if !failing {
					send(ctx, s, out, errv(err))
				}
				failing = true
				if ev != nil {
					return ev, nil // read but malformed: wait for the next write
				}
				return nil, err
			}
			if !sent || failing || !same(last, v) {
				if !send(ctx, s, out, v) {
					return nil, ctx.Err()
				}
				last, sent, failing = v, true, false
			}
			return ev, nil
		})
	}()
	return out
}

// watchLoop calls read until ctx ends or the store closes. read returns
// the watch it armed; the loop waits for it to fire and reads again. After
// a failed read it waits a growing backoff, or less if the session state
// changes (reconnected).
func (s *Store) watchLoop(ctx context.Context, read func() (<-chan zk.Event, error)) {
	const minBackoff, maxBackoff = 50 * time.Millisecond, time.Second
	backoff := minBackoff
	for {
		if ctx.Err() != nil || s.isClosed() {
			return
		}
		ev, err := read()
		if err != nil {
			_, _, _, changed := s.session()
			t := time.NewTimer(backoff)
			select {
			case <-ctx.Done():
			case <-s.closed:
			case <-changed:
			case <-t.C:
			}
			t.Stop()
			backoff = min(2*backoff, maxBackoff)
			continue
		}
		backoff = minBackoff
		select {
		case <-ctx.Done():
			return
		case <-s.closed:
			return
		case <-ev:
			// Fired, or lost (EventNotWatching after expiry or close): read again.
		}
	}
}

// send delivers v unless ctx ends or the store closes first.
func send[T any](ctx context.Context, s *Store, out chan<- T, v T) bool {
	select {
	case out <- v:
		return true
	case <-ctx.Done():
		return false
	case <-s.closed:
		return false
	}
}

func (s *Store) isClosed() bool {
	select {
	case <-s.closed:
		return true
	default:
		return false
	}
}
