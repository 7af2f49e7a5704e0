package executor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/mrredis/mrredis/internal/execproto"
	"github.com/mrredis/mrredis/internal/model"
)

// File names inside a member's directory.
const (
	ConfFile = "redis.conf"
	LogFile  = "redis.log"
)

// logTailLines is how much of redis.log a failure report carries.
const logTailLines = 10

// adminTimeout bounds one admin connection's dial and each command on it.
const adminTimeout = 2 * time.Second

// Member is one running redis-server, a child of this process in its own
// process group. Its methods are safe for concurrent use.
type Member struct {
	cfg    MemberConfig
	cmd    *exec.Cmd
	pid    int
	exited chan struct{}
	exit   ExitInfo // written once before exited is closed
}

// ExitInfo says how a redis-server ended.
type ExitInfo struct {
	At time.Time
	// Status is "exit status 1", "signal: killed", ...
	Status string
	// Code is the exit code, or -1 when a signal ended the process.
	Code int
	// LogTail is the last lines of redis.log.
	LogTail string
}

// String is a one-line description for a TASK_FAILED message.
func (e ExitInfo) String() string {
	s := "redis-server ended: " + e.Status
	if e.LogTail != "" {
		s += "; last log lines:\n" + e.LogTail
	}
	return s
}

// Ready is what a member reports once it serves.
type Ready struct {
	RunID string
	Role  model.Role
}

// StartMember writes the member's redis.conf into cfg.Dir and starts
// redis-server on it. A config that fails validation starts nothing. The
// process is killed if this process dies (Pdeathsig), so no orphan
// redis-server outlives its executor.
func StartMember(cfg MemberConfig) (*Member, error) {
	conf, err := RenderConfig(cfg)
	if err != nil {
		return nil, err
	}
	bin := cfg.RedisServer
	if bin == "" {
		bin = "redis-server"
	}
	if bin, err = exec.LookPath(bin); err != nil {
		return nil, fmt.Errorf("find redis-server: %w", err)
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("create member directory: %w", err)
	}
	confPath := filepath.Join(cfg.Dir, ConfFile)
	// 0600: the file holds the passwords.
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		return nil, fmt.Errorf("write %s: %w", confPath, err)
	}
	logf, err := os.OpenFile(filepath.Join(cfg.Dir, LogFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open redis log: %w", err)
	}
	defer logf.Close() // the child holds its own descriptor

	cmd := exec.Command(bin, confPath)
	cmd.Dir = cfg.Dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	m := &Member{cfg: cfg, cmd: cmd, pid: cmd.Process.Pid, exited: make(chan struct{})}
	go m.wait()
	return m, nil
}

// wait reaps the process the moment it ends (Wait blocks in the kernel; no
// polling), then kills whatever is left of its process group, such as a
// background-save child.
func (m *Member) wait() {
	err := m.cmd.Wait()
	at := time.Now()
	_ = syscall.Kill(-m.pid, syscall.SIGKILL)
	info := ExitInfo{At: at, Status: "exit status 0", Code: 0}
	if ps := m.cmd.ProcessState; ps != nil {
		info.Status = ps.String()
		info.Code = ps.ExitCode()
	} else if err != nil {
		info.Status, info.Code = err.Error(), -1
	}
	// The tail goes into a TASK_FAILED message, which Mesos shows to
	// anyone who can see the task; redis echoes a bad config line.
	info.LogTail = redact(tailFile(filepath.Join(m.cfg.Dir, LogFile), logTailLines), m.cfg.Data.Password, m.cfg.Data.AdminPass)
	m.exit = info
	close(m.exited)
}

// PID is the redis-server process id.
func (m *Member) PID() int { return m.pid }

// Config is the configuration the member was started with.
func (m *Member) Config() MemberConfig { return m.cfg }

// Addr is "bind:port".
func (m *Member) Addr() string { return m.cfg.addr() }

// Dir is the member's directory.
func (m *Member) Dir() string { return m.cfg.Dir }

// Exited is closed as soon as redis-server has ended; ExitInfo then says how.
func (m *Member) Exited() <-chan struct{} { return m.exited }

// ExitInfo is how the process ended; valid once Exited is closed.
func (m *Member) ExitInfo() ExitInfo {
	<-m.exited
	return m.exit
}

// admin opens an authenticated connection as the admin user.
func (m *Member) admin() (*respConn, error) {
	return dialRedis(m.Addr(), AdminUser, m.cfg.adminAuth(), adminTimeout)
}

