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
	if err := direct(t, rs, "").Set(context.Background(), "big", strings.Repeat("v", size), 0).Err(); err != nil {
		t.Fatal(err)
	}
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
	dm := direct(t, master, "")
	dm.Set(ctx, "x", "1", 0)
	waitFor(t, "replica acked", func() bool {
		info, _ := dm.Info(ctx, "replication").Result()
		return strings.Contains(info, ",state=online,") && !strings.Contains(info, ",offset=0,")
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
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go func(nc net.Conn) {
				defer nc.Close()
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
			}(nc)
		}
	}()
	p := newTestProxy(t, nil)
	port := serve(t, p, "fake", "", ln.Addr().String())
	a := dialRaw(t, port)
	b := dialRaw(t, port)
	a.send(string(appendCommand(nil, "PING")))
	time.Sleep(30 * time.Millisecond)
	b.send(string(appendCommand(nil, "ECHO", "boom")))
	a.expect("+PONG")
	b.expect("+boom")
}
