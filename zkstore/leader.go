package zkstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-zookeeper/zk"
)

// Leadership is held by the process whose election node under leader/ has
// the lowest sequence number.
type Leadership struct {
	s    *Store
	path string

	lost     chan struct{}
	lostOnce sync.Once
	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{} // monitor exited
}

// Campaign joins the election under leader/ with an ephemeral sequential
// node holding data (e.g. this candidate's API URL) and blocks until this
// process leads or ctx ends. Each candidate watches only its predecessor,
// so a leader change wakes one process. If the session expires while
// waiting, Campaign enters again with a new node.
func (s *Store) Campaign(ctx context.Context, data string) (*Leadership, error) {
	var tok [8]byte
	if _, err := rand.Read(tok[:]); err != nil {
		return nil, fmt.Errorf("campaign: %w", err)
	}
	dir := s.path("leader")
	prefix := "n_" + hex.EncodeToString(tok[:]) + "_"
	mine := "" // our node's name, once created
	giveUp := func(err error) (*Leadership, error) {
		if mine != "" {
			p := dir + "/" + mine
			dctx, cancel := context.WithTimeout(context.Background(), s.cfg.OpTimeout)
			_ = s.deleteNode(dctx, p)
			cancel()
			s.mu.Lock()
			delete(s.candidates, p)
			s.mu.Unlock()
		}
		return nil, fmt.Errorf("campaign: %w", err)
	}
	backoff := 50 * time.Millisecond
	retry := func() bool {
		_, _, _, changed := s.session()
		t := time.NewTimer(backoff)
		defer t.Stop()
		backoff = min(2*backoff, time.Second)
		select {
		case <-ctx.Done():
			return false
		case <-s.closed:
			return false
		case <-changed:
		case <-t.C:
		}
		return true
	}
	for {
		if ctx.Err() != nil {
			return giveUp(ctx.Err())
		}
		if s.isClosed() {
			return giveUp(fmt.Errorf("%w: store is closed", ErrUnavailable))
		}
		sid, _, _, _ := s.session()
		kids, err := s.children(ctx, dir)
		if err != nil {
			if !retry() {
				return giveUp(err)
			}
			continue
		}
		kids = sortCandidates(kids)
		// Adopt our node if a create whose answer we lost did happen.
		idx := slices.IndexFunc(kids, func(k string) bool { return strings.HasPrefix(k, prefix) })
		if idx < 0 {
			got, err := s.create(ctx, dir+"/"+prefix, []byte(data), zk.FlagEphemeral|zk.FlagSequence)
			if err != nil {
				if !retry() {
					return giveUp(err)
				}
				continue
			}
			s.mu.Lock()
			if mine != "" {
				delete(s.candidates, dir+"/"+mine) // gone with an expired session
			}
			s.candidates[got] = struct{}{}
			s.mu.Unlock()
			mine = got[strings.LastIndex(got, "/")+1:]
			continue
		}
		mine = kids[idx]
		me := dir + "/" + mine
		// A create that timed out may still have happened after a retry
		// made another node: keep the first, delete the others, which
		// would otherwise block the election once we leave.
		for _, k := range kids[idx+1:] {
			if strings.HasPrefix(k, prefix) {
				_ = s.deleteNode(ctx, dir+"/"+k)
				s.mu.Lock()
				delete(s.candidates, dir+"/"+k)
				s.mu.Unlock()
			}
		}
		s.mu.Lock()
		s.candidates[me] = struct{}{}
		s.mu.Unlock()
		if idx == 0 {
			l := &Leadership{s: s, path: me, lost: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{})}
			s.mu.Lock()
			delete(s.candidates, me)
			s.leaderships[l] = struct{}{}
			s.mu.Unlock()
			go l.monitor(sid)
			s.log.Info("elected leader", "node", me)
			return l, nil
		}
		pred := dir + "/" + kids[idx-1]
		type res struct {
			ok bool
			ev <-chan zk.Event
		}
		r, err := call(ctx, s, func() (res, error) {
			ok, _, ev, err := s.conn.ExistsW(pred)
			return res{ok, ev}, err
		})
		if err != nil {
			if !retry() {
				return giveUp(err)
			}
			continue
		}
		backoff = 50 * time.Millisecond
		if !r.ok {
			continue
		}
		select {
		case <-ctx.Done():
		case <-s.closed:
		case <-r.ev: // predecessor gone (or watch lost): look again
		}
	}
}

// sortCandidates keeps the election node names and sorts them by sequence
// number.
func sortCandidates(kids []string) []string {
	out := kids[:0]
	for _, k := range kids {
		if candidateSeq(k) >= 0 {
			out = append(out, k)
		}
	}
	slices.SortFunc(out, func(a, b string) int { return candidateSeq(a) - candidateSeq(b) })
	return out
}

