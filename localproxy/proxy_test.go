package localproxy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/mrredis/mrredis/internal/testenv"
)

// logBuffer collects log lines for tests that check them.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(b)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func testLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// newTestProxy returns a Proxy accepting any port, closed when t ends.
func newTestProxy(t *testing.T, log io.Writer) *Proxy {
	t.Helper()
	return newTestProxyMode(t, log, false)
}

// newTestProxyMode is newTestProxy giving every client a backend
// connection of its own if dedicated.
func newTestProxyMode(t *testing.T, log io.Writer, dedicated bool) *Proxy {
	t.Helper()
	if log == nil {
		log = io.Discard
	}
	p := New(context.Background(), Options{PortLo: 1, PortHi: 65535, RetryInterval: 100 * time.Millisecond,
		DialTimeout: 2 * time.Second, Logger: testLogger(log), Dedicated: dedicated})
	t.Cleanup(p.Close)
	return p
}

// serve adds instance name to p on a free port, routes it to master and
// waits until the port accepts connections.
func serve(t *testing.T, p *Proxy, name, password, master string) int {
	t.Helper()
	port := testenv.FreePort(t)
	if err := p.Add(name, port, password); err != nil {
		t.Fatal(err)
	}
	if err := p.SetMaster(name, master); err != nil {
		t.Fatal(err)
	}
	if err := testenv.WaitTCP(addrOf(port), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	return port
}

func addrOf(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }

// direct is a client straight to a redis-server, bypassing the proxy.
func direct(t *testing.T, r *testenv.Redis, password string) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: r.Addr, Password: password, Protocol: 2})
	t.Cleanup(func() { c.Close() })
	return c
}

func viaProxy(t *testing.T, port int, opts *redis.Options) *redis.Client {
	t.Helper()
	if opts == nil {
		opts = &redis.Options{}
	}
	opts.Addr = addrOf(port)
	c := redis.NewClient(opts)
	t.Cleanup(func() { c.Close() })
	return c
}

// rawConn is a plain TCP connection for byte-exact checks.
type rawConn struct {
	t  *testing.T
	c  net.Conn
	rd *bufio.Reader
}

func dialRaw(t *testing.T, port int) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", addrOf(port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{t: t, c: c, rd: bufio.NewReader(c)}
}

func (r *rawConn) send(s string) {
	r.t.Helper()
	if _, err := r.c.Write([]byte(s)); err != nil {
		r.t.Fatal(err)
	}
}

// line reads one line (without CRLF) within 10 s.
func (r *rawConn) line() (string, error) {
	_ = r.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	s, err := r.rd.ReadString('\n')
	return strings.TrimRight(s, "\r\n"), err
}

func (r *rawConn) expect(want string) {
	r.t.Helper()
	got, err := r.line()
	if err != nil || got != want {
		r.t.Fatalf("read %q (%v), want %q", got, err, want)
	}
}

// expectEOF checks that the proxy closed the connection.
func (r *rawConn) expectEOF() {
	r.t.Helper()
	got, err := r.line()
	if err == nil {
		r.t.Fatalf("read %q, want the connection closed", got)
	}
}

// TestRelayCommands checks commands of every kind through the proxy, with
// shared backend connections (the default) and with one per client.
func TestRelayCommands(t *testing.T) {
	testenv.NeedProcesses(t)
	t.Run("shared", func(t *testing.T) { testRelayCommands(t, false) })
	t.Run("dedicated", func(t *testing.T) { testRelayCommands(t, true) })
}

