package localproxy

import (
	"bufio"
	"context"
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/mrredis/mrredis/internal/model"
	"github.com/mrredis/mrredis/internal/testenv"
)

// calls returns how often r ran each of cmds since its stats were reset.
func calls(t *testing.T, r *redis.Client, cmds ...string) map[string]int {
	t.Helper()
	info, err := r.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, c := range cmds {
		m := regexp.MustCompile(`cmdstat_` + c + `:calls=(\d+)`).FindStringSubmatch(info)
		if m != nil {
			out[c], _ = strconv.Atoi(m[1])
		}
	}
	return out
}

func resetStats(t *testing.T, rs ...*redis.Client) {
	t.Helper()
	for _, r := range rs {
		if err := r.ConfigResetStat(context.Background()).Err(); err != nil {
			t.Fatal(err)
		}
	}
}

// replicated writes key=val on the master and waits until the replica has it.
func replicated(t *testing.T, m *redis.Client, db int, kv ...string) {
	t.Helper()
	ctx := context.Background()
	args := []any{"MSET"}
	for _, s := range kv {
		args = append(args, s)
	}
	// One connection, so that SELECT applies to the MSET.
	conn := m.Conn()
	defer conn.Close()
	pipe := conn.Pipeline()
	pipe.Do(ctx, "SELECT", db)
	pipe.Do(ctx, args...)
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := m.Do(ctx, "WAIT", 1, 5000).Int(); err != nil || n != 1 {
		t.Fatalf("WAIT: %d replicas, %v", n, err)
	}
}

// readsSetup is a master, a replica of it and a proxy serving instance
// "db" that sends reads to the replica.
type readsSetup struct {
	master, replica *testenv.Redis
	dm, dr          *redis.Client // direct to master and replica
	p               *Proxy
	port            int
	logs            *logBuffer
}

