package localproxy

import (
	"context"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/mrredis/mrredis/internal/testenv"
)

// zkCutter relays TCP to ZooKeeper and can cut this one client off (drop
// its connections, refuse new ones) without touching the shared server.
type zkCutter struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	cut    bool
	conns  map[net.Conn]bool
}

func newZKCutter(t *testing.T, target string) *zkCutter {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	z := &zkCutter{ln: ln, target: target, conns: map[net.Conn]bool{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go z.relay(c)
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done; z.Cut() })
	return z
}

func (z *zkCutter) relay(c net.Conn) {
	up, err := net.Dial("tcp", z.target)
	z.mu.Lock()
	if err != nil || z.cut {
		z.mu.Unlock()
		c.Close()
		if up != nil {
			up.Close()
		}
		return
	}
	z.conns[c], z.conns[up] = true, true
	z.mu.Unlock()
	go func() { _, _ = io.Copy(up, c); up.Close() }()
	_, _ = io.Copy(c, up)
	c.Close()
}

func (z *zkCutter) Cut() {
	z.mu.Lock()
	defer z.mu.Unlock()
	z.cut = true
	for c := range z.conns {
		c.Close()
	}
	z.conns = map[net.Conn]bool{}
}

func (z *zkCutter) Resume() {
	z.mu.Lock()
	defer z.mu.Unlock()
	z.cut = false
}

// TestSessionExpiryResync cuts the proxy off ZooKeeper until its session
// expires, changes the instance record meanwhile, and checks that the new
// session re-reads it.
func TestSessionExpiryResync(t *testing.T) {
	zks := testenv.ZooKeeper(t)
	root := testenv.Root(t)
	ctx := context.Background()
	sched := openStore(t, zks.Addr(), root, 0)
	cutter := newZKCutter(t, zks.Addr())
	const session = time.Second
	st := openStore(t, cutter.ln.Addr().String(), root, session)
	p, _ := following(t, st, nil)
	rs := testenv.StartRedis(t, "requirepass pw1")
	port := testenv.FreePort(t)
	createInstance(t, sched, "sigma", port, "pw1", rs.Addr)
	waitMaster(t, p, "sigma", rs.Addr)
	if err := testenv.WaitTCP(addrOf(port), 20*time.Second); err != nil {
		t.Fatal(err)
	}
	old := dialRaw(t, port)
	old.send("PING\r\n")
	old.expect("+PONG")

	cutter.Cut()
	waitFor(t, "the store to see the cut", func() bool { return !st.Connected() })
	// The password rotates while the proxy cannot see it.
	inst, v, err := sched.GetInstance(ctx, "sigma")
	if err != nil {
		t.Fatal(err)
	}
	inst.Password = "pw2"
	if _, err := sched.UpdateInstance(ctx, inst, v); err != nil {
		t.Fatal(err)
	}
	if err := direct(t, rs, "pw1").ConfigSet(ctx, "requirepass", "pw2").Err(); err != nil {
		t.Fatal(err)
	}
	// Let ZooKeeper expire the session: it does so once it has heard
	// nothing for the session timeout. Meanwhile the proxy keeps serving.
	deadline := time.Now().Add(3 * session)
	for time.Now().Before(deadline) {
		old.send("PING\r\n")
		old.expect("+PONG")
		time.Sleep(100 * time.Millisecond)
	}
	cutter.Resume()
	waitFor(t, "a resync after the session expiry", func() bool { return counterValue(t, p.m.ZKResyncs) >= 1 })
	// New connections authenticate with the password read again.
	waitFor(t, "new connections use the new password", func() bool {
		c := dialRaw(t, port)
		defer c.c.Close()
		c.send("PING\r\n")
		got, _ := c.line()
		return got == "+PONG"
	})
}