func testRelayCommands(t *testing.T, dedicated bool) {
	const pw = "s3cret"
	rs := testenv.StartRedis(t, "requirepass "+pw)
	p := newTestProxyMode(t, nil, dedicated)
	port := serve(t, p, "cache", pw, rs.Addr)
	ctx := context.Background()
	dr := direct(t, rs, pw)

	t.Run("get set without a password", func(t *testing.T) {
		c := viaProxy(t, port, nil)
		if err := c.Set(ctx, "k1", "v1", 0).Err(); err != nil {
			t.Fatal(err)
		}
		if v, err := c.Get(ctx, "k1").Result(); err != nil || v != "v1" {
			t.Fatalf("GET k1 = %q, %v", v, err)
		}
		if v, _ := dr.Get(ctx, "k1").Result(); v != "v1" {
			t.Fatalf("redis has k1 = %q, want v1", v)
		}
		if err := c.Get(ctx, "missing").Err(); !errors.Is(err, redis.Nil) {
			t.Fatalf("GET missing: %v, want nil reply", err)
		}
	})
	t.Run("resp2 client", func(t *testing.T) {
		c := viaProxy(t, port, &redis.Options{Protocol: 2})
		if n, err := c.Incr(ctx, "ctr2").Result(); err != nil || n != 1 {
			t.Fatalf("INCR = %d, %v", n, err)
		}
		if m, err := c.HGetAll(ctx, "nohash").Result(); err != nil || len(m) != 0 {
			t.Fatalf("HGETALL = %v, %v", m, err)
		}
	})
	t.Run("auth answered locally", func(t *testing.T) {
		c := viaProxy(t, port, &redis.Options{Password: "not-the-password", Protocol: 2})
		if err := c.Set(ctx, "k2", "v2", 0).Err(); err != nil {
			t.Fatalf("client with a wrong password: %v", err)
		}
		r := dialRaw(t, port)
		r.send("AUTH anything\r\nPING\r\n*2\r\n$4\r\nAUTH\r\n$1\r\nx\r\n")
		r.expect("+OK")
		r.expect("+PONG")
		r.expect("+OK")
		// Without the proxy, the same AUTH is refused.
		if err := direct(t, rs, "").Do(ctx, "AUTH", "anything").Err(); err == nil {
			t.Fatal("redis accepted a wrong password; the test proves nothing")
		}
	})
	t.Run("pipelining", func(t *testing.T) {
		c := viaProxy(t, port, nil)
		cmds, err := c.Pipelined(ctx, func(pl redis.Pipeliner) error {
			for i := 0; i < 2000; i++ {
				pl.Incr(ctx, "pipe")
			}
			return nil
		})
		if err != nil || len(cmds) != 2000 {
			t.Fatalf("pipeline: %d results, %v", len(cmds), err)
		}
		if n := cmds[1999].(*redis.IntCmd).Val(); n != 2000 {
			t.Fatalf("last INCR = %d, want 2000", n)
		}
		// Inline commands, many in one write.
		r := dialRaw(t, port)
		r.send(strings.Repeat("PING\r\n", 500) + "\r\n" + "ECHO hi\r\n")
		for i := 0; i < 500; i++ {
			r.expect("+PONG")
		}
		r.expect("$2")
		r.expect("hi")
	})
	t.Run("huge pipeline written before reading", func(t *testing.T) {
		// Replies pile up while the client is still writing: the relay
		// must keep reading commands meanwhile (no deadlock).
		r := dialRaw(t, port)
		const n = 300000
		_ = r.c.SetWriteDeadline(time.Now().Add(30 * time.Second))
		r.send(strings.Repeat("*1\r\n$4\r\nPING\r\n", n))
		for i := 0; i < n; i++ {
			if got, err := r.line(); err != nil || got != "+PONG" {
				t.Fatalf("reply %d: %q %v", i, got, err)
			}
		}
	})
	t.Run("multi exec", func(t *testing.T) {
		c := viaProxy(t, port, nil)
		cmds, err := c.TxPipelined(ctx, func(pl redis.Pipeliner) error {
			pl.Set(ctx, "tx", "1", 0)
			pl.Incr(ctx, "tx")
			return nil
		})
		if err != nil || cmds[1].(*redis.IntCmd).Val() != 2 {
			t.Fatalf("MULTI/EXEC: %v %v", cmds, err)
		}
	})
	t.Run("watch", func(t *testing.T) {
		c := viaProxy(t, port, nil)
		other := viaProxy(t, port, nil)
		err := c.Watch(ctx, func(tx *redis.Tx) error {
			if _, err := tx.Get(ctx, "watched").Result(); err != nil && !errors.Is(err, redis.Nil) {
				return err
			}
			if err := other.Set(ctx, "watched", "changed", 0).Err(); err != nil {
				return err
			}
			_, err := tx.TxPipelined(ctx, func(pl redis.Pipeliner) error {
				pl.Set(ctx, "watched", "mine", 0)
				return nil
			})
			return err
		}, "watched")
		if !errors.Is(err, redis.TxFailedErr) {
			t.Fatalf("EXEC after a watched key changed: %v, want TxFailedErr", err)
		}
		if v, _ := dr.Get(ctx, "watched").Result(); v != "changed" {
			t.Fatalf("watched = %q, want changed", v)
		}
	})
	t.Run("blpop", func(t *testing.T) {
		c := viaProxy(t, port, nil)
		res := make(chan []string, 1)
		go func() {
			v, err := c.BLPop(ctx, 10*time.Second, "queue").Result()
			if err != nil {
				v = []string{"error", err.Error()}
			}
			res <- v
		}()
		waitBlocked(t, dr, 1)
		if err := viaProxy(t, port, nil).LPush(ctx, "queue", "job").Err(); err != nil {
			t.Fatal(err)
		}
		if v := <-res; len(v) != 2 || v[1] != "job" {
			t.Fatalf("BLPOP = %v", v)
		}
	})
	t.Run("subscribe psubscribe", func(t *testing.T) {
		c := viaProxy(t, port, nil)
		sub := c.Subscribe(ctx, "news")
		defer sub.Close()
		psub := c.PSubscribe(ctx, "n*")
		defer psub.Close()
		for _, s := range []*redis.PubSub{sub, psub} {
			if _, err := s.Receive(ctx); err != nil { // the subscription confirmation
				t.Fatal(err)
			}
		}
		n, err := viaProxy(t, port, nil).Publish(ctx, "news", "hello").Result()
		if err != nil || n != 2 {
			t.Fatalf("PUBLISH reached %d subscribers (%v), want 2", n, err)
		}
		for _, s := range []*redis.PubSub{sub, psub} {
			rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			m, err := s.ReceiveMessage(rctx)
			cancel()
			if err != nil || m.Payload != "hello" || m.Channel != "news" {
				t.Fatalf("message = %+v, %v", m, err)
			}
		}
		// The raw protocol, RESP2.
		r := dialRaw(t, port)
		r.send("SUBSCRIBE ch\r\n")
		for _, want := range []string{"*3", "$9", "subscribe", "$2", "ch", ":1"} {
			r.expect(want)
		}
		if err := dr.Publish(ctx, "ch", "m1").Err(); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"*3", "$7", "message", "$2", "ch", "$2", "m1"} {
			r.expect(want)
		}
	})
	t.Run("select", func(t *testing.T) {
		c := viaProxy(t, port, &redis.Options{DB: 3})
		if err := c.Set(ctx, "in3", "x", 0).Err(); err != nil {
			t.Fatal(err)
		}
		if n, _ := dr.Exists(ctx, "in3").Result(); n != 0 {
			t.Fatal("key set through SELECT 3 is in db 0")
		}
		d3 := redis.NewClient(&redis.Options{Addr: rs.Addr, Password: pw, DB: 3})
		defer d3.Close()
		if v, _ := d3.Get(ctx, "in3").Result(); v != "x" {
			t.Fatalf("db 3 has in3 = %q, want x", v)
		}
	})
	t.Run("big value", func(t *testing.T) {
		c := viaProxy(t, port, nil)
		big := strings.Repeat("0123456789abcdef", 256*1024) // 4 MiB
		if err := c.Set(ctx, "big", big, 0).Err(); err != nil {
			t.Fatal(err)
		}
		if v, err := c.Get(ctx, "big").Result(); err != nil || v != big {
			t.Fatalf("GET big: %d bytes, %v", len(v), err)
		}
		if n, _ := c.Incr(ctx, "after-big").Result(); n != 1 {
			t.Fatalf("INCR after big value = %d", n)
		}
	})
	t.Run("quit", func(t *testing.T) {
		r := dialRaw(t, port)
		r.send("PING\r\nQUIT\r\n")
		r.expect("+PONG")
		r.expect("+OK")
		r.expectEOF()
	})
	t.Run("protocol error", func(t *testing.T) {
		r := dialRaw(t, port)
		r.send("PING\r\n*1\r\n+x\r\n")
		r.expect("+PONG")
		got, _ := r.line()
		if got != `-ERR Protocol error: expected '$', got '+'` {
			t.Fatalf("read %q, want a protocol error", got)
		}
		r.expectEOF()
	})
}

