package mesoslocal

import (
	"flag"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/mrredis/mrredis/internal/envflag"
)

// Config describes the local cluster: one master and Agents agents.
type Config struct {
	// Listen is the master's HTTP address; "127.0.0.1:0" picks a free port.
	Listen string
	// Agents is how many agents to start.
	Agents int
	// AgentIPs are the agents' addresses, one per agent; each agent's
	// hostname is its IP so that hosts are routable. Default 127.0.0.2, 127.0.0.3, ...
	AgentIPs []string
	// AgentPort is the port every agent's HTTP server listens on; 0 picks
	// a free port per agent (kept across StopAgent/StartAgent).
	AgentPort int
	// CPUs, MemMB, DiskMB and Ports are each agent's total resources.
	CPUs, MemMB, DiskMB float64
	Ports               string
	// WorkDir holds the sandboxes:
	// <WorkDir>/agents/<agent>/frameworks/<fw>/executors/<ex>/runs/<container>.
	// Empty means a temporary directory removed by Close.
	WorkDir string
	// HeartbeatInterval is how often subscribers get HEARTBEAT events.
	HeartbeatInterval time.Duration
	// AgentRemovalTimeout is how long a stopped agent stays disconnected
	// before the master marks it unreachable (Mesos: 15s x 5 pings).
	AgentRemovalTimeout time.Duration
	// ExecutorRegisterTimeout is how long an executor may take to SUBSCRIBE.
	ExecutorRegisterTimeout time.Duration
	// StatusUpdateRetry is the first retry interval of unacknowledged status
	// updates (doubling up to 10 minutes). Default 10s.
	StatusUpdateRetry time.Duration
	Logger            *slog.Logger

	envErr error // bad MRR_MESOS_* values seen by RegisterFlags
}

// RegisterFlags registers the cluster's flags on fs; each default comes from
// an MRR_MESOS_* environment variable when set. A bad environment value is
// kept for EnvErr, and Start refuses the Config.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Listen, "listen", "127.0.0.1:5050", "master HTTP address")
	fs.IntVar(&c.Agents, "agents", 3, "number of agents")
	fs.Float64Var(&c.CPUs, "cpus", 4, "cpus per agent")
	fs.Float64Var(&c.MemMB, "mem", 4096, "memory per agent in MB")
	fs.Float64Var(&c.DiskMB, "disk", 10240, "disk per agent in MB")
	fs.StringVar(&c.Ports, "ports", "31000-32000", "port ranges per agent, like 31000-32000,33000-33100")
	fs.StringVar(&c.WorkDir, "work-dir", "", "directory for agent sandboxes; empty means a temporary one")
	c.envErr = envflag.Apply(fs, map[string]string{
		"listen":   "MRR_MESOS_LISTEN",
		"agents":   "MRR_MESOS_AGENTS",
		"cpus":     "MRR_MESOS_CPUS",
		"mem":      "MRR_MESOS_MEM",
		"disk":     "MRR_MESOS_DISK",
		"ports":    "MRR_MESOS_PORTS",
		"work-dir": "MRR_MESOS_WORK_DIR",
	})
}

// EnvErr reports the environment variables RegisterFlags could not use,
// each named with its value; nil when all were good or unset.
func (c Config) EnvErr() error { return c.envErr }

// withDefaults returns c with every unset field at its default, or an
// error naming the first invalid field.
func (c Config) withDefaults() (Config, error) {
	if c.envErr != nil {
		return c, c.envErr
	}
	if c.Listen == "" {
		c.Listen = "127.0.0.1:5050"
	}
	if c.Agents == 0 {
		c.Agents = 3
	}
	if c.Agents < 0 {
		return c, fmt.Errorf("agents must be positive, got %d", c.Agents)
	}
	if len(c.AgentIPs) == 0 {
		if c.Agents > 250 {
			return c, fmt.Errorf("at most 250 agents get default IPs, got %d: set AgentIPs", c.Agents)
		}
		for i := 0; i < c.Agents; i++ {
			c.AgentIPs = append(c.AgentIPs, fmt.Sprintf("127.0.0.%d", i+2))
		}
	}
	if len(c.AgentIPs) != c.Agents {
		return c, fmt.Errorf("%d agent IPs given for %d agents", len(c.AgentIPs), c.Agents)
	}
	if c.CPUs == 0 {
		c.CPUs = 4
	}
	if c.MemMB == 0 {
		c.MemMB = 4096
	}
	if c.DiskMB == 0 {
		c.DiskMB = 10240
	}
	if c.CPUs < 0 || c.MemMB < 0 || c.DiskMB < 0 {
		return c, fmt.Errorf("agent resources must not be negative (cpus %v, mem %v, disk %v)", c.CPUs, c.MemMB, c.DiskMB)
	}
	if c.Ports == "" {
		c.Ports = "31000-32000"
	}
	if _, err := parsePorts(c.Ports); err != nil {
		return c, err
	}
	if c.HeartbeatInterval <= 0 {
		c.HeartbeatInterval = 15 * time.Second
	}
	if c.AgentRemovalTimeout <= 0 {
		c.AgentRemovalTimeout = 75 * time.Second
	}
	if c.ExecutorRegisterTimeout <= 0 {
		c.ExecutorRegisterTimeout = time.Minute
	}
	if c.StatusUpdateRetry <= 0 {
		c.StatusUpdateRetry = 10 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c, nil
}

// parsePorts parses "31000-32000,33000-33010" (an optional "[...]" around it
// is accepted, as Mesos writes it).
func parsePorts(s string) ([]portRange, error) {
	s = strings.TrimSpace(s)
	s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	var out []portRange
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		lo, hi, ok := strings.Cut(part, "-")
		if !ok {
			hi = lo
		}
		b, err1 := strconv.ParseUint(strings.TrimSpace(lo), 10, 16)
		e, err2 := strconv.ParseUint(strings.TrimSpace(hi), 10, 16)
		if err1 != nil || err2 != nil || b > e {
			return nil, fmt.Errorf("invalid port range %q in %q: want BEGIN-END with 0 <= BEGIN <= END <= 65535", part, s)
		}
		out = append(out, portRange{b, e})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no port ranges in %q", s)
	}
	return normalizeRanges(out), nil
}