func newReadsSetup(t *testing.T) *readsSetup {
	t.Helper()
	const pw = "pw"
	s := &readsSetup{logs: &logBuffer{}}
	s.master, s.replica = replicaPair(t, pw)
	s.dm, s.dr = direct(t, s.master, pw), direct(t, s.replica, pw)
	s.p = newTestProxy(t, s.logs)
	s.port = serve(t, s.p, "db", pw, s.master.Addr)
	if err := s.p.SetReplicas("db", []string{s.replica.Addr}); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestReadsFromReplicas(t *testing.T) {
	s := newReadsSetup(t)
	dm, dr, p, port := s.dm, s.dr, s.p, s.port
	replicated(t, dm, 0, "a", "1", "b", "2")
	replicated(t, dm, 1, "x", "in-db-1")

	// Each step runs on a fresh connection: what its commands return and
	// which server ran them. (A replica's stats count the writes it
	// applies from the master too, so only its reads are checked.)
	for _, tc := range []struct {
		name        string
		send        []string // commands, one RESP array each
		want        []string // each command's reply lines, space-separated
		pipelined   bool     // send all commands in one write (else one by one)
		onMaster    map[string]int
		onReplica   map[string]int
		replicasSet []string // SetReplicas before the step (nil: unchanged)
	}{
		{name: "a read goes to the replica",
			send: []string{"GET a"}, want: []string{"$1 1"},
			onMaster: map[string]int{"get": 0}, onReplica: map[string]int{"get": 1}},
		{name: "a write goes to the master",
			send: []string{"SET c 3"}, want: []string{"+OK"},
			onMaster: map[string]int{"set": 1}},
		{name: "a pipeline of reads goes to the replica", pipelined: true,
			send: []string{"GET a", "GET b", "MGET a b"}, want: []string{"$1 1", "$1 2", "*2 $1 1 $1 2"},
			onMaster: map[string]int{"get": 0, "mget": 0}, onReplica: map[string]int{"get": 2, "mget": 1}},
		// Which server answers depends on timing here (a read waits for
		// nothing: it goes to the master while a write is in flight); the
		// order of replies does not.
		{name: "a pipeline of reads and writes keeps its order", pipelined: true,
			send: []string{"GET a", "INCR n", "GET b", "INCR n", "MGET a b"},
			want: []string{"$1 1", ":1", "$1 2", ":2", "*2 $1 1 $1 2"}},
		{name: "reads inside MULTI go to the master",
			send:     []string{"MULTI", "GET a", "EXEC"},
			want:     []string{"+OK", "+QUEUED", "*1 $1 1"},
			onMaster: map[string]int{"get": 1}, onReplica: map[string]int{"get": 0}},
		{name: "reads under WATCH go to the master",
			send:     []string{"WATCH a", "GET a", "UNWATCH", "GET b"},
			want:     []string{"+OK", "$1 1", "+OK", "$1 2"},
			onMaster: map[string]int{"get": 1}, onReplica: map[string]int{"get": 1}},
		{name: "SELECT applies to the replica connection too",
			send:     []string{"GET a", "SELECT 1", "GET x", "SELECT 0", "GET a"},
			want:     []string{"$1 1", "+OK", "$7 in-db-1", "+OK", "$1 1"},
			onMaster: map[string]int{"get": 0}, onReplica: map[string]int{"get": 3}},
		{name: "AUTH is answered by the proxy between reads",
			send:     []string{"GET a", "AUTH whatever", "GET b"},
			want:     []string{"$1 1", "+OK", "$1 2"},
			onMaster: map[string]int{"get": 0}, onReplica: map[string]int{"get": 2}},
		{name: "no replicas listed: reads go to the master", replicasSet: []string{},
			send: []string{"GET a"}, want: []string{"$1 1"},
			onMaster: map[string]int{"get": 1}, onReplica: map[string]int{"get": 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.replicasSet != nil {
				if err := p.SetReplicas("db", tc.replicasSet); err != nil {
					t.Fatal(err)
				}
			}
			resetStats(t, dm, dr)
			r := dialRaw(t, port)
			expect := func(i int) {
				for _, w := range strings.Fields(tc.want[i]) {
					r.expect(w)
				}
			}
			if tc.pipelined {
				var b []byte
				for _, c := range tc.send {
					b = appendCommand(b, strings.Fields(c)...)
				}
				r.send(string(b))
				for i := range tc.want {
					expect(i)
				}
			} else {
				for i, c := range tc.send {
					r.send(string(appendCommand(nil, strings.Fields(c)...)))
					expect(i)
				}
			}
			for srv, want := range map[string]map[string]int{"master": tc.onMaster, "replica": tc.onReplica} {
				c := dm
				if srv == "replica" {
					c = dr
				}
				var names []string
				for k := range want {
					names = append(names, k)
				}
				if got := calls(t, c, names...); !equalCounts(got, want) {
					t.Errorf("%s ran %v, want %v", srv, got, want)
				}
			}
		})
	}
}

func equalCounts(got, want map[string]int) bool {
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

// A replica that leaves the list or cannot be reached costs a read
// nothing but a trip to the master.
func TestReplicaGoneReadsFromMaster(t *testing.T) {
	s := newReadsSetup(t)
	dm, p, port, replica, logs := s.dm, s.p, s.port, s.replica, s.logs
	replicated(t, dm, 0, "a", "1")

	r := dialRaw(t, port)
	r.send("GET a\r\n")
	r.expect("$1")
	r.expect("1")
	// Removed from the list: the connection drops its replica.
	if err := p.SetReplicas("db", nil); err != nil {
		t.Fatal(err)
	}
	resetStats(t, dm)
	r.send("GET a\r\n")
	r.expect("$1")
	r.expect("1")
	if got := calls(t, dm, "get"); got["get"] != 1 {
		t.Fatalf("after the replica left the list the master ran %v GETs, want 1", got["get"])
	}

	// Listed but dead: the read is answered by the master, and said so.
	if err := p.SetReplicas("db", []string{replica.Addr}); err != nil {
		t.Fatal(err)
	}
	_ = replica.Cmd.Process.Kill()
	waitFor(t, "replica down", func() bool {
		c, err := net.DialTimeout("tcp", replica.Addr, 100*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	r2 := dialRaw(t, port)
	r2.send("GET a\r\n")
	r2.expect("$1")
	r2.expect("1")
	if !strings.Contains(logs.String(), "cannot connect to a replica") {
		t.Fatalf("no log line about the unreachable replica:\n%s", logs.String())
	}
	// The first connection's replica connection broke: it too reads on.
	r.send("GET a\r\n")
	if got, err := r.line(); err != nil || (got != "$1" && !strings.Contains(got, "replica was lost")) {
		t.Fatalf("read after the replica died: %q %v", got, err)
	}
}

// The Follower routes reads of an instance created with read_from_replicas
// to the replicas the scheduler lists in ZooKeeper, and only of that one.
func TestFollowReplicas(t *testing.T) {
	zks := testenv.ZooKeeper(t)
	root := testenv.Root(t)
	ctx := context.Background()
	sched := openStore(t, zks.Addr(), root, 0)
	p, _ := following(t, openStore(t, zks.Addr(), root, 0), nil)

	for _, spec := range []model.Spec{{Name: "reads", ReadFromReplicas: true}, {Name: "plain"}} {
		spec.MemoryMB = 64
		inst := model.Instance{Spec: spec, ProxyPort: testenv.FreePort(t), State: model.StateRunning}
		if _, err := sched.CreateInstance(ctx, inst); err != nil {
			t.Fatal(err)
		}
		if err := sched.SetReplicas(ctx, spec.Name, []string{"127.0.0.1:7001", "127.0.0.1:7002"}); err != nil {
			t.Fatal(err)
		}
	}
	replicasOf := func(name string) string {
		for _, s := range p.Status() {
			if s.Name == name {
				return strings.Join(s.Replicas, ",")
			}
		}
		return "<not served>"
	}
	waitFor(t, "replicas followed", func() bool { return replicasOf("reads") == "127.0.0.1:7001,127.0.0.1:7002" })
	if err := sched.SetReplicas(ctx, "reads", []string{"127.0.0.1:7002"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "replica change followed", func() bool { return replicasOf("reads") == "127.0.0.1:7002" })
	if got := replicasOf("plain"); got != "" {
		t.Fatalf("instance without read_from_replicas routes reads to %q", got)
	}
}

func TestReadOnly(t *testing.T) {
	for _, tc := range []struct {
		name string
		want bool
	}{
		{"GET", true}, {"get", true}, {"MGet", true}, {"georadiusbymember_ro", true}, {"ZRANGEBYSCORE", true},
		{"SET", false}, {"GETDEL", false}, {"GETEX", false}, {"BLPOP", false}, {"XREAD", false},
		{"EVAL", false}, {"OBJECT", false}, {"", false}, {strings.Repeat("G", 40), false},
	} {
		if got := readOnly([]byte(tc.name)); got != tc.want {
			t.Errorf("readOnly(%q) = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// Cases that once hung or misbehaved: a read then SUBSCRIBE in one write,
// a large pipeline mixing reads and writes written before any reply is
// read, and a dead replica with several reads in one write.
func TestReplicaReadsEdgeCases(t *testing.T) {
	s := newReadsSetup(t)
	dm, p, port, logs := s.dm, s.p, s.port, s.logs
	big := strings.Repeat("x", 1024)
	// A long key makes the pipeline's commands outgrow the socket buffers
	// too, or the kernel would absorb the whole write.
	bigKey := "big:" + strings.Repeat("k", 600)
	replicated(t, dm, 0, "a", "1", bigKey, big)

	t.Run("read then SUBSCRIBE", func(t *testing.T) {
		r := dialRaw(t, port)
		r.send("GET a\r\nSUBSCRIBE ch\r\n")
		for _, want := range []string{"$1", "1", "*3", "$9", "subscribe", "$2", "ch", ":1"} {
			r.expect(want)
		}
	})

	t.Run("pipeline written before reading", func(t *testing.T) {
		const pairs = 30000
		var cmds []byte
		for i := 0; i < pairs; i++ {
			cmds = appendCommand(cmds, "GET", bigKey)
			cmds = appendCommand(cmds, "INCR", "n")
		}
		c, err := net.Dial("tcp", addrOf(port))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// All of it first, as pipelining clients do: the proxy must keep
		// reading while replies pile up unread.
		_ = c.SetWriteDeadline(time.Now().Add(30 * time.Second))
		if _, err := c.Write(cmds); err != nil {
			t.Fatalf("writing the pipeline: %v (the proxy stopped reading)", err)
		}
		_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
		rd := bufio.NewReaderSize(c, 1<<16)
		line := func() string {
			s, err := rd.ReadString('\n')
			if err != nil {
				t.Fatalf("reading replies: %v", err)
			}
			return strings.TrimRight(s, "\r\n")
		}
		for i := 1; i <= pairs; i++ {
			if h, v := line(), line(); h != "$1024" || v != big {
				t.Fatalf("reply %d of GET: %q", i, h)
			}
			if got := line(); got != ":"+strconv.Itoa(i) {
				t.Fatalf("reply %d of INCR: %q, want :%d (out of order?)", i, got, i)
			}
		}
	})

	t.Run("a read in flight when its replica leaves the list is answered", func(t *testing.T) {
		r := dialRaw(t, port)
		r.send("GET a\r\n")
		r.expect("$1")
		r.expect("1")
		// The replica holds the next read for a moment, during which it
		// leaves the list (promoted, scaled down): the read still gets
		// its answer, not an error.
		if err := s.dr.Do(context.Background(), "CLIENT", "PAUSE", 400, "ALL").Err(); err != nil {
			t.Fatal(err)
		}
		r.send("GET a\r\n")
		time.Sleep(100 * time.Millisecond)
		if err := p.SetReplicas("db", nil); err != nil {
			t.Fatal(err)
		}
		r.expect("$1")
		r.expect("1")
		if err := p.SetReplicas("db", []string{s.replica.Addr}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("dead replica dialed once", func(t *testing.T) {
		dead := testenv.FreePort(t) // nothing listens there
		if err := p.SetReplicas("db", []string{addrOf(dead)}); err != nil {
			t.Fatal(err)
		}
		before := strings.Count(logs.String(), "cannot connect to a replica")
		r := dialRaw(t, port)
		r.send(strings.Repeat("GET a\r\nINCR m\r\n", 5))
		for i := 1; i <= 5; i++ {
			r.expect("$1")
			r.expect("1")
			r.expect(":" + strconv.Itoa(i))
		}
		if n := strings.Count(logs.String(), "cannot connect to a replica") - before; n != 1 {
			t.Fatalf("%d failed dials for one connection, want 1", n)
		}
	})
}
