package executor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mrredis/mrredis/internal/execproto"
	"github.com/mrredis/mrredis/internal/model"
	"github.com/mrredis/mrredis/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

var memberSeq atomic.Int64

// startMember starts a real redis-server member for t on bind (a
// loopback address standing for a host) and kills it when t ends.
func startMember(t testing.TB, bind string, d execproto.TaskData) *Member {
	t.Helper()
	testenv.NeedProcesses(t)
	if d.Instance == "" {
		d.Instance = "test"
	}
	if d.Role == "" {
		d.Role = model.RoleMaster
	}
	if d.MaxMemoryMB == 0 {
		d.MaxMemoryMB = 32
	}
	if d.Port == 0 {
		d.Port = freePortOn(t, bind)
	}
	id := fmt.Sprintf("task-%d", memberSeq.Add(1))
	m, err := StartMember(MemberConfig{
		TaskID:      id,
		Data:        d,
		Dir:         filepath.Join(t.TempDir(), id),
		Bind:        bind,
		RedisServer: testenv.RedisServerPath(t),
	})
	if err != nil {
		t.Fatalf("start member: %v", err)
	}
	t.Cleanup(func() { m.Kill() })
	return m
}

func freePortOn(t testing.TB, host string) int {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatalf("free port on %s: %v", host, err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func waitReady(t testing.TB, m *Member) Ready {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := m.WaitReady(ctx)
	if err != nil {
		t.Fatalf("member %s not ready: %v\n%s", m.Addr(), err, tailFile(filepath.Join(m.Dir(), LogFile), 20))
	}
	return r
}

// client connects to m as a client (the default user) or as user.
func client(t testing.TB, m *Member, user, pass string) *respConn {
	t.Helper()
	c, err := dialRedis(m.Addr(), user, pass, 5*time.Second)
	if err != nil {
		t.Fatalf("connect to %s: %v", m.Addr(), err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// eventually polls cond every 20 ms until it holds or 20 s pass.
func eventually(t testing.TB, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func getIs(c *respConn, key, want string) func() error {
	return func() error {
		v, err := c.do("GET", key)
		if err != nil {
			return err
		}
		if v != want {
			return fmt.Errorf("GET %s = %v, want %q", key, v, want)
		}
		return nil
	}
}

func gone(pid int) error {
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("process %d still exists (kill 0: %v)", pid, err)
	}
	return nil
}

func TestMasterReplicaPromoteFollow(t *testing.T) {
	base := execproto.TaskData{Password: "client pw", AdminPass: "admin-pw", Persistence: model.PersistenceNone}
	master := startMember(t, "127.0.0.2", base)
	if r := waitReady(t, master); r.Role != model.RoleMaster || r.RunID == "" {
		t.Fatalf("master ready as %+v", r)
	}
	rd := base
	rd.Role, rd.MasterHost, rd.MasterPort = model.RoleReplica, "127.0.0.2", master.Config().Data.Port
	replica := startMember(t, "127.0.0.3", rd)
	if r := waitReady(t, replica); r.Role != model.RoleReplica {
		t.Fatalf("replica ready as %+v", r)
	}
	st, err := replica.Stats()
	if err != nil || !st.LinkUp || st.Role != model.RoleReplica {
		t.Fatalf("replica stats after ready: %+v, %v", st, err)
	}

	mc := client(t, master, "", "client pw")
	rc := client(t, replica, "", "client pw")
	if _, err := mc.doString("SET", "k1", "v1"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "k1 replicated to the replica", getIs(rc, "k1", "v1"))
	if _, err := rc.doString("SET", "x", "y"); err == nil || !strings.Contains(err.Error(), "READONLY") {
		t.Errorf("write on a replica: %v, want READONLY", err)
	}

	// Failover by hand: promote the replica, make the old master follow it.
	off, err := replica.Promote()
	if err != nil {
		t.Fatalf("promote: %v", err)
	}
	if off <= 0 {
		t.Errorf("offset after promote = %d, want > 0", off)
	}
	if st, err := replica.Stats(); err != nil || st.Role != model.RoleMaster {
		t.Fatalf("promoted replica stats: %+v, %v", st, err)
	}
	if _, err := master.Follow("127.0.0.3", replica.Config().Data.Port); err != nil {
		t.Fatalf("follow: %v", err)
	}
	eventually(t, "old master follows the new one", func() error {
		st, err := master.Stats()
		if err != nil {
			return err
		}
		if st.Role != model.RoleReplica || !st.LinkUp {
			return fmt.Errorf("old master: role %s link up %v", st.Role, st.LinkUp)
		}
		return nil
	})
	if _, err := rc.doString("SET", "k2", "v2"); err != nil {
		t.Fatalf("write to the new master: %v", err)
	}
	eventually(t, "k2 replicated to the old master", getIs(mc, "k2", "v2"))
	eventually(t, "the new master reports no lag", func() error {
		st, err := replica.Stats()
		if err != nil {
			return err
		}
		if st.LagBytes != 0 {
			return fmt.Errorf("lag %d bytes", st.LagBytes)
		}
		return nil
	})
}

func TestACL(t *testing.T) {
	m := startMember(t, "127.0.0.2", execproto.TaskData{Password: "pw", AdminPass: "adm", MaxMemoryMB: 48})
	waitReady(t, m)

	if _, err := dialRedis(m.Addr(), "", "wrong", 2*time.Second); err == nil {
		t.Error("AUTH with a wrong password succeeded")
	}
	if _, err := dialRedis(m.Addr(), AdminUser, "pw", 2*time.Second); err == nil {
		t.Error("the client password authenticated the admin user")
	}
	c := client(t, m, "", "pw")
	if _, err := c.doString("SET", "a", "1"); err != nil {
		t.Fatalf("client SET: %v", err)
	}
	if err := getIs(c, "a", "1")(); err != nil {
		t.Fatalf("client GET: %v", err)
	}
	for _, cmd := range [][]string{
		{"CONFIG", "GET", "maxmemory"}, {"REPLICAOF", "NO", "ONE"}, {"SHUTDOWN", "NOSAVE"},
		{"ACL", "LIST"}, {"CONFIG", "SET", "maxmemory", "1gb"},
	} {
		_, err := c.do(cmd...)
		if err == nil || !strings.Contains(err.Error(), "NOPERM") {
			t.Errorf("client %s: %v, want NOPERM", cmd[0], err)
		}
	}

	a := client(t, m, AdminUser, "adm")
	v, err := a.do("CONFIG", "GET", "maxmemory")
	if err != nil {
		t.Fatalf("admin CONFIG GET: %v", err)
	}
	if got := fmt.Sprint(v); got != fmt.Sprint([]any{"maxmemory", strconv.Itoa(48 << 20)}) {
		t.Errorf("maxmemory = %s, want 48 MB", got)
	}
	if _, err := m.SetMaxMemory(96); err != nil {
		t.Fatalf("set maxmemory: %v", err)
	}
	v, _ = a.do("CONFIG", "GET", "maxmemory")
	if got := fmt.Sprint(v); got != fmt.Sprint([]any{"maxmemory", strconv.Itoa(96 << 20)}) {
		t.Errorf("after SetMaxMemory(96) maxmemory = %s", got)
	}
	v, _ = a.do("CONFIG", "GET", "maxmemory-policy")
	if got := fmt.Sprint(v); got != "[maxmemory-policy noeviction]" {
		t.Errorf("policy = %s, want noeviction", got)
	}
}

// Without any password, replicas on other hosts must still connect: this
// is why the rendered config turns protected mode off.
func TestNoPasswordReplicaOnOtherHost(t *testing.T) {
	master := startMember(t, "127.0.0.2", execproto.TaskData{})
	waitReady(t, master)
	replica := startMember(t, "127.0.0.3", execproto.TaskData{
		Role: model.RoleReplica, MasterHost: "127.0.0.2", MasterPort: master.Config().Data.Port,
	})
	waitReady(t, replica)
	c := client(t, master, "", "")
	if _, err := c.doString("SET", "k", "v"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.do("CONFIG", "GET", "port"); err == nil || !strings.Contains(err.Error(), "NOPERM") {
		t.Errorf("client CONFIG without a password: %v, want NOPERM", err)
	}
	if _, err := master.Promote(); err != nil {
		t.Errorf("admin command on a passwordless instance: %v", err)
	}
	eventually(t, "k replicated", getIs(client(t, replica, "", ""), "k", "v"))
}

func TestCrashReportedWithLogTail(t *testing.T) {
	m := startMember(t, "127.0.0.2", execproto.TaskData{})
	waitReady(t, m)
	if err := syscall.Kill(m.PID(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case <-m.Exited():
	case <-time.After(10 * time.Second):
		t.Fatal("kill -9 of redis-server not noticed")
	}
	info := m.ExitInfo()
	if info.Code != -1 || !strings.Contains(info.Status, "killed") {
		t.Errorf("exit info %+v, want killed by a signal", info)
	}
	if !strings.Contains(info.LogTail, "Ready to accept connections") {
		t.Errorf("log tail lacks redis' last lines: %q", info.LogTail)
	}
	if n := strings.Count(info.LogTail, "\n"); n >= logTailLines {
		t.Errorf("log tail has %d lines, want at most %d", n+1, logTailLines)
	}
	if err := gone(m.PID()); err != nil {
		t.Error(err)
	}
}

func TestPortInUseFailsWithReason(t *testing.T) {
	testenv.NeedProcesses(t)
	l, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	m := startMember(t, "127.0.0.2", execproto.TaskData{Port: l.Addr().(*net.TCPAddr).Port})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err = m.WaitReady(ctx)
	if err == nil || !strings.Contains(err.Error(), "ended before it was ready") {
		t.Fatalf("WaitReady: %v, want the process to have ended", err)
	}
	info := m.ExitInfo()
	if info.Code == 0 || !strings.Contains(info.LogTail, "Address already in use") {
		t.Errorf("exit info %+v lacks the bind failure", info)
	}
}

func TestReplicaNotReadyWithoutMaster(t *testing.T) {
	dead := freePortOn(t, "127.0.0.2")
	m := startMember(t, "127.0.0.3", execproto.TaskData{Role: model.RoleReplica, MasterHost: "127.0.0.2", MasterPort: dead})
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	_, err := m.WaitReady(ctx)
	if err == nil || !strings.Contains(err.Error(), "link to master") {
		t.Fatalf("WaitReady without a master: %v, want a link-down error", err)
	}
}

func TestStopLeavesNothingBehind(t *testing.T) {
	for _, p := range []model.Persistence{model.PersistenceNone, model.PersistenceRDB} {
		t.Run(string(p), func(t *testing.T) {
			m := startMember(t, "127.0.0.2", execproto.TaskData{Persistence: p, Password: "pw", AdminPass: "adm"})
			waitReady(t, m)
			if _, err := client(t, m, "", "pw").doString("SET", "k", "v"); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			info := m.Stop(10 * time.Second)
			if info.Code != 0 {
				t.Errorf("graceful stop ended with %+v", info)
			}
			if err := gone(m.PID()); err != nil {
				t.Error(err)
			}
			_, err := os.Stat(filepath.Join(m.Dir(), "dump.rdb"))
			switch {
			case p == model.PersistenceRDB && err != nil:
				t.Errorf("SHUTDOWN SAVE left no dump.rdb: %v", err)
			case p == model.PersistenceNone && err == nil:
				t.Error("SHUTDOWN NOSAVE wrote dump.rdb")
			}
			t.Logf("graceful stop took %s", time.Since(start))
		})
	}
}

// BenchmarkCrashDetection measures kill -9 of redis-server to Exited being
// closed. Target: well under 100 ms.
func BenchmarkCrashDetection(b *testing.B) {
	var total, worst time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		m := startMember(b, "127.0.0.2", execproto.TaskData{})
		waitReady(b, m)
		b.StartTimer()
		start := time.Now()
		if err := syscall.Kill(m.PID(), syscall.SIGKILL); err != nil {
			b.Fatal(err)
		}
		<-m.Exited()
		d := time.Since(start)
		total += d
		worst = max(worst, d)
	}
	b.ReportMetric(float64(total.Microseconds())/float64(b.N), "µs/detect")
	b.ReportMetric(float64(worst.Microseconds()), "µs-worst")
	b.Logf("kill -9 -> detected: mean %s, worst %s over %d kills", total/time.Duration(b.N), worst, b.N)
}

// FailoverTo is the switchover primitive that loses nothing: a writer
// keeps writing to the old master throughout, and every write it saw
// acknowledged is on the new master afterwards.
func TestFailoverToLosesNoAcknowledgedWrites(t *testing.T) {
	base := execproto.TaskData{Password: "pw", AdminPass: "adm"}
	master := startMember(t, "127.0.0.2", base)
	waitReady(t, master)
	rd := base
	rd.Role, rd.MasterHost, rd.MasterPort = model.RoleReplica, "127.0.0.2", master.Config().Data.Port
	replica := startMember(t, "127.0.0.3", rd)
	waitReady(t, replica)

	w := client(t, master, "", "pw")
	acked, stop, done := 0, make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for i := 1; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := w.do("RPUSH", "log", strconv.Itoa(i)); err == nil {
				acked = i
			} else if !strings.Contains(err.Error(), "READONLY") {
				return
			}
		}
	}()
	eventually(t, "writes flowing", func() error {
		if n, err := client(t, replica, "", "pw").do("LLEN", "log"); err != nil || n.(int64) < 100 {
			return fmt.Errorf("replica has %v entries (%v)", n, err)
		}
		return nil
	})
	if _, err := master.FailoverTo("127.0.0.3", replica.Config().Data.Port, 5*time.Second); err != nil {
		t.Fatalf("failover: %v", err)
	}
	close(stop)
	<-done
	if st, err := replica.Stats(); err != nil || st.Role != model.RoleMaster {
		t.Fatalf("new master stats %+v, %v", st, err)
	}
	if st, err := master.Stats(); err != nil || st.Role != model.RoleReplica {
		t.Fatalf("old master stats %+v, %v", st, err)
	}
	v, err := client(t, replica, "", "pw").do("LRANGE", "log", "0", "-1")
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, x := range v.([]any) {
		have[x.(string)] = true
	}
	for i := 1; i <= acked; i++ {
		if !have[strconv.Itoa(i)] {
			t.Fatalf("acknowledged write %d of %d missing on the new master", i, acked)
		}
	}
	t.Logf("failover with a live writer: %d acknowledged writes, none lost", acked)
}
