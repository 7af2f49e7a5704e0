package mesoslocal

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
)

// mesosVersion is the Mesos release whose behaviour mesoslocal follows.
const mesosVersion = "1.10.0"

// Cluster is a running master with its agents. All master and agent state
// is owned by mu: HTTP handlers, timers and process waiters take it, change
// state, queue events on streams and release it; streams write to the
// network without it.
type Cluster struct {
	cfg      Config
	log      *slog.Logger
	masterID string
	ln       net.Listener
	srv      *http.Server
	url      string
	workDir  string
	ownDir   bool
	started  time.Time
	ports    []portRange
	wg       sync.WaitGroup // process waiters and launchers

	mu                  sync.Mutex
	closed              bool
	frameworks          map[string]*framework
	completedFrameworks map[string]*framework
	agents              []*agent
	agentsByID          map[string]*agent
	offers              map[string]*offer
	nextFramework       int
	nextOffer           int
	nextAgent           int
	allocRR             int
	filterTimer         *time.Timer
}

// AgentInfo describes one agent of the cluster.
type AgentInfo struct {
	ID       string
	Hostname string
	Endpoint string // ip:port of the agent's HTTP API
	Running  bool
}

// Start starts the master and the agents and returns once they serve.
func Start(ctx context.Context, cfg Config) (*Cluster, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("mesoslocal config: %w", err)
	}
	ports, _ := parsePorts(cfg.Ports)
	c := &Cluster{
		cfg:                 cfg,
		log:                 cfg.Logger.With("component", "mesoslocal"),
		masterID:            newUUID(),
		started:             time.Now(),
		ports:               ports,
		frameworks:          map[string]*framework{},
		completedFrameworks: map[string]*framework{},
		agentsByID:          map[string]*agent{},
		offers:              map[string]*offer{},
	}
	c.workDir = cfg.WorkDir
	if c.workDir == "" {
		d, err := os.MkdirTemp("", "mesoslocal-")
		if err != nil {
			return nil, fmt.Errorf("create work dir: %w", err)
		}
		c.workDir, c.ownDir = d, true
	} else if err := os.MkdirAll(c.workDir, 0o755); err != nil {
		return nil, fmt.Errorf("create work dir %s: %w", c.workDir, err)
	}
	var lc net.ListenConfig
	c.ln, err = lc.Listen(ctx, "tcp", cfg.Listen)
	if err != nil {
		c.removeWorkDir()
		return nil, fmt.Errorf("master listen on %s: %w", cfg.Listen, err)
	}
	c.url = "http://" + c.ln.Addr().String()
	mux := http.NewServeMux()
	mux.HandleFunc("/api/v1/scheduler", c.handleScheduler)
	mux.HandleFunc("/state", c.handleState)
	mux.HandleFunc("/master/state", c.handleState)
	mux.HandleFunc("/state.json", c.handleState)
	mux.HandleFunc("/master/redirect", func(w http.ResponseWriter, r *http.Request) {
		// The leading master is always this one.
		http.Redirect(w, r, "//"+c.ln.Addr().String(), http.StatusTemporaryRedirect)
	})
	mux.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	mux.HandleFunc("/master/health", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	c.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go c.srv.Serve(c.ln)

	for i, ip := range cfg.AgentIPs {
		a := &agent{c: c, idx: i, ip: ip, port: cfg.AgentPort,
			total: newResources(cfg.CPUs, cfg.MemMB, cfg.DiskMB, ports)}
		c.agents = append(c.agents, a)
	}
	for i := range c.agents {
		if err := c.StartAgent(i); err != nil {
			c.Close()
			return nil, err
		}
	}
	c.log.Info("mesos master listening", "url", c.url, "agents", len(c.agents), "work_dir", c.workDir)
	return c, nil
}

// URL is the master's base URL, like "http://127.0.0.1:5050"; schedulers
// use URL()+"/api/v1/scheduler".
func (c *Cluster) URL() string { return c.url }