// WaitReady waits until the server answers PING and, for a replica, its
// link to the master is up. It fails at once if the process ends, and
// when ctx is done.
func (m *Member) WaitReady(ctx context.Context) (Ready, error) {
	type result struct {
		r   Ready
		err error
	}
	var last error
	for {
		// The check runs aside so that an exit is noticed at once even
		// while a check hangs on a port someone else answers.
		done := make(chan result, 1)
		go func() {
			r, err := m.checkReady()
			done <- result{r, err}
		}()
		var wait <-chan time.Time
		select {
		case res := <-done:
			if res.err == nil {
				return res.r, nil
			}
			last = res.err
			wait = time.After(50 * time.Millisecond)
		case <-m.exited:
		case <-ctx.Done():
		}
		if wait != nil {
			select {
			case <-wait:
			case <-m.exited:
			case <-ctx.Done():
			}
		}
		select {
		case <-m.exited:
			return Ready{}, fmt.Errorf("redis-server ended before it was ready: %s", m.exit)
		case <-ctx.Done():
			return Ready{}, fmt.Errorf("redis-server on %s not ready: %w (last check: %v)", m.Addr(), ctx.Err(), last)
		default:
		}
	}
}

func (m *Member) checkReady() (Ready, error) {
	c, err := m.admin()
	if err != nil {
		return Ready{}, err
	}
	defer c.Close()
	if _, err := c.doString("PING"); err != nil {
		return Ready{}, fmt.Errorf("ping: %w", err)
	}
	text, err := c.doString("INFO", "server", "replication")
	if err != nil {
		return Ready{}, fmt.Errorf("info: %w", err)
	}
	info := ParseInfo(text)
	r := Ready{RunID: info["run_id"], Role: roleOf(info)}
	if m.cfg.Data.Role == model.RoleReplica && r.Role == model.RoleReplica && info["master_link_status"] != "up" {
		return Ready{}, fmt.Errorf("replica link to master %s:%s is %s", info["master_host"], info["master_port"], info["master_link_status"])
	}
	return r, nil
}

// Stats samples the member's INFO.
func (m *Member) Stats() (execproto.MemberStats, error) {
	c, err := m.admin()
	if err != nil {
		return execproto.MemberStats{}, err
	}
	defer c.Close()
	text, err := c.doString("INFO", "server", "clients", "memory", "stats", "replication")
	if err != nil {
		return execproto.MemberStats{}, fmt.Errorf("info: %w", err)
	}
	s := StatsFromInfo(ParseInfo(text))
	s.TaskID = m.cfg.TaskID
	s.At = time.Now().UTC()
	return s, nil
}

// Promote makes the member a master (REPLICAOF NO ONE) and returns its
// replication offset afterwards.
func (m *Member) Promote() (int64, error) {
	c, err := m.admin()
	if err != nil {
		return 0, err
	}
	defer c.Close()
	if _, err := c.doString("REPLICAOF", "NO", "ONE"); err != nil {
		return 0, fmt.Errorf("replicaof no one: %w", err)
	}
	return replOffset(c)
}

// Follow makes the member a replica of host:port, authenticating as the
// admin user, and returns its replication offset afterwards.
func (m *Member) Follow(host string, port int) (int64, error) {
	if !hostRE.MatchString(host) || port <= 0 || port > 65535 {
		return 0, fmt.Errorf("follow: %q port %d is not a valid master address", host, port)
	}
	c, err := m.admin()
	if err != nil {
		return 0, err
	}
	defer c.Close()
	if _, err := c.doString("CONFIG", "SET", "masteruser", AdminUser, "masterauth", m.cfg.adminAuth()); err != nil {
		return 0, fmt.Errorf("set replication credentials: %w", err)
	}
	if _, err := c.doString("REPLICAOF", host, strconv.Itoa(port)); err != nil {
		return 0, fmt.Errorf("replicaof %s %d: %w", host, port, err)
	}
	return replOffset(c)
}

