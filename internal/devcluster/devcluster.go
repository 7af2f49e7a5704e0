// Package devcluster runs a whole mrredis deployment on one machine: a
// local Mesos cluster in this process, and the real mrr-sched and
// mrr-localproxy binaries against a given ZooKeeper. End-to-end tests and
// the programs under bench/ drive it; nothing in it is a stand-in except
// the local Mesos.
package devcluster

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mrredis/mrredis/client"
	"github.com/mrredis/mrredis/mesoslocal"
)

// Options describe a deployment. ZK and the three binaries are required.
type Options struct {
	ZK                          string // ZooKeeper connect string with a root of this deployment's own
	SchedBin, ProxyBin, ExecBin string
	Dir                         string // logs and sandboxes
	Agents                      int    // default 3
	AgentIPs                    []string
	AgentMemMB                  float64       // default 2048
	AgentRemoval                time.Duration // default 3s
	SchedArgs                   []string      // extra mrr-sched flags
	Logger                      *slog.Logger  // the local Mesos' logs; default: Dir/mesos.log
}

// Cluster is a running deployment.
type Cluster struct {
	opts     Options
	Mesos    *mesoslocal.Cluster
	API      *client.Client
	Listen   string // mrr-sched's REST address
	ProxyAdm string // mrr-localproxy's admin address
	PortLo   int    // proxy port range of this deployment
	PortHi   int
	mu       sync.Mutex
	Sched    *Proc
	Proxy    *Proc
	logFile  *os.File
}

