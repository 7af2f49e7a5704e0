package localproxy

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/mrredis/mrredis/internal/testenv"
)

// proxied starts a redis-server and a proxy serving it as instance
// "cache" on the returned port.
func proxied(t *testing.T) (*testenv.Redis, *Proxy, int) {
	t.Helper()
	testenv.NeedProcesses(t)
	rs := testenv.StartRedis(t)
	p := newTestProxy(t, nil)
	return rs, p, serve(t, p, "cache", "", rs.Addr)
}

// setBig stores a value of size bytes at key "big", directly.
func setBig(t *testing.T, rs *testenv.Redis, size int) {
	t.Helper()
	if err := direct(t, rs, "").Set(context.Background(), "big", strings.Repeat("v", size), 0).Err(); err != nil {
		t.Fatal(err)
	}
}

// multibulk encodes commands, each given as space-separated words, as
// RESP arrays: inline commands pin a client (see clientConn.dest).
func multibulk(cmds ...string) string {
	var b []byte
	for _, c := range cmds {
		b = appendCommand(b, strings.Fields(c)...)
	}
	return string(b)
}

// backendConns counts the connections redis has besides the one asking.
func backendConns(t *testing.T, dr *redis.Client) int {
	t.Helper()
	list, err := dr.ClientList(context.Background()).Result()
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(strings.TrimSpace(list), "\n")
}