// WorkDir is the directory holding the agents' sandboxes.
func (c *Cluster) WorkDir() string { return c.workDir }

// Agents describes the agents, in configuration order.
func (c *Cluster) Agents() []AgentInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]AgentInfo, len(c.agents))
	for i, a := range c.agents {
		out[i] = AgentInfo{ID: a.id, Hostname: a.ip, Endpoint: a.endpoint(), Running: a.running}
	}
	return out
}

// Close stops the master and the agents and kills every executor's
// process group.
func (c *Cluster) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	if c.filterTimer != nil {
		c.filterTimer.Stop()
	}
	var streams []*eventStream
	var servers []*http.Server
	for _, fw := range c.frameworks {
		if fw.failoverTimer != nil {
			fw.failoverTimer.Stop()
		}
		if fw.stream != nil {
			streams = append(streams, fw.stream)
		}
	}
	for _, a := range c.agents {
		if a.removalTimer != nil {
			a.removalTimer.Stop()
		}
		if a.srv != nil {
			servers = append(servers, a.srv)
		}
		for _, ex := range a.executors {
			ex.stopTimers()
			if ex.stream != nil {
				streams = append(streams, ex.stream)
			}
			ex.killProcess()
		}
	}
	for _, a := range c.agentsByID {
		for _, t := range a.tasks {
			if t.retryTimer != nil {
				t.retryTimer.Stop()
			}
		}
	}
	c.mu.Unlock()
	for _, s := range streams {
		s.close()
	}
	// Close, not Shutdown: streams never go idle, and a dying master owes
	// its clients nothing more.
	for _, srv := range servers {
		_ = srv.Close()
	}
	_ = c.srv.Close()
	done := make(chan struct{})
	go func() { c.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		c.log.Warn("executor processes did not exit within 10s of Close")
	}
	c.removeWorkDir()
	return nil
}

func (c *Cluster) removeWorkDir() {
	if c.ownDir {
		_ = os.RemoveAll(c.workDir)
	}
}

// afterFunc runs f with the lock held after d, unless the cluster closed.
func (c *Cluster) afterFunc(d time.Duration, f func()) *time.Timer {
	return time.AfterFunc(d, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.closed {
			return
		}
		f()
	})
}

func (c *Cluster) masterInfo() *mesos.MasterInfo {
	host, portStr, _ := net.SplitHostPort(c.ln.Addr().String())
	port, _ := strconv.Atoi(portStr)
	p := uint32(port)
	ip := net.ParseIP(host).To4()
	var ipn uint32
	if ip != nil {
		ipn = binary.LittleEndian.Uint32(ip)
	}
	pid := fmt.Sprintf("master@%s:%d", host, port)
	version := mesosVersion
	return &mesos.MasterInfo{
		ID: c.masterID, IP: ipn, Port: &p, PID: &pid, Hostname: &host, Version: &version,
		Address: &mesos.Address{Hostname: &host, IP: &host, Port: int32(port)},
	}
}

// newUUID returns a random RFC 4122 version 4 UUID string.
func newUUID() string {
	b := newUUIDBytes()
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func newUUIDBytes() []byte {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = (b[6] & 0x0f) | 0x40
	b[8] = (b[8] & 0x3f) | 0x80
	return b
}

func formatUUID(b []byte) string {
	if len(b) != 16 {
		return fmt.Sprintf("%x", b)
	}
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func nowSeconds() *float64 {
	f := float64(time.Now().UnixNano()) / 1e9
	return &f
}

// killGroup kills a process group, ignoring groups already gone.
func killGroup(pid int, sig syscall.Signal) {
	if pid <= 0 {
		return
	}
	if err := syscall.Kill(-pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		_ = syscall.Kill(pid, sig)
	}
}

// sendToFramework queues ev on the framework's stream if it is connected.
func (fw *framework) send(ev *scheduler.Event) {
	if fw.stream != nil {
		fw.stream.send(ev)
	}
}
