package localproxy

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/mrredis/mrredis/internal/testenv"
)

// replicaPair starts a master and a replica of it, both with password pw.
func replicaPair(t *testing.T, pw string) (master, replica *testenv.Redis) {
	t.Helper()
	// No diskless-sync delay: the replica syncs at once, not after 5 s.
	master = testenv.StartRedis(t, "requirepass "+pw, "masterauth "+pw, "repl-diskless-sync-delay 0")
	replica = testenv.StartRedis(t, "requirepass "+pw, "masterauth "+pw)
	host, port, _ := net.SplitHostPort(master.Addr)
	dr := direct(t, replica, pw)
	if err := dr.Do(context.Background(), "REPLICAOF", host, port).Err(); err != nil {
		t.Fatal(err)
	}
	// After a diskless sync the master streams writes only once the
	// replica has acknowledged, up to a second after the transfer: a
	// write made after the transfer and seen on the replica shows that
	// writes flow.
	ctx := context.Background()
	dm := direct(t, master, pw)
	waitFor(t, "sync transferred", func() bool {
		info, _ := dm.Info(ctx, "replication").Result()
		return strings.Contains(info, ",state=online,")
	})
	if err := dm.Set(ctx, "replica-pair-synced", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "writes reach the replica", func() bool {
		v, _ := dr.Get(ctx, "replica-pair-synced").Result()
		return v == "1"
	})
	return master, replica
}

// promote turns replica into a master, as the scheduler does before it
// writes /master.
func promote(t *testing.T, r *testenv.Redis, pw string) {
	t.Helper()
	if err := direct(t, r, pw).Do(context.Background(), "REPLICAOF", "NO", "ONE").Err(); err != nil {
		t.Fatal(err)
	}
}

// writer INCRs its own key through the proxy until stopped.
type writer struct {
	key    string
	c      *redis.Client
	ok     atomic.Int64 // acknowledged INCRs
	last   atomic.Int64 // value of the last acknowledged INCR
	mu     sync.Mutex
	errors []string
}

func (w *writer) run(ctx context.Context) {
	for ctx.Err() == nil {
		n, err := w.c.Incr(ctx, w.key).Result()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			w.mu.Lock()
			w.errors = append(w.errors, err.Error())
			w.mu.Unlock()
			continue
		}
		w.last.Store(n)
		w.ok.Add(1)
	}
}

