// Package zkserver runs a private, single-node ZooKeeper (Debian's
// zookeeper package, run with java) on a loopback port with its own data
// directory. Tests and `make run` use it; production points at a real
// ensemble instead.
package zkserver

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Jars are the class path entries ZooKeeper's server needs, relative to
// JarDir. Debian ships them all in /usr/share/java.
var jars = []string{"zookeeper.jar", "zookeeper-jute.jar", "slf4j-api.jar", "slf4j-simple.jar", "netty-all.jar", "metrics-core.jar", "snappy-java.jar"}

// Options configure a server. The zero value is usable.
type Options struct {
	Java   string // default: "java" from PATH
	JarDir string // default: /usr/share/java
	Dir    string // data and log dir; default: a new temp dir, removed by Stop
	Port   int    // default: a free port
	// TickTime bounds session timeouts (2x..20x tick); 200ms lets tests
	// expire sessions quickly.
	TickTime time.Duration
}

// Server is a running ZooKeeper.
type Server struct {
	opts    Options
	ownDir  bool
	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{}
	logPath string
}

// Start launches ZooKeeper and waits until it answers "ruok".
func Start(ctx context.Context, opts Options) (*Server, error) {
	if opts.Java == "" {
		opts.Java = "java"
	}
	if opts.JarDir == "" {
		opts.JarDir = "/usr/share/java"
	}
	if opts.TickTime == 0 {
		opts.TickTime = 200 * time.Millisecond
	}
	java, err := exec.LookPath(opts.Java)
	if err != nil {
		return nil, fmt.Errorf("zookeeper needs java: %w (run scripts/deps.sh)", err)
	}
	opts.Java = java
	for _, j := range jars {
		if _, err := os.Stat(filepath.Join(opts.JarDir, j)); err != nil {
			return nil, fmt.Errorf("zookeeper jar missing: %w (install Debian's zookeeper package: scripts/deps.sh)", err)
		}
	}
	s := &Server{opts: opts}
	if s.opts.Dir == "" {
		d, err := os.MkdirTemp("", "mrr-zk-")
		if err != nil {
			return nil, fmt.Errorf("zookeeper data dir: %w", err)
		}
		s.opts.Dir, s.ownDir = d, true
	}
	if s.opts.Port == 0 {
		p, err := freePort()
		if err != nil {
			return nil, err
		}
		s.opts.Port = p
	}
	if err := s.start(ctx); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// Addr is the client connect string, "127.0.0.1:port".
func (s *Server) Addr() string { return fmt.Sprintf("127.0.0.1:%d", s.opts.Port) }

// Dir is the server's data directory.
func (s *Server) Dir() string { return s.opts.Dir }

func (s *Server) start(ctx context.Context) error {
	dataDir := filepath.Join(s.opts.Dir, "data")
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return fmt.Errorf("zookeeper data dir: %w", err)
	}
	tick := s.opts.TickTime.Milliseconds()
	cfg := fmt.Sprintf(`tickTime=%d
dataDir=%s
clientPort=%d
clientPortAddress=127.0.0.1
maxClientCnxns=0
admin.enableServer=false
4lw.commands.whitelist=ruok,srvr,stat,cons,mntr
`, tick, dataDir, s.opts.Port)
	cfgPath := filepath.Join(s.opts.Dir, "zoo.cfg")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return fmt.Errorf("write zoo.cfg: %w", err)
	}
	cp := make([]string, len(jars))
	for i, j := range jars {
		cp[i] = filepath.Join(s.opts.JarDir, j)
	}
	s.logPath = filepath.Join(s.opts.Dir, "zookeeper.log")
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("zookeeper log: %w", err)
	}
	defer logf.Close()
	cmd := exec.Command(s.opts.Java, "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
		"-Dzookeeper.admin.enableServer=false", "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
		"-cp", strings.Join(cp, ":"), "org.apache.zookeeper.server.ZooKeeperServerMain", cfgPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Die with us: a test binary that panics must not leave java behind.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start zookeeper: %w", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	s.mu.Lock()
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()

	deadline := time.Now().Add(30 * time.Second)
	for {
		if ruok(s.Addr()) {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("zookeeper exited at start: %s", s.tail())
		case <-ctx.Done():
			return fmt.Errorf("wait for zookeeper: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("zookeeper did not answer ruok on %s within 30s: %s", s.Addr(), s.tail())
		}
	}
}

// Kill stops the server abruptly, keeping its data, to simulate an outage.
func (s *Server) Kill() {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	<-exited
}

// Restart starts a killed server again on the same port with the same data.
func (s *Server) Restart(ctx context.Context) error {
	s.Kill()
	return s.start(ctx)
}

// Stop kills the server and removes its directory if Start created it.
func (s *Server) Stop() {
	s.Kill()
	if s.ownDir {
		_ = os.RemoveAll(s.opts.Dir)
	}
}

func (s *Server) tail() string {
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 5 {
		lines = lines[len(lines)-5:]
	}
	return strings.Join(lines, " | ")
}

func ruok(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(500 * time.Millisecond))
	if _, err := c.Write([]byte("ruok")); err != nil {
		return false
	}
	// ZooKeeper answers "imok" with no newline and closes the connection.
	line, _ := bufio.NewReader(c).ReadString('\n')
	return strings.HasPrefix(line, "imok")
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
