package zkstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mrredis/mrredis/internal/model"
	"github.com/mrredis/mrredis/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// testLogger shows the store's logs in verbose test output. Lines
// written after t's cleanup started are dropped: t.Log must not be called
// after a test ends, and the library's goroutines may outlive it.
func testLogger(t *testing.T) *slog.Logger {
	w := &tWriter{t: t}
	t.Cleanup(func() { w.mu.Lock(); w.done = true; w.mu.Unlock() })
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type tWriter struct {
	t    *testing.T
	mu   sync.Mutex
	done bool
}

func (w *tWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimSpace(string(b)))
	}
	return len(b), nil
}

// openStore opens a store on the test ZooKeeper (or on servers, if given)
// under root, closed when t ends.
func openStore(t *testing.T, root string, mod func(*Config)) *Store {
	t.Helper()
	zk := testenv.ZooKeeper(t)
	cfg := Config{Servers: []string{zk.Addr()}, Root: root, SessionTimeout: 2 * time.Second,
		ConnectTimeout: 10 * time.Second, OpTimeout: 3 * time.Second, Logger: testLogger(t)}
	if mod != nil {
		mod(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := Open(ctx, cfg)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newInstance(name string) model.Instance {
	return model.Instance{Spec: model.Spec{Name: name, MemoryMB: 64, Replicas: 1},
		State: model.StateCreating, Created: time.Now().UTC().Truncate(time.Second)}
}

// recv waits for the next value of ch that satisfies ok, failing t after
// a deadline.
func recv[T any](t *testing.T, ch <-chan T, what string, ok func(T) bool) T {
	t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		select {
		case v, open := <-ch:
			if !open {
				t.Fatalf("%s: channel closed", what)
			}
			if ok(v) {
				return v
			}
		case <-deadline:
			t.Fatalf("%s: nothing after 15s", what)
		}
	}
}

func TestParseConnect(t *testing.T) {
	tests := []struct {
		in      string
		servers []string
		root    string
		err     string
	}{
		{in: "127.0.0.1:2181", servers: []string{"127.0.0.1:2181"}, root: "/mrredis"},
		{in: "h1:1,h2:2/chroot", servers: []string{"h1:1", "h2:2"}, root: "/chroot"},
		{in: "h1:1, h2:2/a/b", servers: []string{"h1:1", "h2:2"}, root: "/a/b"},
		{in: "zk", servers: []string{"zk:2181"}, root: "/mrredis"},
		{in: "[::1]:2181/x", servers: []string{"[::1]:2181"}, root: "/x"},
		{in: "", err: "empty"},
		{in: "h1:1,,h2:2", err: "empty server"},
		{in: "h1:99999", err: "port must be 1-65535"},
		{in: "h1:abc", err: "port must be 1-65535"},
		{in: ":2181", err: "no host"},
		{in: "h1:1/", err: "root \"/\" is invalid"},
		{in: "h1:1/a/", err: "trailing slash"},
		{in: "h1:1/a//b", err: "empty"},
		{in: "h1:1/a/../b", err: "\"..\""},
	}
	for _, tt := range tests {
		servers, root, err := ParseConnect(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseConnect(%q) error = %v, want it to contain %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseConnect(%q): %v", tt.in, err)
			continue
		}
		if !slices.Equal(servers, tt.servers) || root != tt.root {
			t.Errorf("ParseConnect(%q) = %v, %q; want %v, %q", tt.in, servers, root, tt.servers, tt.root)
		}
	}
}

func TestInstancesCAS(t *testing.T) {
	t.Parallel()
	root := testenv.Root(t)
	a, b := openStore(t, root, nil), openStore(t, root, nil)
	ctx := testCtx(t)

	if _, _, err := a.GetInstance(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get missing: %v, want ErrNotFound", err)
	}
	v, err := a.CreateInstance(ctx, newInstance("db1"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.CreateInstance(ctx, newInstance("db1")); !errors.Is(err, ErrExists) {
		t.Fatalf("create twice: %v, want ErrExists", err)
	}
	if _, err := a.CreateInstance(ctx, newInstance("Bad Name")); err == nil {
		t.Fatal("create with an invalid name succeeded")
	}
	if _, err := a.CreateInstance(ctx, newInstance("db0")); err != nil {
		t.Fatal(err)
	}
	names, err := b.ListInstances(ctx)
	if err != nil || !slices.Equal(names, []string{"db0", "db1"}) {
		t.Fatalf("list = %v, %v; want [db0 db1]", names, err)
	}

	// Both read version v; both write; exactly one wins and the loser's
	// data is not written.
	ia, va, err := a.GetInstance(ctx, "db1")
	if err != nil || va != v {
		t.Fatalf("get: version %d, %v; want %d", va, err, v)
	}
	ib, vb, _ := b.GetInstance(ctx, "db1")
	ia.State, ib.State = model.StateRunning, model.StateFailed
	nv, err := a.UpdateInstance(ctx, ia, va)
	if err != nil || nv != va+1 {
		t.Fatalf("update a: %d, %v", nv, err)
	}
	if _, err := b.UpdateInstance(ctx, ib, vb); !errors.Is(err, ErrConflict) {
		t.Fatalf("update b with stale version: %v, want ErrConflict", err)
	}
	if _, err := b.UpdateInstance(ctx, ib, -1); err == nil {
		t.Fatal("update with version -1 succeeded: it must never overwrite blindly")
	}
	got, gv, err := b.GetInstance(ctx, "db1")
	if err != nil || got.State != model.StateRunning || gv != nv {
		t.Fatalf("after conflict: state %s version %d err %v; want RUNNING %d", got.State, gv, err, nv)
	}
	if !got.Created.Equal(ia.Created) || got.MemoryMB != 64 {
		t.Fatalf("round trip lost fields: %+v", got)
	}
	if _, err := b.UpdateInstance(ctx, newInstance("gone"), 0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("update missing: %v, want ErrNotFound", err)
	}

	// Delete removes everything below the instance.
	if err := a.PutMember(ctx, "db1", model.Member{TaskID: "t1", Host: "h", Port: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.SetMaster(ctx, "db1", "h:1", -1); err != nil {
		t.Fatal(err)
	}
	if err := a.AddFailover(ctx, "db1", model.Failover{Cause: "test"}); err != nil {
		t.Fatal(err)
	}
	if err := b.DeleteInstance(ctx, "db1"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.GetMaster(ctx, "db1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("master after delete: %v, want ErrNotFound", err)
	}
	if err := b.DeleteInstance(ctx, "db1"); err != nil {
		t.Fatalf("delete absent instance: %v, want nil", err)
	}
	names, _ = a.ListInstances(ctx)
	if !slices.Equal(names, []string{"db0"}) {
		t.Fatalf("list after delete = %v", names)
	}
}

func TestMalformedJSON(t *testing.T) {
	t.Parallel()
	s := openStore(t, testenv.Root(t), nil)
	ctx := testCtx(t)
	if _, err := s.CreateInstance(ctx, newInstance("db")); err != nil {
		t.Fatal(err)
	}
	p := s.instancePath("db")
	if _, err := s.conn.Set(p, []byte("{not json"), -1); err != nil {
		t.Fatal(err)
	}
	_, _, err := s.GetInstance(ctx, "db")
	if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "malformed JSON") {
		t.Fatalf("get malformed: %v; want an error naming %s", err, p)
	}
	mp := s.instancePath("db", "members", "t1")
	if _, err := s.conn.Create(mp, []byte("[]"), 0, s.acl); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ListMembers(ctx, "db"); err == nil || !strings.Contains(err.Error(), mp) {
		t.Fatalf("list malformed member: %v; want an error naming %s", err, mp)
	}
}

func TestMembersFailoversFrameworkID(t *testing.T) {
	t.Parallel()
	s := openStore(t, testenv.Root(t), nil)
	ctx := testCtx(t)

	if id, err := s.FrameworkID(ctx); err != nil || id != "" {
		t.Fatalf("framework id before set = %q, %v", id, err)
	}
	for _, id := range []string{"fw-1", "fw-2"} {
		if err := s.SetFrameworkID(ctx, id); err != nil {
			t.Fatal(err)
		}
		if got, err := s.FrameworkID(ctx); err != nil || got != id {
			t.Fatalf("framework id = %q, %v; want %q", got, err, id)
		}
	}

	if err := s.PutMember(ctx, "nope", model.Member{TaskID: "t"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("put member of missing instance: %v, want ErrNotFound", err)
	}
	if _, err := s.CreateInstance(ctx, newInstance("db")); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"t3", "t1", "t2"} {
		if err := s.PutMember(ctx, "db", model.Member{TaskID: id, Host: "h", Port: 7000, Role: model.RoleReplica}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PutMember(ctx, "db", model.Member{TaskID: "t2", Host: "h", Port: 7000, Role: model.RoleMaster}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutMember(ctx, "db", model.Member{TaskID: "a/b"}); err == nil {
		t.Fatal("put member with '/' in its task id succeeded")
	}
	ms, err := s.ListMembers(ctx, "db")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range ms {
		ids = append(ids, m.TaskID)
	}
	if !slices.Equal(ids, []string{"t1", "t2", "t3"}) || ms[1].Role != model.RoleMaster {
		t.Fatalf("members = %+v", ms)
	}
	if err := s.DeleteMember(ctx, "db", "t1"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteMember(ctx, "db", "t1"); err != nil {
		t.Fatalf("delete absent member: %v", err)
	}
	if ms, _ := s.ListMembers(ctx, "db"); len(ms) != 2 {
		t.Fatalf("members after delete = %d, want 2", len(ms))
	}

	for i := range MaxFailovers + 5 {
		if err := s.AddFailover(ctx, "db", model.Failover{Cause: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	fs, err := s.ListFailovers(ctx, "db")
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != MaxFailovers || fs[0].Cause != "5" || fs[len(fs)-1].Cause != fmt.Sprint(MaxFailovers+4) {
		t.Fatalf("failovers: %d, first %q, last %q; want %d oldest first from 5", len(fs), fs[0].Cause, fs[len(fs)-1].Cause, MaxFailovers)
	}
}

func TestMasterCASAndWatch(t *testing.T) {
	t.Parallel()
	root := testenv.Root(t)
	a, b := openStore(t, root, nil), openStore(t, root, nil)
	ctx := testCtx(t)

	if _, err := a.SetMaster(ctx, "db", "h:1", -1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("set master of missing instance: %v, want ErrNotFound", err)
	}
	if _, err := a.CreateInstance(ctx, newInstance("db")); err != nil {
		t.Fatal(err)
	}
	w := b.WatchMaster(ctx, "db")
	recv(t, w, "initial", func(c MasterChange) bool { return c.Deleted })

	if _, err := a.SetMaster(ctx, "db", "nohost", -1); err == nil {
		t.Fatal("set master with an invalid address succeeded")
	}
	v, err := a.SetMaster(ctx, "db", "10.0.0.1:7000", -1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.SetMaster(ctx, "db", "10.0.0.9:7000", -1); !errors.Is(err, ErrExists) {
		t.Fatalf("create master twice: %v, want ErrExists", err)
	}
	recv(t, w, "create", func(c MasterChange) bool { return c.Addr == "10.0.0.1:7000" })

	// Several changes in a row: the watch re-arms after every fire.
	for i := 2; i <= 6; i++ {
		addr := fmt.Sprintf("10.0.0.%d:7000", i)
		nv, err := a.SetMaster(ctx, "db", addr, v)
		if err != nil {
			t.Fatalf("change %d: %v", i, err)
		}
		if _, err := b.SetMaster(ctx, "db", "10.9.9.9:1", v); !errors.Is(err, ErrConflict) {
			t.Fatalf("stale write %d: %v, want ErrConflict", i, err)
		}
		v = nv
		c := recv(t, w, addr, func(c MasterChange) bool { return c.Addr == addr })
		if c.Version != v {
			t.Fatalf("watched version %d, want %d", c.Version, v)
		}
	}
	if got, gv, err := b.GetMaster(ctx, "db"); err != nil || got != "10.0.0.6:7000" || gv != v {
		t.Fatalf("get master = %q %d %v", got, gv, err)
	}
	if _, err := b.ForceSetMaster(ctx, "db", "10.0.0.7:7000"); err != nil {
		t.Fatal(err)
	}
	recv(t, w, "forced", func(c MasterChange) bool { return c.Addr == "10.0.0.7:7000" })

	if err := a.DeleteInstance(ctx, "db"); err != nil {
		t.Fatal(err)
	}
	recv(t, w, "instance deleted", func(c MasterChange) bool { return c.Deleted })

	// Recreated: the watch still follows the name.
	if _, err := a.CreateInstance(ctx, newInstance("db")); err != nil {
		t.Fatal(err)
	}
	if _, err := a.ForceSetMaster(ctx, "db", "10.0.0.8:7000"); err != nil {
		t.Fatal(err)
	}
	recv(t, w, "recreated", func(c MasterChange) bool { return c.Addr == "10.0.0.8:7000" })

	wctx, cancel := context.WithCancel(ctx)
	w2 := b.WatchMaster(wctx, "db")
	recv(t, w2, "second watch", func(c MasterChange) bool { return c.Addr == "10.0.0.8:7000" })
	cancel()
	for range w2 {
	}
}

func TestWatchInstances(t *testing.T) {
	t.Parallel()
	root := testenv.Root(t)
	a, b := openStore(t, root, nil), openStore(t, root, nil)
	ctx := testCtx(t)
	w := b.WatchInstances(ctx)
	recv(t, w, "initial", func(n []string) bool { return len(n) == 0 })
	want := []string{}
	for _, name := range []string{"c", "a", "b"} {
		if _, err := a.CreateInstance(ctx, newInstance(name)); err != nil {
			t.Fatal(err)
		}
		want = append(want, name)
		slices.Sort(want)
		recv(t, w, "create "+name, func(n []string) bool { return slices.Equal(n, want) })
	}
	if err := a.DeleteInstance(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	recv(t, w, "delete b", func(n []string) bool { return slices.Equal(n, []string{"a", "c"}) })

	wctx, cancel := context.WithCancel(ctx)
	w2 := b.WatchInstances(wctx)
	recv(t, w2, "second watch", func(n []string) bool { return slices.Equal(n, []string{"a", "c"}) })
	cancel()
	for range w2 {
	} // closed when its context ends
}

func TestLeaderElection(t *testing.T) {
	t.Parallel()
	root := testenv.Root(t)
	ctx := testCtx(t)
	s1, s2, s3 := openStore(t, root, nil), openStore(t, root, nil), openStore(t, root, nil)

	if _, err := s1.Leader(ctx); !errors.Is(err, ErrNotFound) {
		t.Fatalf("leader before any campaign: %v, want ErrNotFound", err)
	}
	l1, err := s1.Campaign(ctx, "http://one")
	if err != nil {
		t.Fatal(err)
	}
	type won struct {
		l   *Leadership
		err error
	}
	campaign := func(s *Store, data string) chan won {
		ch := make(chan won, 1)
		go func() { l, err := s.Campaign(ctx, data); ch <- won{l, err} }()
		return ch
	}
	c2 := campaign(s2, "http://two")
	// Make sure two is queued before three, so the order is known.
	waitFor(t, "two queued", func() bool {
		kids, _ := s1.children(ctx, s1.path("leader"))
		return len(kids) == 2
	})
	c3 := campaign(s3, "http://three")
	waitFor(t, "three queued", func() bool {
		kids, _ := s1.children(ctx, s1.path("leader"))
		return len(kids) == 3
	})
	if d, err := s3.Leader(ctx); err != nil || d != "http://one" {
		t.Fatalf("leader = %q, %v; want http://one", d, err)
	}
	select {
	case w := <-c2:
		t.Fatalf("two won while one leads: %+v", w)
	case w := <-c3:
		t.Fatalf("three won while one leads: %+v", w)
	default:
	}

	// The leader's process goes away: two takes over at once.
	s1.Close()
	select {
	case <-l1.Lost():
	default:
		t.Fatal("one's leadership not lost after Close")
	}
	w2 := recv(t, c2, "two elected", func(won) bool { return true })
	if w2.err != nil {
		t.Fatal(w2.err)
	}
	if d, err := s3.Leader(ctx); err != nil || d != "http://two" {
		t.Fatalf("leader = %q, %v; want http://two", d, err)
	}
	select {
	case w := <-c3:
		t.Fatalf("three won while two leads: %+v", w)
	default:
	}

	// Two resigns: three takes over.
	if err := w2.l.Resign(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-w2.l.Lost():
	default:
		t.Fatal("two's leadership not lost after Resign")
	}
	w3 := recv(t, c3, "three elected", func(won) bool { return true })
	if w3.err != nil {
		t.Fatal(w3.err)
	}
	if d, err := s2.Leader(ctx); err != nil || d != "http://three" {
		t.Fatalf("leader = %q, %v; want http://three", d, err)
	}

	// Deleting the leader's node (an operator, say) ends its leadership.
	if err := s2.deleteNode(ctx, w3.l.path); err != nil {
		t.Fatal(err)
	}
	recv(t, asChan(w3.l.Lost()), "three lost after node deletion", func(struct{}) bool { return true })

	// A campaign gives up when its context ends and leaves no node behind.
	l2, err := s2.Campaign(ctx, "http://two-again")
	if err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if _, err := s3.Campaign(cctx, "http://three-again"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("campaign after ctx end: %v", err)
	}
	kids, _ := s2.children(ctx, s2.path("leader"))
	if len(kids) != 1 {
		t.Fatalf("election nodes after a cancelled campaign: %v, want only the leader's", kids)
	}
	_ = l2.Resign()
}

// asChan turns a closed-on-event channel into one that delivers a value.
func asChan(c <-chan struct{}) <-chan struct{} {
	out := make(chan struct{}, 1)
	go func() { <-c; out <- struct{}{} }()
	return out
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true after 15s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestReservePortContention(t *testing.T) {
	t.Parallel()
	root := testenv.Root(t)
	ctx := testCtx(t)
	const reservers, lo, hi = 50, 6100, 6159
	stores := make([]*Store, 5)
	for i := range stores {
		stores[i] = openStore(t, root, nil)
	}
	ports := make([]int, reservers)
	errs := make([]error, reservers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range reservers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			ports[i], errs[i] = stores[i%len(stores)].ReservePort(ctx, fmt.Sprintf("db%d", i), lo, hi)
		}()
	}
	close(start)
	wg.Wait()
	seen := map[int]int{}
	for i, p := range ports {
		if errs[i] != nil {
			t.Fatalf("reserver %d: %v", i, errs[i])
		}
		if p < lo || p > hi {
			t.Fatalf("reserver %d got %d, outside %d-%d", i, p, lo, hi)
		}
		if j, dup := seen[p]; dup {
			t.Fatalf("port %d given to both db%d and db%d", p, j, i)
		}
		seen[p] = i
	}
	// Lowest free first: 50 reservers fill exactly lo..lo+49.
	for p := lo; p < lo+reservers; p++ {
		if _, ok := seen[p]; !ok {
			t.Fatalf("port %d skipped: ports are not allocated lowest first", p)
		}
	}
	owners, err := stores[0].ListPorts(ctx)
	if err != nil || len(owners) != reservers || owners[ports[7]] != "db7" {
		t.Fatalf("list ports: %d entries, %v", len(owners), err)
	}
	// Idempotent.
	if p, err := stores[1].ReservePort(ctx, "db7", lo, hi); err != nil || p != ports[7] {
		t.Fatalf("reserve again = %d, %v; want %d", p, err, ports[7])
	}
	// Fill the rest, then the range is full.
	for i := reservers; i < hi-lo+1; i++ {
		if _, err := stores[0].ReservePort(ctx, fmt.Sprintf("db%d", i), lo, hi); err != nil {
			t.Fatal(err)
		}
	}
	_, err = stores[0].ReservePort(ctx, "late", lo, hi)
	if !errors.Is(err, ErrNoPorts) || !strings.Contains(err.Error(), "no free port in 6100-6159") {
		t.Fatalf("reserve in a full range: %v, want ErrNoPorts naming the range", err)
	}
	if p, err := stores[3].ReservePort(ctx, "db9", lo, hi); err != nil || p != ports[9] {
		t.Fatalf("reserve again in a full range = %d, %v; want %d", p, err, ports[9])
	}
	if _, err := stores[0].ReservePort(ctx, "late", 10, 5); err == nil {
		t.Fatal("reserve with lo > hi succeeded")
	}

	if err := stores[0].ReleasePort(ctx, ports[3], "db4"); !errors.Is(err, ErrConflict) {
		t.Fatalf("release someone else's port: %v, want ErrConflict", err)
	}
	if err := stores[0].ReleasePort(ctx, ports[3], "db3"); err != nil {
		t.Fatal(err)
	}
	if err := stores[0].ReleasePort(ctx, ports[3], "db3"); err != nil {
		t.Fatalf("release twice: %v", err)
	}
	if p, err := stores[2].ReservePort(ctx, "late", lo, hi); err != nil || p != ports[3] {
		t.Fatalf("reserve after release = %d, %v; want %d", p, err, ports[3])
	}
}

func TestDigestACL(t *testing.T) {
	t.Parallel()
	root := testenv.Root(t)
	ctx := testCtx(t)
	owner := openStore(t, root, func(c *Config) { c.Digest = "sched:secret" })
	if _, err := owner.CreateInstance(ctx, newInstance("db")); err != nil {
		t.Fatal(err)
	}
	reader := openStore(t, root, nil)
	if _, _, err := reader.GetInstance(ctx, "db"); err != nil {
		t.Fatalf("world read: %v", err)
	}
	_, err := reader.CreateInstance(ctx, newInstance("db2"))
	if err == nil || !strings.Contains(err.Error(), "not allowed") {
		t.Fatalf("write without the digest: %v, want a refusal", err)
	}
	other := openStore(t, root, func(c *Config) { c.Digest = "sched:wrong" })
	if _, err := other.SetMaster(ctx, "db", "h:1", -1); err == nil {
		t.Fatal("write with a wrong password succeeded")
	}
	if _, err := owner.SetMaster(ctx, "db", "h:1", -1); err != nil {
		t.Fatal(err)
	}
}

func TestOpenUnreachable(t *testing.T) {
	t.Parallel()
	port := testenv.FreePort(t) // nothing listens there
	start := time.Now()
	_, err := Open(context.Background(), Config{Servers: []string{fmt.Sprintf("127.0.0.1:%d", port)},
		Root: "/x", ConnectTimeout: time.Second, Logger: testLogger(t)})
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "no session within 1s") {
		t.Fatalf("open unreachable: %v", err)
	}
	t.Logf("open failed after %s: %v", time.Since(start).Round(time.Millisecond), err)
	// Bounded: the deadline is 1s; allow a loaded machine plenty of slack.
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("open took %s with a 1s connect timeout", d)
	}
}

// TestOutage cuts one store off ZooKeeper for less than the session
// timeout: calls fail with ErrUnavailable in bounded time, and afterwards
// the same session (no resync) serves calls and watches again.
func TestOutage(t *testing.T) {
	t.Parallel()
	zkAddr := testenv.ZooKeeper(t).Addr()
	px := newProxy(t, zkAddr)
	root := testenv.Root(t)
	ctx := testCtx(t)
	s := openStore(t, root, func(c *Config) {
		c.Servers = []string{px.Addr()}
		c.SessionTimeout = 4 * time.Second
		c.OpTimeout = time.Second
	})
	direct := openStore(t, root, nil)
	if _, err := direct.CreateInstance(ctx, newInstance("db")); err != nil {
		t.Fatal(err)
	}
	if _, err := direct.SetMaster(ctx, "db", "h:1", -1); err != nil {
		t.Fatal(err)
	}
	w := s.WatchMaster(ctx, "db")
	recv(t, w, "initial", func(c MasterChange) bool { return c.Addr == "h:1" })

	px.Cut()
	waitFor(t, "store notices the outage", func() bool { return !s.Connected() })
	for _, op := range []struct {
		name string
		do   func() error
	}{
		{"get", func() error { _, _, err := s.GetInstance(ctx, "db"); return err }},
		{"set", func() error { _, err := s.ForceSetMaster(ctx, "db", "h:9"); return err }},
		{"list", func() error { _, err := s.ListInstances(ctx); return err }},
	} {
		start := time.Now()
		err := op.do()
		d := time.Since(start)
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("%s during outage: %v, want ErrUnavailable", op.name, err)
		}
		t.Logf("%s during outage failed after %s: %v", op.name, d.Round(time.Millisecond), err)
		if d > 5*time.Second {
			t.Fatalf("%s during outage took %s with a 1s op timeout", op.name, d)
		}
	}
	if _, err := direct.ForceSetMaster(ctx, "db", "h:2"); err != nil {
		t.Fatal(err)
	}
	px.Resume()
	recv(t, w, "change made during the outage", func(c MasterChange) bool { return c.Addr == "h:2" })
	waitFor(t, "calls work again", func() bool { _, _, err := s.GetInstance(ctx, "db"); return err == nil })
	if !s.Connected() {
		t.Fatal("not Connected after calls work again")
	}
	select {
	case <-s.Resync():
		t.Fatal("resync after an outage shorter than the session timeout")
	default:
	}
}

// TestSessionExpiry cuts one store off for longer than its session
// timeout, so ZooKeeper expires the session: after reconnecting with a
// new session, Resync fires, leadership is lost, and watches go on.
func TestSessionExpiry(t *testing.T) {
	t.Parallel()
	zkAddr := testenv.ZooKeeper(t).Addr()
	px := newProxy(t, zkAddr)
	root := testenv.Root(t)
	ctx := testCtx(t)
	const sessionTimeout = 1500 * time.Millisecond
	s := openStore(t, root, func(c *Config) {
		c.Servers = []string{px.Addr()}
		c.SessionTimeout = sessionTimeout
		c.OpTimeout = time.Second
	})
	direct := openStore(t, root, nil)
	if _, err := direct.CreateInstance(ctx, newInstance("db")); err != nil {
		t.Fatal(err)
	}
	if _, err := direct.SetMaster(ctx, "db", "h:1", -1); err != nil {
		t.Fatal(err)
	}
	wm := s.WatchMaster(ctx, "db")
	recv(t, wm, "initial master", func(c MasterChange) bool { return c.Addr == "h:1" })
	wi := s.WatchInstances(ctx)
	recv(t, wi, "initial list", func(n []string) bool { return slices.Equal(n, []string{"db"}) })
	l, err := s.Campaign(ctx, "http://s")
	if err != nil {
		t.Fatal(err)
	}
	sid, _, _, _ := s.session()

	px.Cut()
	recv(t, asChan(l.Lost()), "leadership lost while cut off", func(struct{}) bool { return true })
	// Another candidate takes over once ZooKeeper expired the session.
	l2, err := direct.Campaign(ctx, "http://direct")
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Resign()
	if _, err := direct.ForceSetMaster(ctx, "db", "h:2"); err != nil {
		t.Fatal(err)
	}
	px.Resume()

	recv(t, asChan(s.Resync()), "resync", func(struct{}) bool { return true })
	if now, _, _, _ := s.session(); now == sid || now == 0 {
		t.Fatalf("session id %#x after expiry, was %#x", now, sid)
	}
	recv(t, wm, "master changed during the expiry", func(c MasterChange) bool { return c.Addr == "h:2" })
	// Watches are re-armed on the new session.
	if _, err := direct.ForceSetMaster(ctx, "db", "h:3"); err != nil {
		t.Fatal(err)
	}
	recv(t, wm, "master after resync", func(c MasterChange) bool { return c.Addr == "h:3" })
	if _, err := direct.CreateInstance(ctx, newInstance("db2")); err != nil {
		t.Fatal(err)
	}
	recv(t, wi, "list after resync", func(n []string) bool { return slices.Equal(n, []string{"db", "db2"}) })
	if d, err := s.Leader(ctx); err != nil || d != "http://direct" {
		t.Fatalf("leader after expiry = %q, %v", d, err)
	}
}

// TestLeadershipLostOnLongDisconnect: a leader cut off for more than half
// its session timeout gives up, and its election node goes away (with the
// session, or deleted by the store once reconnected if the session
// survived), so another candidate takes over.
func TestLeadershipLostOnLongDisconnect(t *testing.T) {
	t.Parallel()
	px := newProxy(t, testenv.ZooKeeper(t).Addr())
	root := testenv.Root(t)
	ctx := testCtx(t)
	s := openStore(t, root, func(c *Config) {
		c.Servers = []string{px.Addr()}
		c.SessionTimeout = 4 * time.Second // the test server's maximum
		c.OpTimeout = time.Second
	})
	other := openStore(t, root, nil)
	l, err := s.Campaign(ctx, "http://s")
	if err != nil {
		t.Fatal(err)
	}
	sid, _, _, _ := s.session()
	won := make(chan error, 1)
	go func() {
		_, err := other.Campaign(ctx, "http://other")
		won <- err
	}()
	px.Cut()
	start := time.Now()
	recv(t, asChan(l.Lost()), "leadership lost", func(struct{}) bool { return true })
	t.Logf("leadership lost %s after the cut", time.Since(start).Round(time.Millisecond))
	px.Resume()
	if err := recv(t, won, "other elected", func(error) bool { return true }); err != nil {
		t.Fatal(err)
	}
	now, _, _, _ := s.session()
	t.Logf("session survived: %v", now == sid)
	if d, err := other.Leader(ctx); err != nil || d != "http://other" {
		t.Fatalf("leader = %q, %v; want http://other", d, err)
	}
}

// TestCloseDuringOutage: Close does not wait for a ZooKeeper that is gone,
// and ends the leadership and the watches.
func TestCloseDuringOutage(t *testing.T) {
	t.Parallel()
	px := newProxy(t, testenv.ZooKeeper(t).Addr())
	ctx := testCtx(t)
	s := openStore(t, testenv.Root(t), func(c *Config) { c.Servers = []string{px.Addr()} })
	l, err := s.Campaign(ctx, "http://s")
	if err != nil {
		t.Fatal(err)
	}
	w := s.WatchInstances(ctx)
	recv(t, w, "initial", func([]string) bool { return true })
	px.Cut()
	waitFor(t, "store notices the outage", func() bool { return !s.Connected() })
	start := time.Now()
	s.Close()
	t.Logf("close during outage took %s", time.Since(start).Round(time.Millisecond))
	select {
	case <-l.Lost():
	default:
		t.Fatal("leadership not lost after Close")
	}
	for range w {
	} // closed by Close
	if _, err := s.ListInstances(ctx); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("call after Close: %v, want ErrUnavailable", err)
	}
}
