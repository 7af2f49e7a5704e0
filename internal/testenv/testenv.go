// Package testenv gives tests the real processes they run against: a
// private ZooKeeper shared by one test binary, redis-server instances, free
// ports and freshly built binaries. Process-level helpers skip under
// `go test -short`.
package testenv

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mrredis/mrredis/internal/zkserver"
)

// shared is the state one test binary shares between its tests: the
// ZooKeeper started on first use and the binaries built on first use.
// It lives for the test binary, and Main cleans it up.
type shared struct {
	mu     sync.Mutex
	zk     *zkserver.Server
	zkErr  error
	binDir string
	bins   map[string]string
}

var env = &shared{bins: map[string]string{}}

// Main runs the tests and then stops what they started. Use it in TestMain:
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
func Main(m *testing.M) {
	code := m.Run()
	env.mu.Lock()
	if env.zk != nil {
		env.zk.Stop()
	}
	if env.binDir != "" {
		_ = os.RemoveAll(env.binDir)
	}
	env.mu.Unlock()
	os.Exit(code)
}

// NeedProcesses skips t under -short: it starts real servers.
func NeedProcesses(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts real processes; skipped with -short")
	}
}

// ZooKeeper returns the connect string of the test binary's private
// ZooKeeper, starting it on first use. Tests get isolation by using a root
// of their own: see Root.
func ZooKeeper(t testing.TB) *zkserver.Server {
	t.Helper()
	NeedProcesses(t)
	env.mu.Lock()
	defer env.mu.Unlock()
	if env.zk == nil && env.zkErr == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		env.zk, env.zkErr = zkserver.Start(ctx, zkserver.Options{})
	}
	if env.zkErr != nil {
		t.Fatalf("start zookeeper: %v", env.zkErr)
	}
	return env.zk
}

// Root returns a ZooKeeper root path unique to t, like "/t/TestFoo-123".
func Root(t testing.TB) string {
	name := strings.NewReplacer("/", "-", " ", "-").Replace(t.Name())
	return fmt.Sprintf("/t/%s-%d", strings.ToLower(name), time.Now().UnixNano())
}

// FreePort returns a TCP port that was free on 127.0.0.1 a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Redis is a redis-server started for a test.
type Redis struct {
	Addr string
	Port int
	Dir  string
	Cmd  *exec.Cmd
}

// RedisServerPath finds redis-server or fails t with what to install.
func RedisServerPath(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server not found (run scripts/deps.sh): %v", err)
	}
	return p
}

// StartRedis starts redis-server on a free loopback port with the extra
// config directives given ("maxmemory 10mb", ...), waits for PING, and
// stops it when t ends.
func StartRedis(t testing.TB, directives ...string) *Redis {
	t.Helper()
	NeedProcesses(t)
	bin := RedisServerPath(t)
	dir := t.TempDir()
	port := FreePort(t)
	conf := []string{
		"bind 127.0.0.1", fmt.Sprintf("port %d", port), "dir " + dir,
		"save \"\"", "appendonly no", "daemonize no", "logfile \"\"",
	}
	conf = append(conf, directives...)
	cfg := filepath.Join(dir, "redis.conf")
	if err := os.WriteFile(cfg, []byte(strings.Join(conf, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, cfg)
	log, err := os.Create(filepath.Join(dir, "redis.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start redis-server: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); log.Close(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
	})
	r := &Redis{Addr: fmt.Sprintf("127.0.0.1:%d", port), Port: port, Dir: dir, Cmd: cmd}
	if err := WaitTCP(r.Addr, 10*time.Second); err != nil {
		b, _ := os.ReadFile(filepath.Join(dir, "redis.log"))
		t.Fatalf("redis-server on %s: %v\n%s", r.Addr, err, b)
	}
	return r
}

// WaitTCP waits until addr accepts a connection.
func WaitTCP(addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not accepting connections after %s: %w", addr, timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Binary builds the main package pkg (an import path such as
// "github.com/mrredis/mrredis/cmd/mrr-executor") once per test binary and
// returns the path of the result.
func Binary(t testing.TB, pkg string) string {
	t.Helper()
	NeedProcesses(t)
	env.mu.Lock()
	defer env.mu.Unlock()
	if p, ok := env.bins[pkg]; ok {
		return p
	}
	if env.binDir == "" {
		d, err := os.MkdirTemp("", "mrr-bin-")
		if err != nil {
			t.Fatal(err)
		}
		env.binDir = d
	}
	out := filepath.Join(env.binDir, filepath.Base(pkg))
	cmd := exec.Command(goTool(), "build", "-o", out, pkg)
	cmd.Dir = ModuleRoot(t)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	env.bins[pkg] = out
	return out
}

// ModuleRoot is the directory holding go.mod.
func ModuleRoot(t testing.TB) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// goTool finds the go command: on PATH, else where Debian-style installs
// of the official toolchain put it.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "/usr/local/go/bin/go"
}
