package zkstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/go-zookeeper/zk"
)

// Errors callers test with errors.Is. Returned errors wrap them with the
// operation and the node path.
var (
	// ErrNotFound: the node (instance, master, ...) does not exist.
	ErrNotFound = errors.New("not found")
	// ErrExists: a create found the node already there.
	ErrExists = errors.New("already exists")
	// ErrConflict: a compare-and-set write saw another version (someone
	// else wrote first), or a port is owned by another instance.
	ErrConflict = errors.New("conflict: changed by someone else")
	// ErrUnavailable: ZooKeeper did not answer in time or the connection
	// is down; the call may be retried.
	ErrUnavailable = errors.New("zookeeper unavailable")
	// ErrNoPorts: every port of the range is reserved.
	ErrNoPorts = errors.New("no free port")
)

// Config says where ZooKeeper is and how patient to be with it.
type Config struct {
	Servers        []string      // "host:port"
	Root           string        // default "/mrredis"
	SessionTimeout time.Duration // default 10s
	ConnectTimeout time.Duration // default 10s: Open fails after this
	OpTimeout      time.Duration // default 5s: each call fails with ErrUnavailable after this
	Digest         string        // optional "user:password": only this identity may write; the world may read
	Logger         *slog.Logger

	envErr error // bad MRR_ZK* values seen by RegisterFlags; see EnvErr
}

func (c Config) withDefaults() Config {
	if c.Root == "" {
		c.Root = DefaultRoot
	}
	if c.SessionTimeout <= 0 {
		c.SessionTimeout = 10 * time.Second
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = 10 * time.Second
	}
	if c.OpTimeout <= 0 {
		c.OpTimeout = 5 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Store is a connection to ZooKeeper holding mrredis' records under one
// root. It is safe for concurrent use.
type Store struct {
	cfg  Config
	log  *slog.Logger
	conn *zk.Conn
	acl  []zk.ACL

	closeOnce sync.Once
	closed    chan struct{}
	resync    chan struct{}
	connReady chan struct{} // closed once conn is set: events may come before

	mu           sync.Mutex
	sessionID    int64         // current session, 0 while none
	expired      bool          // the last session expired; the next one is new
	closing      bool          // Close was called: state changes are expected
	connected    bool          // has a session right now
	disconnSince time.Time     // when the session was last lost, if !connected
	stateCh      chan struct{} // closed and replaced on every session event
	leaderships  map[*Leadership]struct{}
	candidates   map[string]struct{} // leader nodes of campaigns in progress
}

// Open connects to ZooKeeper, waits for a session and creates the root
// layout. It fails within cfg.ConnectTimeout (or when ctx ends) if no
// server answers.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	cfg = cfg.withDefaults()
	if len(cfg.Servers) == 0 {
		return nil, fmt.Errorf("open zookeeper: no servers given")
	}
	if err := validateRoot(cfg.Root); err != nil {
		return nil, fmt.Errorf("open zookeeper: %w", err)
	}
	s := &Store{
		cfg:         cfg,
		log:         cfg.Logger.With("component", "zkstore"),
		closed:      make(chan struct{}),
		resync:      make(chan struct{}, 1),
		connReady:   make(chan struct{}),
		stateCh:     make(chan struct{}),
		leaderships: map[*Leadership]struct{}{},
		candidates:  map[string]struct{}{},
		acl:         zk.WorldACL(zk.PermAll),
	}
	var user, pass string
	if cfg.Digest != "" {
		var ok bool
		user, pass, ok = strings.Cut(cfg.Digest, ":")
		if !ok || user == "" {
			return nil, fmt.Errorf("open zookeeper: digest must be user:password")
		}
		s.acl = append(zk.DigestACL(zk.PermAll, user, pass), zk.WorldACL(zk.PermRead)...)
	}

	conn, _, err := zk.Connect(cfg.Servers, cfg.SessionTimeout,
		zk.WithLogger(zkLogger{s.log}), zk.WithLogInfo(false), zk.WithEventCallback(s.onEvent))
	if err != nil {
		return nil, fmt.Errorf("open zookeeper %s: %w", strings.Join(cfg.Servers, ","), err)
	}
	s.conn = conn
	close(s.connReady)

	wait, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout)
	defer cancel()
	for {
		s.mu.Lock()
		ok, ch := s.connected, s.stateCh
		s.mu.Unlock()
		if ok {
			break
		}
		select {
		case <-ch:
		case <-wait.Done():
			s.abort()
			if ctx.Err() != nil {
				return nil, fmt.Errorf("open zookeeper %s: %w", strings.Join(cfg.Servers, ","), ctx.Err())
			}
			return nil, fmt.Errorf("open zookeeper %s: %w: no session within %s (is ZooKeeper running and reachable?)",
				strings.Join(cfg.Servers, ","), ErrUnavailable, cfg.ConnectTimeout)
		}
	}
	if cfg.Digest != "" {
		if _, err := call(ctx, s, func() (struct{}, error) {
			return struct{}{}, conn.AddAuth("digest", []byte(user+":"+pass))
		}); err != nil {
			s.abort()
			return nil, fmt.Errorf("open zookeeper: add digest auth: %w", wrap(err))
		}
	}
	for _, p := range []string{s.cfg.Root, s.path("framework"), s.path("leader"), s.path("instances"), s.path("ports")} {
		if err := s.ensurePath(ctx, p); err != nil {
			s.abort()
			return nil, fmt.Errorf("open zookeeper: create layout: %w", err)
		}
	}
	s.log.Debug("zookeeper session established", "servers", cfg.Servers, "root", cfg.Root)
	return s, nil
}