// FailoverTo hands mastership from this master to its connected replica
// at host:port with Redis' FAILOVER command: writes pause, the replica
// catches up, becomes master, and this member becomes its replica. Unlike
// Promote on the replica, no acknowledged write can be lost. It returns
// this member's replication offset once the switch is done, or an error
// when the replica did not catch up within timeout (redis then resumes as
// master and nothing changed).
func (m *Member) FailoverTo(host string, port int, timeout time.Duration) (int64, error) {
	if !hostRE.MatchString(host) || port <= 0 || port > 65535 {
		return 0, fmt.Errorf("failover: %q port %d is not a valid replica address", host, port)
	}
	// Redis names replicas by the IP they announce (their bind address).
	if net.ParseIP(host) == nil {
		ips, err := net.LookupIP(host)
		if err != nil || len(ips) == 0 {
			return 0, fmt.Errorf("failover: resolve replica host %q: %v", host, err)
		}
		host = ips[0].String()
	}
	c, err := m.admin()
	if err != nil {
		return 0, err
	}
	defer c.Close()
	ms := strconv.FormatInt(max(timeout.Milliseconds(), 1), 10)
	if _, err := c.doString("FAILOVER", "TO", host, strconv.Itoa(port), "TIMEOUT", ms); err != nil {
		return 0, fmt.Errorf("failover to %s:%d: %w", host, port, err)
	}
	deadline := time.Now().Add(timeout + adminTimeout)
	for {
		text, err := c.doString("INFO", "replication")
		if err != nil {
			return 0, fmt.Errorf("failover to %s:%d: %w", host, port, err)
		}
		info := ParseInfo(text)
		state := info["master_failover_state"]
		switch {
		case roleOf(info) == model.RoleReplica && state == "no-failover":
			return StatsFromInfo(info).ReplOffset, nil
		case roleOf(info) == model.RoleMaster && state == "no-failover":
			return 0, fmt.Errorf("failover to %s:%d abandoned by redis (replica not in sync within %s)", host, port, timeout)
		case time.Now().After(deadline):
			return 0, fmt.Errorf("failover to %s:%d still %q after %s", host, port, state, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// SetMaxMemory changes maxmemory at runtime and returns the replication
// offset.
func (m *Member) SetMaxMemory(mb int) (int64, error) {
	if mb <= 0 {
		return 0, fmt.Errorf("set maxmemory: %d MB must be positive", mb)
	}
	c, err := m.admin()
	if err != nil {
		return 0, err
	}
	defer c.Close()
	if _, err := c.doString("CONFIG", "SET", "maxmemory", strconv.Itoa(mb)+"mb"); err != nil {
		return 0, fmt.Errorf("config set maxmemory: %w", err)
	}
	return replOffset(c)
}

func replOffset(c *respConn) (int64, error) {
	text, err := c.doString("INFO", "replication")
	if err != nil {
		return 0, fmt.Errorf("info replication: %w", err)
	}
	return StatsFromInfo(ParseInfo(text)).ReplOffset, nil
}

// Stop shuts the server down gracefully (SHUTDOWN NOSAVE without
// persistence, SHUTDOWN SAVE with it), kills its process group if it is
// still there after grace, and returns how it ended. The process is gone
// when Stop returns.
func (m *Member) Stop(grace time.Duration) ExitInfo {
	select {
	case <-m.exited:
		return m.exit
	default:
	}
	mode := "SAVE"
	if p := m.cfg.Data.Persistence; p == "" || p == model.PersistenceNone {
		mode = "NOSAVE"
	}
	timer := time.NewTimer(grace)
	defer timer.Stop()
	refused := make(chan error, 1)
	go func() { refused <- m.shutdown(mode, grace) }()
	for {
		select {
		case <-m.exited:
			return m.exit
		case err := <-refused:
			if err != nil {
				// The server would not shut down on request (a failed
				// save, say): SIGTERM is its other graceful path.
				_ = syscall.Kill(m.pid, syscall.SIGTERM)
			}
			refused = nil
		case <-timer.C:
			_ = syscall.Kill(-m.pid, syscall.SIGKILL)
			<-m.exited
			return m.exit
		}
	}
}

// Kill ends the process group at once.
func (m *Member) Kill() ExitInfo {
	_ = syscall.Kill(-m.pid, syscall.SIGKILL)
	<-m.exited
	return m.exit
}

// shutdown sends SHUTDOWN; a server that obeys closes the connection
// without a reply, so only an error reply counts as a refusal.
func (m *Member) shutdown(mode string, grace time.Duration) error {
	c, err := dialRedis(m.Addr(), AdminUser, m.cfg.adminAuth(), grace)
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.do("SHUTDOWN", mode)
	var re RedisError
	if errors.As(err, &re) {
		return err
	}
	return nil
}

// tailFile returns the last n lines of the file at path ("" if unreadable).
func tailFile(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	const window = 8 << 10
	if st, err := f.Stat(); err == nil && st.Size() > window {
		_, _ = f.Seek(-window, io.SeekEnd)
	}
	b, _ := io.ReadAll(f)
	b = bytes.TrimRight(b, "\n")
	lines := strings.Split(string(b), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// redact replaces every secret in s.
func redact(s string, secrets ...string) string {
	for _, sec := range secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, "<redacted>")
		}
	}
	return s
}