// candidateSeq is the sequence number ZooKeeper appended to "n_<token>_",
// or -1 for a node that is not an election node.
func candidateSeq(name string) int {
	i := strings.LastIndex(name, "_")
	if !strings.HasPrefix(name, "n_") || i < 0 || len(name)-i-1 != 10 {
		return -1
	}
	n, err := strconv.Atoi(name[i+1:])
	if err != nil {
		return -1
	}
	return n
}

// Lost is closed when leadership is lost: the election node was deleted,
// the session expired, the connection has been down for more than half the
// session timeout (another candidate may take over soon), the store was
// closed, or Resign was called.
func (l *Leadership) Lost() <-chan struct{} { return l.lost }

// Resign gives up leadership and deletes the election node, so the next
// candidate takes over at once.
func (l *Leadership) Resign() error {
	ctx, cancel := context.WithTimeout(context.Background(), l.s.cfg.OpTimeout)
	defer cancel()
	return l.resign(ctx)
}

func (l *Leadership) resign(ctx context.Context) error {
	l.stopOnce.Do(func() { close(l.stop) })
	<-l.done
	l.markLost("resigned")
	if err := l.s.deleteNode(ctx, l.path); err != nil {
		return fmt.Errorf("resign: %w", err)
	}
	return nil
}

func (l *Leadership) markLost(why string) {
	l.lostOnce.Do(func() {
		l.s.log.Info("leadership ended", "node", l.path, "why", why)
		close(l.lost)
		l.s.mu.Lock()
		delete(l.s.leaderships, l)
		l.s.mu.Unlock()
	})
}

// monitor watches the election node and the session that created it (sid)
// and ends the leadership when either is gone.
func (l *Leadership) monitor(sid int64) {
	defer close(l.done)
	s := l.s
	grace := s.cfg.SessionTimeout / 2
	var ev <-chan zk.Event
	for {
		cur, connected, since, changed := s.session()
		if cur != sid {
			l.markLost("session expired")
			return
		}
		var timer <-chan time.Time
		if !connected {
			left := grace - time.Since(since)
			if left <= 0 {
				l.markLost("disconnected from zookeeper for " + grace.String())
				// If the session survives, our node would block every other
				// candidate: remove it once we can.
				go l.removeNode(sid)
				return
			}
			timer = time.After(left)
		} else if ev == nil {
			type res struct {
				ok bool
				ev <-chan zk.Event
			}
			ctx, cancel := context.WithCancel(context.Background())
			go func() {
				select {
				case <-l.stop:
				case <-ctx.Done():
				}
				cancel()
			}()
			r, err := call(ctx, s, func() (res, error) {
				ok, _, ev, err := s.conn.ExistsW(l.path)
				return res{ok, ev}, err
			})
			cancel()
			switch {
			case err == nil && !r.ok:
				l.markLost("election node deleted")
				return
			case err == nil:
				ev = r.ev
			default:
				timer = time.After(100 * time.Millisecond)
			}
		}
		select {
		case <-l.stop:
			return
		case <-s.closed:
			l.markLost("store closed")
			return
		case <-changed:
		case <-timer:
		case e := <-ev:
			ev = nil
			if e.Type == zk.EventNodeDeleted {
				l.markLost("election node deleted")
				return
			}
		}
	}
}

// removeNode deletes the election node of a leadership given up while
// disconnected, once the connection is back, unless the session (and with
// it the node) is gone.
func (l *Leadership) removeNode(sid int64) {
	s := l.s
	for {
		cur, connected, _, changed := s.session()
		if cur != sid || s.isClosed() {
			return
		}
		if connected {
			ctx, cancel := context.WithTimeout(context.Background(), s.cfg.OpTimeout)
			err := s.deleteNode(ctx, l.path)
			cancel()
			if err == nil {
				return
			}
		}
		select {
		case <-s.closed:
			return
		case <-changed:
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Leader returns the data of the current leader's election node.
// ErrNotFound when there is no candidate.
func (s *Store) Leader(ctx context.Context) (string, error) {
	dir := s.path("leader")
	for attempt := 0; attempt < 5; attempt++ {
		kids, err := s.children(ctx, dir)
		if err != nil {
			return "", err
		}
		kids = sortCandidates(kids)
		if len(kids) == 0 {
			return "", fmt.Errorf("leader %s: %w: no candidate", dir, ErrNotFound)
		}
		b, _, err := s.getData(ctx, dir+"/"+kids[0])
		if errors.Is(err, ErrNotFound) {
			continue // it just left: look again
		}
		if err != nil {
			return "", err
		}
		return string(b), nil
	}
	return "", fmt.Errorf("leader %s: %w: leadership keeps changing", dir, ErrUnavailable)
}