// Start starts the local Mesos and mrr-sched, and waits until the scheduler
// is ready.
func Start(ctx context.Context, o Options) (*Cluster, error) {
	if o.ZK == "" || o.SchedBin == "" || o.ProxyBin == "" || o.ExecBin == "" || o.Dir == "" {
		return nil, fmt.Errorf("devcluster: ZK, SchedBin, ProxyBin, ExecBin and Dir are required")
	}
	if o.Agents == 0 {
		o.Agents = 3
	}
	if o.AgentMemMB == 0 {
		o.AgentMemMB = 2048
	}
	if o.AgentRemoval == 0 {
		o.AgentRemoval = 3 * time.Second
	}
	if len(o.AgentIPs) == 0 {
		o.AgentIPs = randomLoopback(o.Agents)
	}
	c := &Cluster{opts: o}
	if o.Logger == nil {
		f, err := os.Create(filepath.Join(o.Dir, "mesos.log"))
		if err != nil {
			return nil, fmt.Errorf("devcluster: %w", err)
		}
		c.logFile = f
		o.Logger = slog.New(slog.NewTextHandler(f, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	var err error
	if c.Listen, err = freeAddr(); err != nil {
		return nil, err
	}
	if c.ProxyAdm, err = freeAddr(); err != nil {
		return nil, err
	}
	// A proxy port range of its own: other deployments on this machine
	// (parallel test binaries) run proxies too.
	c.PortLo = 20000 + rand.IntN(400)*20
	c.PortHi = c.PortLo + 19
	c.Mesos, err = mesoslocal.Start(ctx, mesoslocal.Config{
		Listen:              "127.0.0.1:0",
		Agents:              o.Agents,
		AgentIPs:            o.AgentIPs,
		MemMB:               o.AgentMemMB,
		WorkDir:             filepath.Join(o.Dir, "mesos"),
		AgentRemovalTimeout: o.AgentRemoval,
		StatusUpdateRetry:   time.Second,
		Logger:              o.Logger,
	})
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("devcluster: start local mesos: %w", err)
	}
	c.API = client.New("http://" + c.Listen)
	if err := c.StartSched(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// Dir is where logs and sandboxes live.
func (c *Cluster) Dir() string { return c.opts.Dir }

// SchedArgs are the flags mrr-sched runs with, extra ones last.
func (c *Cluster) SchedArgs(extra ...string) []string {
	args := []string{
		"--zk", c.opts.ZK, "--master", c.Mesos.URL(), "--listen", c.Listen,
		"--executor-path", c.opts.ExecBin, "--port-range", fmt.Sprintf("%d-%d", c.PortLo, c.PortHi),
		"--framework-name", "mrredis-dev",
	}
	args = append(args, c.opts.SchedArgs...)
	return append(args, extra...)
}

// StartSched starts (or restarts) mrr-sched and waits for /readyz.
func (c *Cluster) StartSched(ctx context.Context) error {
	p, err := StartProc(c.opts.SchedBin, filepath.Join(c.opts.Dir, fmt.Sprintf("sched-%d.log", time.Now().UnixNano())), c.SchedArgs()...)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.Sched = p
	c.mu.Unlock()
	return p.WaitHTTP(ctx, "http://"+c.Listen+"/readyz", 60*time.Second)
}

// StartProxy starts mrr-localproxy and waits for /healthz.
func (c *Cluster) StartProxy(ctx context.Context) error {
	p, err := StartProc(c.opts.ProxyBin, filepath.Join(c.opts.Dir, "proxy.log"),
		"--zk", c.opts.ZK, "--admin", c.ProxyAdm, "--port-range", fmt.Sprintf("%d-%d", c.PortLo, c.PortHi))
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.Proxy = p
	c.mu.Unlock()
	return p.WaitHTTP(ctx, "http://"+c.ProxyAdm+"/healthz", 60*time.Second)
}

// Close stops the proxy, the scheduler and the local Mesos (which stops
// every executor and redis-server).
func (c *Cluster) Close() {
	c.mu.Lock()
	sched, proxy := c.Sched, c.Proxy
	c.mu.Unlock()
	if proxy != nil {
		proxy.Stop()
	}
	if sched != nil {
		sched.Stop()
	}
	if c.Mesos != nil {
		_ = c.Mesos.Close()
	}
	if c.logFile != nil {
		c.logFile.Close()
	}
}

// Proc is a child process with its log in a file.
type Proc struct {
	Cmd  *exec.Cmd
	Log  string
	done chan struct{}
	once sync.Once
}

// StartProc starts bin in its own process group, logging to logPath. The
// child is told to stop when this process dies (Pdeathsig SIGTERM: mrr-sched
// then stops an embedded Mesos, which stops its executors and redis-servers).
func StartProc(bin, logPath string, args ...string) (*Proc, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("log for %s: %w", filepath.Base(bin), err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", filepath.Base(bin), err)
	}
	p := &Proc{Cmd: cmd, Log: logPath, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); f.Close(); close(p.done) }()
	return p, nil
}

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Stop asks the process to exit and kills its group after 10 s.
func (p *Proc) Stop() {
	p.once.Do(func() {
		_ = p.Cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-p.Cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
		}
	})
}

// Kill sends SIGKILL to the process alone, as a crash would.
func (p *Proc) Kill() {
	p.once.Do(func() {
		_ = p.Cmd.Process.Kill()
		<-p.done
	})
}

// WaitHTTP waits until url answers 200, the process exits, or timeout.
func (p *Proc) WaitHTTP(ctx context.Context, url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last error
	for {
		resp, err := http.Get(url)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("%s answered %s", url, resp.Status)
		}
		last = err
		select {
		case <-p.done:
			return fmt.Errorf("%s exited before %s answered 200:\n%s", filepath.Base(p.Cmd.Path), url, p.Tail(30))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %s (last: %v):\n%s", url, timeout, last, p.Tail(30))
		}
	}
}

// Tail returns the last n lines of the process log.
func (p *Proc) Tail(n int) string {
	f, err := os.Open(p.Log)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// randomLoopback returns n addresses in a random 127.a.b.0/24 block, so
// that deployments on one machine never share agent addresses.
func randomLoopback(n int) []string {
	a, b := 1+rand.IntN(250), 1+rand.IntN(250)
	ips := make([]string, n)
	for i := range ips {
		ips[i] = fmt.Sprintf("127.%d.%d.%d", a, b, 2+i)
	}
	return ips
}