// TestSharedConnections checks that clients of both protocols, go-redis
// with its defaults (HELLO 3, CLIENT SETINFO) included, are served over
// one shared connection per protocol, and that many clients pipelining at
// once each get their own replies.
func TestSharedConnections(t *testing.T) {
	rs, _, port := proxied(t)
	dr := direct(t, rs, "")
	ctx := context.Background()

	const clients, rounds, depth = 16, 20, 50
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			opts := &redis.Options{PoolSize: 1}
			if i%2 == 0 {
				opts.Protocol = 2
			}
			c := viaProxy(t, port, opts)
			key := fmt.Sprintf("ctr%d", i)
			for r := range rounds {
				cmds, err := c.Pipelined(ctx, func(pl redis.Pipeliner) error {
					for range depth {
						pl.Incr(ctx, key)
					}
					pl.Get(ctx, key)
					return nil
				})
				if err != nil {
					errs <- fmt.Errorf("client %d: %w", i, err)
					return
				}
				for j, cmd := range cmds[:depth] {
					if got, want := cmd.(*redis.IntCmd).Val(), int64(r*depth+j+1); got != want {
						errs <- fmt.Errorf("client %d: INCR %s answered %d, want %d: replies crossed", i, key, got, want)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := backendConns(t, dr); n != 2 {
		list, _ := dr.ClientList(ctx).Result()
		t.Fatalf("redis has %d connections from the proxy, want 2 (one shared per protocol):\n%s", n, list)
	}
}

// TestPinning checks commands that need a connection of their own: the
// client gets one, its replies stay in order with those of the shared
// connection before, and the clients still on the shared one are not
// affected.
func TestPinning(t *testing.T) {
	rs, p, port := proxied(t)
	dr := direct(t, rs, "")
	ctx := context.Background()
	shared := viaProxy(t, port, &redis.Options{Protocol: 2})
	if err := shared.Set(ctx, "k", "db0", 0).Err(); err != nil {
		t.Fatal(err)
	}
	base := backendConns(t, dr)
	pinned := func() float64 { return counterValue(t, p.m.Pinned.WithLabelValues("cache")) }

	tests := []struct {
		name  string
		send  string
		reply []string
	}{
		{"select", multibulk("SET a 1", "SELECT 1", "SET k db1", "GET k"), []string{"+OK", "+OK", "+OK", "$3", "db1"}},
		{"multi", multibulk("SET b 1", "MULTI", "INCR b", "EXEC", "GET b"), []string{"+OK", "+OK", "+QUEUED", "*1", ":2", "$1", "2"}},
		{"client setname", multibulk("PING", "CLIENT SETNAME app", "CLIENT GETNAME"), []string{"+PONG", "+OK", "$3", "app"}},
		{"big command", multibulk("SET c 1", "SET big "+strings.Repeat("x", 3*bufSize), "STRLEN big"),
			[]string{"+OK", "+OK", fmt.Sprintf(":%d", 3*bufSize)}},
		{"inline command", multibulk("SET d 1") + "GET d\r\n", []string{"+OK", "$1", "1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := pinned()
			r := dialRaw(t, port)
			r.send(tt.send)
			for _, want := range tt.reply {
				r.expect(want)
			}
			if n := backendConns(t, dr); n != base+1 {
				t.Fatalf("redis has %d proxy connections, want %d: the pinned client has no connection of its own", n, base+1)
			}
			if v, err := shared.Get(ctx, "k").Result(); err != nil || v != "db0" {
				t.Fatalf("shared client: GET k = %q, %v; want db0", v, err)
			}
			if got := pinned() - before; got != 1 {
				t.Fatalf("pinned connections counter grew by %v, want 1", got)
			}
			r.c.Close()
			waitFor(t, "the pinned connection to close", func() bool { return backendConns(t, dr) == base })
		})
	}
	t.Run("client setinfo, auth and client maint_notifications are answered and do not pin", func(t *testing.T) {
		before, pinnedBefore := backendConns(t, dr), pinned()
		r := dialRaw(t, port)
		r.send(multibulk("CLIENT SETINFO LIB-NAME x", "CLIENT SETINFO LIB-VER 1", "AUTH pw", "PING", "CLIENT MAINT_NOTIFICATIONS ON", "PING"))
		for _, want := range []string{"+OK", "+OK", "+OK", "+PONG", string(errNoMaintNotifications[:len(errNoMaintNotifications)-2]), "+PONG"} {
			r.expect(want)
		}
		if n := backendConns(t, dr); n != before || pinned() != pinnedBefore {
			t.Fatalf("redis has %d proxy connections, want %d; pinned counter %v, want %v", n, before, pinned(), pinnedBefore)
		}
	})
	t.Run("hello 3 goes to the resp3 shared connection", func(t *testing.T) {
		r := dialRaw(t, port)
		before := backendConns(t, dr)
		r.send(multibulk("GET nokey", "HELLO 3"))
		r.expect("$-1")
		if l, _ := r.line(); !strings.HasPrefix(l, "%") {
			t.Fatalf("HELLO 3 answered %q, want a map", l)
		}
		for l, _ := r.line(); l != "proto"; l, _ = r.line() {
		}
		r.expect(":3")
		r.send(multibulk("PING", "GET nokey"))
		for l, _ := r.line(); l != "+PONG"; l, _ = r.line() {
		}
		r.expect("_") // RESP3 null
		// One more connection: the shared RESP3 one, not one of its own.
		if n := backendConns(t, dr); n != before+1 {
			t.Fatalf("redis has %d proxy connections, want %d", n, before+1)
		}
	})
	t.Run("blocking command", func(t *testing.T) {
		blocked := viaProxy(t, port, &redis.Options{Protocol: 2, PoolSize: 1})
		got := make(chan []string, 1)
		go func() {
			v, _ := blocked.BLPop(ctx, 10*time.Second, "queue").Result()
			got <- v
		}()
		waitBlocked(t, dr, 1)
		// The shared connection is not blocked behind it.
		if err := shared.LPush(ctx, "queue", "job").Err(); err != nil {
			t.Fatal(err)
		}
		select {
		case v := <-got:
			if len(v) != 2 || v[1] != "job" {
				t.Fatalf("BLPOP = %v", v)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("BLPOP not answered")
		}
	})
}

// TestSlowReaderDoesNotStall checks that a client that does not read its
// replies holds up neither the shared connection nor the other clients,
// and gets every byte once it reads.
func TestSlowReaderDoesNotStall(t *testing.T) {
	rs, _, port := proxied(t)
	ctx := context.Background()
	const size, gets = 256 << 10, 64
	setBig(t, rs, size)
	slow := dialRaw(t, port)
	slow.send(strings.Repeat(multibulk("GET big"), gets))
	// 16 MiB of replies that nobody reads yet.
	fast := viaProxy(t, port, &redis.Options{Protocol: 2})
	for i := range 200 {
		c, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := fast.Set(c, "fast", i, 0).Err()
		cancel()
		if err != nil {
			t.Fatalf("command %d of a reading client behind a client that does not read: %v", i, err)
		}
	}
	for i := range gets {
		slow.expect(fmt.Sprintf("$%d", size))
		if l, err := slow.line(); err != nil || len(l) != size {
			t.Fatalf("reply %d: %d bytes, %v", i, len(l), err)
		}
	}
}