// waitBlocked waits until redis has n clients blocked in a command.
func waitBlocked(t *testing.T, c *redis.Client, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		info, err := c.Info(context.Background(), "clients").Result()
		if err == nil && strings.Contains(info, "blocked_clients:"+strconv.Itoa(n)+"\r\n") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis never had %d blocked clients: %s", n, info)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestNoMaster(t *testing.T) {
	testenv.NeedProcesses(t)
	p := newTestProxy(t, nil)
	port := serve(t, p, "orphan", "", "")
	r := dialRaw(t, port)
	r.send("PING\r\nPING\r\n")
	r.expect("-ERR mrredis: instance orphan has no master right now; retry")
	r.expect("-ERR mrredis: instance orphan has no master right now; retry")
	// Once a master is known the same connection works.
	rs := testenv.StartRedis(t)
	if err := p.SetMaster("orphan", rs.Addr); err != nil {
		t.Fatal(err)
	}
	r.send("PING\r\n")
	r.expect("+PONG")
}

func TestPortOutOfRange(t *testing.T) {
	p := New(context.Background(), Options{PortLo: 6100, PortHi: 6300, Logger: testLogger(io.Discard)})
	defer p.Close()
	for _, port := range []int{0, 6099, 6301, 70000} {
		err := p.Add("x", port, "")
		if !errors.Is(err, ErrPortOutOfRange) || !strings.Contains(err.Error(), fmt.Sprint(port)) {
			t.Errorf("Add port %d: %v, want ErrPortOutOfRange naming the port", port, err)
		}
	}
	if len(p.Status()) != 0 {
		t.Fatalf("refused instances are served: %+v", p.Status())
	}
	if err := p.SetMaster("x", "127.0.0.1:1"); !errors.Is(err, ErrUnknownInstance) {
		t.Fatalf("SetMaster of a refused instance: %v", err)
	}
}