// Close gives up leadership, removes this process' election nodes at once
// (so that a follower takes over without waiting for the session timeout)
// and closes the session. Watch channels close.
func (s *Store) Close() {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		ls := make([]*Leadership, 0, len(s.leaderships))
		for l := range s.leaderships {
			ls = append(ls, l)
		}
		cands := make([]string, 0, len(s.candidates))
		for p := range s.candidates {
			cands = append(cands, p)
		}
		connected := s.connected
		s.mu.Unlock()
		// One deadline for all deletes, and none at all while cut off:
		// Close must not hang during an outage.
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.OpTimeout)
		if !connected {
			cancel()
		}
		for _, l := range ls {
			_ = l.resign(ctx)
		}
		for _, p := range cands {
			_ = s.deleteNode(ctx, p)
		}
		cancel()
		s.abort()
	})
}

// abort closes the connection without further requests.
func (s *Store) abort() {
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	select {
	case <-s.closed:
	default:
		close(s.closed)
	}
	s.conn.Close()
}

// Resync delivers a value after the session expired and a new one was
// established: every watch was lost and ephemeral nodes are gone, so the
// caller re-reads everything. The same channel is returned on every call
// and holds at most one pending value: use one consumer per Store. The
// watches of this package (WatchInstances, WatchMaster) re-arm by themselves.
func (s *Store) Resync() <-chan struct{} { return s.resync }

// Connected reports whether the store has a live session right now (for
// health checks and metrics; calls do not need to check it).
func (s *Store) Connected() bool {
	_, ok, _, _ := s.session()
	return ok
}

// Root is the root path the store works under.
func (s *Store) Root() string { return s.cfg.Root }

// onEvent runs on the library's connection goroutine: it must not block.
func (s *Store) onEvent(ev zk.Event) {
	if ev.Type != zk.EventSession {
		return
	}
	<-s.connReady
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return
	}
	switch ev.State {
	case zk.StateHasSession:
		sid := s.conn.SessionID()
		expired := s.expired || s.sessionID != 0 && sid != s.sessionID
		if expired {
			s.log.Info("zookeeper session re-established with a new session", "session", fmt.Sprintf("%#x", sid))
		} else if !s.connected && s.sessionID != 0 {
			s.log.Info("zookeeper connection restored", "session", fmt.Sprintf("%#x", sid))
		}
		s.sessionID, s.connected, s.expired = sid, true, false
		if expired {
			select {
			case s.resync <- struct{}{}:
			default:
			}
		}
	case zk.StateExpired:
		s.log.Warn("zookeeper session expired: watches and ephemeral nodes are gone; reconnecting with a new session")
		s.connected, s.expired, s.sessionID = false, true, 0
	case zk.StateDisconnected, zk.StateConnecting:
		if s.connected {
			s.log.Warn("zookeeper connection lost; reconnecting", "server", ev.Server)
			s.disconnSince = time.Now()
		}
		s.connected = false
	case zk.StateAuthFailed:
		s.log.Error("zookeeper authentication failed")
	default:
		return
	}
	close(s.stateCh)
	s.stateCh = make(chan struct{})
}