func TestMasterSwitchUnderLoad(t *testing.T) {
	testenv.NeedProcesses(t)
	const pw = "pw"
	ctx := context.Background()
	oldM, newM := replicaPair(t, pw)
	p := newTestProxy(t, nil)
	port := serve(t, p, "inst", pw, oldM.Addr)

	// Connections that will be idle at the switch, each with history.
	idle := make([]*rawConn, 20)
	for i := range idle {
		idle[i] = dialRaw(t, port)
		idle[i].send(fmt.Sprintf("SET idle:%d before\r\n", i))
		idle[i].expect("+OK")
	}
	inDB2 := dialRaw(t, port)
	inDB2.send("SELECT 2\r\nSET k2 before\r\n")
	inDB2.expect("+OK")
	inDB2.expect("+OK")
	inMulti := dialRaw(t, port)
	inMulti.send("MULTI\r\nINCR x\r\n")
	inMulti.expect("+OK")
	inMulti.expect("+QUEUED")
	subscriber := dialRaw(t, port)
	subscriber.send("SUBSCRIBE ch\r\n")
	for _, want := range []string{"*3", "$9", "subscribe", "$2", "ch", ":1"} {
		subscriber.expect(want)
	}
	resp3 := viaProxy(t, port, &redis.Options{PoolSize: 1}) // go-redis says HELLO 3
	if err := resp3.HSet(ctx, "h", "f", "v").Err(); err != nil {
		t.Fatal(err)
	}
	blocked := dialRaw(t, port)
	blocked.send("BLPOP nothing 30\r\n")
	waitBlocked(t, direct(t, oldM, pw), 1)

	wctx, stop := context.WithCancel(ctx)
	defer stop()
	writers := make([]*writer, 4)
	var wg sync.WaitGroup
	for i := range writers {
		w := &writer{key: fmt.Sprintf("w:%d", i), c: viaProxy(t, port, &redis.Options{PoolSize: 1, MaxRetries: -1})}
		writers[i] = w
		wg.Add(1)
		go func() { defer wg.Done(); w.run(wctx) }()
	}
	for _, w := range writers {
		waitFor(t, "writers busy", func() bool { return w.ok.Load() >= 200 })
	}

	promote(t, newM, pw)
	t0 := time.Now()
	if err := p.SetMaster("inst", newM.Addr); err != nil {
		t.Fatal(err)
	}
	before := make([]int64, len(writers))
	for i, w := range writers {
		before[i] = w.ok.Load()
	}
	// The first write that lands on the new master ends the switch.
	dn := direct(t, newM, pw)
	var firstOnNew time.Duration
	waitFor(t, "a writer's INCR on the new master", func() bool {
		for i, w := range writers {
			if v, err := dn.Get(ctx, w.key).Int64(); err == nil && v > 0 && w.ok.Load() > before[i] && w.last.Load() == v {
				firstOnNew = time.Since(t0)
				return true
			}
		}
		return false
	})
	for i, w := range writers {
		waitFor(t, "writers busy after the switch", func() bool { return w.ok.Load() >= before[i]+200 })
	}
	stop()
	wg.Wait()
	t.Logf("switch: SetMaster to a write acknowledged by the new master: %s", firstOnNew)

	do := direct(t, oldM, pw)
	for _, w := range writers {
		// New commands reached the new master: the last acknowledged
		// INCR is the new master's value, and the old one is behind.
		onNew, _ := dn.Get(ctx, w.key).Int64()
		onOld, _ := do.Get(ctx, w.key).Int64()
		if onNew != w.last.Load() || onOld >= onNew {
			t.Errorf("%s: last acknowledged %d, new master %d, old master %d", w.key, w.last.Load(), onNew, onOld)
		}
		// A writer has one command in flight: at most one may fail,
		// with the clear error.
		if len(w.errors) > 1 {
			t.Errorf("%s: %d errors: %v", w.key, len(w.errors), w.errors)
		}
		for _, e := range w.errors {
			if !strings.Contains(e, "mrredis: master changed") {
				t.Errorf("%s: unexpected error %q", w.key, e)
			}
		}
	}
	// Idle connections lost nothing and now talk to the new master.
	for i, c := range idle {
		c.send(fmt.Sprintf("GET idle:%d\r\nSET idle:%d after\r\n", i, i))
		c.expect("$6")
		c.expect("before")
		c.expect("+OK")
		if v, _ := dn.Get(ctx, fmt.Sprintf("idle:%d", i)).Result(); v != "after" {
			t.Fatalf("idle:%d on the new master = %q, want after", i, v)
		}
		if v, _ := do.Get(ctx, fmt.Sprintf("idle:%d", i)).Result(); v != "before" {
			t.Fatalf("idle:%d on the old master = %q, want before", i, v)
		}
	}
	// The RESP3 connection moved too, still speaking RESP3.
	if m, err := resp3.HGetAll(ctx, "h").Result(); err != nil || m["f"] != "v" {
		t.Fatalf("HGETALL after the switch: %v %v", m, err)
	}
	if info, err := resp3.Do(ctx, "CLIENT", "INFO").Text(); err != nil || !strings.Contains(info, "resp=3") ||
		!strings.Contains(info, "laddr="+newM.Addr) {
		t.Fatalf("CLIENT INFO after the switch: %q %v", info, err)
	}
	// The selected database moved with the connection.
	inDB2.send("GET k2\r\n")
	inDB2.expect("$6")
	inDB2.expect("before")
	// Server-side state that cannot move: the connection is closed.
	inMulti.expectEOF()
	subscriber.expectEOF()
	// A command in flight fails with the clear error.
	blocked.expect("-ERR mrredis: master changed, command not executed or result unknown; retry")
	if got := counterValue(t, p.m.Switches.WithLabelValues("inst")); got != 2 { // "" -> old, old -> new
		t.Errorf("switch counter = %v, want 2", got)
	}
}

// BenchmarkMasterSwitch measures SetMaster until the next command of an
// idle connection is answered by the new master.
func BenchmarkMasterSwitch(b *testing.B) {
	a := testenv.StartRedis(b)
	c := testenv.StartRedis(b)
	p := New(context.Background(), Options{PortLo: 1, PortHi: 65535, Logger: testLogger(nopWriter{})})
	defer p.Close()
	port := testenv.FreePort(b)
	if err := p.Add("bench", port, ""); err != nil {
		b.Fatal(err)
	}
	_ = p.SetMaster("bench", a.Addr)
	if err := testenv.WaitTCP(addrOf(port), 10*time.Second); err != nil {
		b.Fatal(err)
	}
	cl := redis.NewClient(&redis.Options{Addr: addrOf(port), PoolSize: 1, Protocol: 2})
	defer cl.Close()
	ctx := context.Background()
	addrs := []string{a.Addr, c.Addr}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := p.SetMaster("bench", addrs[(i+1)%2]); err != nil {
			b.Fatal(err)
		}
		if err := cl.Ping(ctx).Err(); err != nil {
			b.Fatal(err)
		}
	}
}

type nopWriter struct{}

func (nopWriter) Write(b []byte) (int, error) { return len(b), nil }