func TestPortTaken(t *testing.T) {
	testenv.NeedProcesses(t)
	rs := testenv.StartRedis(t)
	var logs logBuffer
	p := newTestProxy(t, &logs)
	// Another program holds this port.
	squatter, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	taken := squatter.Addr().(*net.TCPAddr).Port
	if err := p.Add("blocked", taken, ""); err != nil {
		t.Fatal(err)
	}
	_ = p.SetMaster("blocked", rs.Addr)
	port := serve(t, p, "fine", "", rs.Addr)
	if err := viaProxy(t, port, nil).Set(context.Background(), "k", "v", 0).Err(); err != nil {
		t.Fatalf("instance next to a blocked port: %v", err)
	}
	waitFor(t, "a listen failure logged and counted", func() bool {
		return strings.Contains(logs.String(), "cannot listen on the instance's port") &&
			counterValue(t, p.m.ListenFailures.WithLabelValues("blocked")) >= 2
	})
	for _, s := range p.Status() {
		if s.Name == "blocked" && (s.Listening || !strings.Contains(s.ListenError, "address already in use")) {
			t.Fatalf("status of the blocked instance: %+v", s)
		}
	}
	// The other program goes away: the retry binds the port.
	squatter.Close()
	if err := testenv.WaitTCP(addrOf(taken), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if v, err := viaProxy(t, taken, nil).Get(context.Background(), "k").Result(); err != nil || v != "v" {
		t.Fatalf("GET through the freed port: %q %v", v, err)
	}
}

func TestRemoveClosesListener(t *testing.T) {
	testenv.NeedProcesses(t)
	rs := testenv.StartRedis(t)
	p := newTestProxy(t, nil)
	port := serve(t, p, "gone", "", rs.Addr)
	r := dialRaw(t, port)
	r.send("PING\r\n")
	r.expect("+PONG")
	p.Remove("gone")
	r.expectEOF()
	if c, err := net.DialTimeout("tcp", addrOf(port), time.Second); err == nil {
		c.Close()
		t.Fatal("listener still open after Remove")
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestMasterLost(t *testing.T) {
	testenv.NeedProcesses(t)
	a := testenv.StartRedis(t)
	p := newTestProxy(t, nil)
	port := serve(t, p, "fragile", "", a.Addr)
	inFlight, idle := dialRaw(t, port), dialRaw(t, port)
	idle.send("PING\r\n")
	idle.expect("+PONG")
	inFlight.send("BLPOP q 30\r\n")
	waitBlocked(t, direct(t, a, ""), 1)

	if err := a.Cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	inFlight.expect("-ERR mrredis: connection to the master was lost, command not executed or result unknown; retry")
	waitFor(t, "the killed redis-server to stop accepting", func() bool { return refused(a.Port) })
	// The idle connection's next command fails fast and clearly (the
	// first may still have gone to the dying connection).
	for i := 0; ; i++ {
		idle.send("PING\r\n")
		got, err := idle.line()
		if err == nil && strings.HasPrefix(got, "-ERR mrredis: master of instance fragile is unreachable, command not executed; retry") {
			break
		}
		if i > 0 || err != nil || !strings.HasPrefix(got, "-ERR mrredis: connection to the master was lost") {
			t.Fatalf("command while the master is down: %q %v", got, err)
		}
	}
	// The scheduler promotes another server: the same connections work.
	b := testenv.StartRedis(t)
	if err := p.SetMaster("fragile", b.Addr); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*rawConn{inFlight, idle} {
		c.send("PING\r\n")
		c.expect("+PONG")
	}
}

func TestPortChange(t *testing.T) {
	testenv.NeedProcesses(t)
	rs := testenv.StartRedis(t)
	p := newTestProxy(t, nil)
	first := serve(t, p, "mover", "", rs.Addr)
	second := testenv.FreePort(t)
	if err := p.Add("mover", second, ""); err != nil {
		t.Fatal(err)
	}
	if err := testenv.WaitTCP(addrOf(second), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	r := dialRaw(t, second)
	r.send("PING\r\n")
	r.expect("+PONG") // the known master is kept
	if !refused(first) {
		t.Fatal("the old port is still open")
	}
}