// session returns the session state and a channel closed at the next change.
func (s *Store) session() (sid int64, connected bool, since time.Time, changed <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessionID, s.connected, s.disconnSince, s.stateCh
}

// path joins the root and the given parts.
func (s *Store) path(parts ...string) string {
	return s.cfg.Root + "/" + strings.Join(parts, "/")
}

// ensurePath creates p and its missing ancestors.
func (s *Store) ensurePath(ctx context.Context, p string) error {
	cur := ""
	for _, part := range strings.Split(strings.TrimPrefix(p, "/"), "/") {
		cur += "/" + part
		ok, err := call(ctx, s, func() (bool, error) {
			ok, _, err := s.conn.Exists(cur)
			return ok, err
		})
		if err != nil {
			return opErr("check", cur, err)
		}
		if ok {
			continue // also spares a create that a digest ACL would refuse
		}
		_, err = call(ctx, s, func() (string, error) { return s.conn.Create(cur, nil, 0, s.acl) })
		if err != nil && !errors.Is(err, zk.ErrNodeExists) {
			return opErr("create", cur, err)
		}
	}
	return nil
}

// deleteNode deletes p (any version); an absent node is no error.
func (s *Store) deleteNode(ctx context.Context, p string) error {
	_, err := call(ctx, s, func() (struct{}, error) { return struct{}{}, s.conn.Delete(p, -1) })
	if err != nil && !errors.Is(err, zk.ErrNoNode) {
		return opErr("delete", p, err)
	}
	return nil
}

// errTimeout marks a call that got no answer within OpTimeout.
var errTimeout = errors.New("no answer in time")

// call runs one ZooKeeper request and bounds its wait: go-zookeeper's calls
// can block while it reconnects. A request that times out goes on in the
// background and its result is dropped.
func call[T any](ctx context.Context, s *Store, fn func() (T, error)) (T, error) {
	var zero T
	select {
	case <-s.closed:
		return zero, fmt.Errorf("%w: store is closed", ErrUnavailable)
	default:
	}
	if err := ctx.Err(); err != nil {
		return zero, err
	}
	type result struct {
		v   T
		err error
	}
	ch := make(chan result, 1)
	go func() {
		v, err := fn()
		ch <- result{v, err}
	}()
	t := time.NewTimer(s.cfg.OpTimeout)
	defer t.Stop()
	select {
	case r := <-ch:
		return r.v, r.err
	case <-ctx.Done():
		return zero, ctx.Err()
	case <-t.C:
		return zero, fmt.Errorf("%w: %w after %s", ErrUnavailable, errTimeout, s.cfg.OpTimeout)
	case <-s.closed:
		return zero, fmt.Errorf("%w: store is closed", ErrUnavailable)
	}
}

// wrap maps go-zookeeper errors onto this package's errors, keeping the
// original text.
func wrap(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrUnavailable), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	case errors.Is(err, zk.ErrNoNode):
		return fmt.Errorf("%w (%v)", ErrNotFound, err)
	case errors.Is(err, zk.ErrNodeExists):
		return fmt.Errorf("%w (%v)", ErrExists, err)
	case errors.Is(err, zk.ErrBadVersion):
		return fmt.Errorf("%w (%v)", ErrConflict, err)
	case errors.Is(err, zk.ErrNoServer), errors.Is(err, zk.ErrConnectionClosed), errors.Is(err, zk.ErrSessionExpired),
		errors.Is(err, zk.ErrClosing), errors.Is(err, zk.ErrSessionMoved):
		return fmt.Errorf("%w (%v)", ErrUnavailable, err)
	case errors.Is(err, zk.ErrNoAuth):
		return fmt.Errorf("not allowed to write: the node is protected by a digest ACL (%v)", err)
	}
	return err
}

// opErr wraps err with the operation and path: "get /mrredis/x: not found (...)".
func opErr(op, path string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s %s: %w", op, path, wrap(err))
}

// zkLogger routes go-zookeeper's log lines to slog at debug level: the
// library logs every reconnect attempt, and the store reports session
// changes itself.
type zkLogger struct{ log *slog.Logger }

func (l zkLogger) Printf(format string, args ...any) {
	l.log.Debug("zk: " + fmt.Sprintf(format, args...))
}
