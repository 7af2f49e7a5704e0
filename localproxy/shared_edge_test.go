package localproxy

// Edge cases of shared backend connections, each found in review with a
// test that failed before its fix.

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mrredis/mrredis/internal/testenv"
)

// TestQuitAfterQueuedReplies: a client pipelines a big GET and QUIT and
// reads only afterwards: like Redis, the proxy sends every reply and +OK
// before it closes, although the GET's reply had to be queued.
func TestQuitAfterQueuedReplies(t *testing.T) {
	rs, _, port := proxied(t)
	const size = 8 << 20
	setBig(t, rs, size)
	c, err := net.Dial("tcp", addrOf(port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(append(appendCommand(nil, "GET", "big"), "QUIT\r\n"...)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // do not read yet
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	all, err := io.ReadAll(c)
	want := fmt.Sprintf("$%d\r\n%s\r\n+OK\r\n", size, strings.Repeat("v", size))
	if string(all) != want {
		t.Fatalf("got %d bytes (err %v), want %d: reply to GET and/or +OK of QUIT lost", len(all), err, len(want))
	}
}

// TestWaitAfterSharedWrite: SET over the shared connection, then WAIT,
// which pins the client to a new connection: WAIT must still wait for
// the SET, which the stopped replica cannot acknowledge.
func TestWaitAfterSharedWrite(t *testing.T) {
	testenv.NeedProcesses(t)
	ctx := context.Background()
	master := testenv.StartRedis(t, "repl-diskless-sync-delay 0")
	replica := testenv.StartRedis(t)
	host, mport, _ := net.SplitHostPort(master.Addr)
	if err := direct(t, replica, "").Do(ctx, "REPLICAOF", host, mport).Err(); err != nil {
		t.Fatal(err)
	}
	// No password (unlike replicaPair): Redis 7.0 happens to set a
	// connection's write offset when it authenticates, which would hide
	// the bug this test is about.
	dm, dr := direct(t, master, ""), direct(t, replica, "")
	waitFor(t, "sync transferred", func() bool {
		info, _ := dm.Info(ctx, "replication").Result()
		return strings.Contains(info, ",state=online,")
	})
	dm.Set(ctx, "x", "1", 0)
	waitFor(t, "writes reach the replica", func() bool {
		v, _ := dr.Get(ctx, "x").Result()
		return v == "1"
	})
	p := newTestProxy(t, nil)
	port := serve(t, p, "db", "", master.Addr)
	if err := replica.Cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = replica.Cmd.Process.Signal(syscall.SIGCONT) })
	r := dialRaw(t, port)
	start := time.Now()
	r.send(string(appendCommand(appendCommand(nil, "SET", "waitkey", "v"), "WAIT", "1", "700")))
	r.expect("+OK")
	got, err := r.line()
	el := time.Since(start)
	if err := replica.Cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	if err != nil || got != ":0" {
		t.Fatalf("WAIT 1 after a write the stopped replica cannot have acked answered %q (%v) after %v, want :0 after ~700ms", got, err, el)
	}
}

// TestBadInlineCommandDoesNotKillShared: an inline command with
// unbalanced quotes, which makes Redis close the connection, must not reach
// the shared connection, where other clients' commands queue behind it.
func TestBadInlineCommandDoesNotKillShared(t *testing.T) {
	_, _, port := proxied(t)
	busy := dialRaw(t, port)
	bad := dialRaw(t, port)
	victim := dialRaw(t, port)
	// Keep Redis busy 400ms so the next two commands queue behind it on
	// the shared connection.
	script := "local t=redis.call('TIME') while true do local n=redis.call('TIME') if (n[1]-t[1])*1000000+(n[2]-t[2]) > 400000 then break end end return 1"
	busy.send(string(appendCommand(nil, "EVAL", script, "0")))
	time.Sleep(100 * time.Millisecond)
	bad.send("PING \"x\r\n")
	time.Sleep(50 * time.Millisecond)
	victim.send(string(appendCommand(nil, "PING")))
	busy.expect(":1")
	bad.expect("-ERR Protocol error: unbalanced quotes in request")
	got, err := victim.line()
	if err != nil || got != "+PONG" {
		t.Fatalf("a well-behaved client's PING got %q (%v) because another client sent a bad inline command", got, err)
	}
}

// TestBlankLineThenHello3: a blank line, which Redis ignores, must not
// make a backend of the client's own before it is pinned: one made then
// would miss the HELLO 3 that goes over the shared connection, and answer
// the client in RESP2 once a command pins it.
func TestBlankLineThenHello3(t *testing.T) {
	_, _, port := proxied(t)
	c, err := net.Dial("tcp", addrOf(port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("\r\n"))
	time.Sleep(200 * time.Millisecond)
	c.Write(appendCommand(nil, "HELLO", "3"))
	time.Sleep(200 * time.Millisecond)
	buf := make([]byte, 4096)
	_ = c.SetReadDeadline(time.Now().Add(time.Second))
	n, _ := c.Read(buf)
	if !strings.HasPrefix(string(buf[:n]), "%") {
		t.Fatalf("HELLO 3: %q", buf[:n])
	}
	c.Write(appendCommand(nil, "CLIENT", "GETNAME"))
	rd := bufio.NewReader(c)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	l, err := rd.ReadString('\n')
	if l != "_\r\n" {
		t.Fatalf("CLIENT GETNAME after HELLO 3 answered %q (%v), want RESP3 null \"_\"", l, err)
	}
}

// TestExtraReplyOnShared: when the shared connection's reader stops on a
// reply it cannot attribute, the good replies read with it still reach
// their clients.
func TestExtraReplyOnShared(t *testing.T) {
	testenv.NeedProcesses(t)
	addr := fakeRedis(t, func(nc net.Conn) {
		rd := bufio.NewReader(nc)
		for {
			var out []byte
			// Collect what arrives within 150 ms, answer in one write.
			_ = nc.SetReadDeadline(time.Time{})
			for first := true; ; first = false {
				if !first {
					_ = nc.SetReadDeadline(time.Now().Add(150 * time.Millisecond))
				}
				l, err := rd.ReadString('\n')
				if err != nil {
					if ne, ok := err.(net.Error); ok && ne.Timeout() {
						break
					}
					return
				}
				switch strings.TrimSpace(l) {
				case "PING":
					out = append(out, "+PONG\r\n"...)
				case "boom":
					out = append(out, "+boom\r\n+EXTRA\r\n"...)
				}
			}
			if _, err := nc.Write(out); err != nil {
				return
			}
		}
	})
	p := newTestProxy(t, nil)
	port := serve(t, p, "fake", "", addr)
	a := dialRaw(t, port)
	b := dialRaw(t, port)
	a.send(string(appendCommand(nil, "PING")))
	time.Sleep(30 * time.Millisecond)
	b.send(string(appendCommand(nil, "ECHO", "boom")))
	a.expect("+PONG")
	b.expect("+boom")
}

// TestDedicatedPubSubFollowUp: with dedicated backends, what a subscriber
// sends after its first SUBSCRIBE (counted as no command) reaches Redis.
func TestDedicatedPubSubFollowUp(t *testing.T) {
	testenv.NeedProcesses(t)
	rs := testenv.StartRedis(t)
	p := newTestProxyMode(t, nil, true)
	port := serve(t, p, "cache", "", rs.Addr)
	r := dialRaw(t, port)
	r.send(multibulk("SUBSCRIBE a"))
	for _, want := range []string{"*3", "$9", "subscribe", "$1", "a", ":1"} {
		r.expect(want)
	}
	r.send(multibulk("SUBSCRIBE b"))
	for _, want := range []string{"*3", "$9", "subscribe", "$1", "b", ":2"} {
		r.expect(want)
	}
}

// TestDedicatedClientReplySkip: the same after CLIENT REPLY SKIP.
func TestDedicatedClientReplySkip(t *testing.T) {
	testenv.NeedProcesses(t)
	rs := testenv.StartRedis(t)
	p := newTestProxyMode(t, nil, true)
	port := serve(t, p, "cache", "", rs.Addr)
	r := dialRaw(t, port)
	r.send(multibulk("CLIENT REPLY SKIP", "SET k v"))
	time.Sleep(200 * time.Millisecond)
	r.send(multibulk("GET k"))
	r.expect("$1")
	r.expect("v")
}

// TestPinDuringWritePause: during CLIENT PAUSE WRITE, which Redis'
// FAILOVER (the scheduler's switchover) uses, a command that pins a client
// of the shared connection is answered at once, as Redis answers it: the
// syncWrite goes only before a WAIT.
func TestPinDuringWritePause(t *testing.T) {
	rs, _, port := proxied(t)
	ctx := context.Background()
	dr := direct(t, rs, "")
	r := dialRaw(t, port)
	r.send(multibulk("PING"))
	r.expect("+PONG")
	if err := dr.Do(ctx, "CLIENT", "PAUSE", "3000", "WRITE").Err(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dr.Do(ctx, "CLIENT", "UNPAUSE") })
	// Direct: answered at once.
	d, err := net.Dial("tcp", rs.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	start := time.Now()
	d.Write([]byte(multibulk("SELECT 1")))
	buf := make([]byte, 64)
	_ = d.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _ := d.Read(buf)
	if string(buf[:n]) != "+OK\r\n" {
		t.Fatalf("direct SELECT during the pause: %q after %v", buf[:n], time.Since(start))
	}
	start = time.Now()
	r.send(multibulk("SELECT 1"))
	got, err := r.line()
	el := time.Since(start)
	if err != nil || got != "+OK" || el > 500*time.Millisecond {
		t.Fatalf("SELECT via proxy during CLIENT PAUSE WRITE answered %q (%v) after %v; direct answers +OK at once", got, err, el)
	}
}

// TestQuitThenKeepWriting: a client that writes its whole pipeline, with
// more after QUIT, before it reads must be able to finish writing: like
// Redis, the proxy reads and drops the input after QUIT while the replies
// before it go out.
func TestQuitThenKeepWriting(t *testing.T) {
	rs, _, port := proxied(t)
	const size = 8 << 20
	setBig(t, rs, size)
	try := func(addr string) error {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		junk := []byte(strings.Repeat(multibulk("PING"), (16<<20)/14))
		msg := append(append(appendCommand(nil, "GET", "big"), "QUIT\r\n"...), junk...)
		_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
		_, err = c.Write(msg)
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			return err
		}
		return nil
	}
	if err := try(rs.Addr); err != nil {
		t.Fatalf("direct: %v", err)
	}
	if err := try(addrOf(port)); err != nil {
		t.Fatalf("via proxy: the write after QUIT blocks (%v): the proxy neither reads nor closes", err)
	}
}

// TestSharedDialErrorOfOldRoute: a client that waited while the shared
// connection to the old master failed to connect must not get that
// error for the new master.
func TestSharedDialErrorOfOldRoute(t *testing.T) {
	testenv.NeedProcesses(t)
	const pw = "pw"
	rs := testenv.StartRedis(t, "requirepass "+pw)
	// The old master accepts connections but never answers (the AUTH of
	// the handshake times out after DialTimeout).
	old := fakeRedis(t, func(nc net.Conn) { _, _ = io.Copy(io.Discard, nc) })
	p := newTestProxy(t, nil)
	port := serve(t, p, "db", pw, old)
	x := dialRaw(t, port)
	x.send(multibulk("PING"))
	time.Sleep(200 * time.Millisecond) // x's dial of the shared connection hangs in the handshake
	if err := p.SetMaster("db", rs.Addr); err != nil {
		t.Fatal(err)
	}
	y := dialRaw(t, port)
	y.send(multibulk("PING"))
	got, err := y.line()
	if err != nil || got != "+PONG" {
		t.Fatalf("PING after the switch to a healthy master answered %q (%v)", got, err)
	}
}

// TestCloseWithUnreadQueue: Proxy.Close returns although a client that
// never reads has replies queued and sent QUIT.
func TestCloseWithUnreadQueue(t *testing.T) {
	testenv.NeedProcesses(t)
	rs := testenv.StartRedis(t)
	p := New(context.Background(), Options{PortLo: 1, PortHi: 65535, DialTimeout: 2 * time.Second,
		Logger: testLogger(io.Discard)})
	port := serve(t, p, "cache", "", rs.Addr)
	const size = 8 << 20
	setBig(t, rs, size)
	c, err := net.Dial("tcp", addrOf(port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write(append(appendCommand(nil, "GET", "big"), "QUIT\r\n"...))
	time.Sleep(300 * time.Millisecond)
	done := make(chan struct{})
	go func() { p.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Proxy.Close hangs on a client that does not read")
	}
}

// TestSyncWriteReplyIsDropped: the syncWrite before a pinned client's
// first WAIT reaches Redis (a subscriber of its channel gets it), and its
// reply is dropped at its place in a pipeline: the client sees exactly
// the replies to its own commands.
func TestSyncWriteReplyIsDropped(t *testing.T) {
	rs, _, port := proxied(t)
	ctx := context.Background()
	sub := direct(t, rs, "").Subscribe(ctx, "__mrredis__:wait")
	if _, err := sub.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	r := dialRaw(t, port)
	r.send(multibulk("SET a 1", "SELECT 0")) // shared, then pinned
	r.expect("+OK")
	r.expect("+OK")
	// With a subscriber, PUBLISH answers :1; no reply here is :1.
	r.send(multibulk("SET b 2", "GET a", "WAIT 0 0", "GET b", "WAIT 0 0"))
	for _, want := range []string{"+OK", "$1", "1", ":0", "$1", "2", ":0"} {
		r.expect(want)
	}
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	msg, err := sub.ReceiveMessage(rctx)
	if err != nil || msg.Channel != "__mrredis__:wait" {
		t.Fatalf("subscriber got %v, %v; want the syncWrite", msg, err)
	}
	r.send(multibulk("PING"))
	r.expect("+PONG")

	// Inside MULTI no syncWrite: EXEC would answer it.
	m := dialRaw(t, port)
	m.send(multibulk("SET c 3", "MULTI", "WAIT 0 0", "EXEC"))
	for _, want := range []string{"+OK", "+OK", "+QUEUED", "*1", ":0"} {
		m.expect(want)
	}
}

// fakeRedis listens on a free loopback port, serves every connection with
// serve until the test ends, and returns the address.
func fakeRedis(t *testing.T, serve func(nc net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer nc.Close()
				serve(nc)
			}()
		}
	}()
	return ln.Addr().String()
}
