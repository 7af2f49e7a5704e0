package sched

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/mrredis/mrredis/internal/envflag"
	"github.com/mrredis/mrredis/internal/model"
	"github.com/mrredis/mrredis/zkstore"
)

// Config is everything mrr-sched needs. Zero fields take the defaults of
// DefaultConfig when passed to New.
type Config struct {
	ZK              zkstore.Config // --zk: servers and root
	Master          string         // "http://host:5050" (several comma separated) or "local[:N]"
	Listen          string         // REST API address
	AdvertiseURL    string         // URL other schedulers and Mesos show for this one; default from Listen
	FailoverTimeout time.Duration
	FrameworkName   string
	User            string
	Role            string
	Principal       string
	ExecutorPath    string   // file served at /executor/mrr-executor
	ExecutorURI     string   // if set, agents fetch the executor from here instead
	ExecutorEnv     []string // KEY=VALUE pairs in the executor's environment (e.g. MRR_REDIS_SERVER)
	PortLo, PortHi  int      // proxy port range
	AntiAffinity    bool
	PingInterval    time.Duration
	PingMisses      int
	MemberCPUs      float64
	MemberMemMB     float64 // added to memory_mb per member
	ExecutorCPUs    float64
	ExecutorMemMB   float64
	LocalAgents     int    // agents of an embedded local Mesos when Master is "local" without :N
	MesosWorkDir    string // sandboxes of the embedded local Mesos; empty = temporary
	Limits          model.Limits
	Logger          *slog.Logger
	// LocalMesos starts the embedded Mesos for --master local[:N];
	// DefaultConfig sets it when the build has one (see local.go).
	LocalMesos LocalMesosFunc

	envErr error // bad MRR_* values seen by RegisterFlags
}

// DefaultConfig returns the defaults of every field.
func DefaultConfig() Config {
	return Config{
		ZK:              zkstore.Config{Servers: []string{"127.0.0.1:2181"}, Root: "/mrredis"},
		Master:          "http://127.0.0.1:5050",
		Listen:          ":5656",
		FailoverTimeout: 168 * time.Hour,
		FrameworkName:   "mrredis",
		User:            currentUser(),
		Role:            "*",
		PortLo:          6100,
		PortHi:          6300,
		AntiAffinity:    true,
		PingInterval:    200 * time.Millisecond,
		PingMisses:      3,
		MemberCPUs:      0.1,
		MemberMemMB:     32,
		ExecutorCPUs:    0.05,
		ExecutorMemMB:   32,
		LocalAgents:     3,
		Limits:          model.DefaultLimits(),
		LocalMesos:      defaultLocalMesos,
	}
}

func currentUser() string {
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return "root"
}

// RegisterFlags registers every mrr-sched flag on fs, each defaulting to
// its MRR_* environment variable when set, else to DefaultConfig. A bad
// environment value is kept for EnvErr, and New refuses the Config.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	d := DefaultConfig()
	c.ZK = d.ZK
	c.ZK.RegisterFlags(fs) // --zk (MRR_ZK) and friends
	c.Limits = d.Limits
	c.LocalMesos = d.LocalMesos
	c.PortLo, c.PortHi = d.PortLo, d.PortHi
	fs.StringVar(&c.Master, "master", d.Master, "Mesos master URL(s) http://host:5050[,http://host2:5050], or local[:N] for an embedded local Mesos with N agents (env MRR_MASTER)")
	fs.StringVar(&c.Listen, "listen", d.Listen, "REST API and dashboard address (env MRR_LISTEN)")
	fs.StringVar(&c.AdvertiseURL, "advertise-url", "", "URL of this scheduler as others reach it; default http://<hostname>:<listen port> (env MRR_ADVERTISE_URL)")
	fs.DurationVar(&c.FailoverTimeout, "failover-timeout", d.FailoverTimeout, "how long Mesos keeps the framework's tasks while no scheduler is connected (env MRR_FAILOVER_TIMEOUT)")
	fs.StringVar(&c.FrameworkName, "framework-name", d.FrameworkName, "Mesos framework name (env MRR_FRAMEWORK_NAME)")
	fs.StringVar(&c.User, "user", d.User, "user the executors run as (env MRR_USER)")
	fs.StringVar(&c.Role, "role", d.Role, "Mesos role (env MRR_ROLE)")
	fs.StringVar(&c.Principal, "principal", "", "Mesos principal (env MRR_PRINCIPAL)")
	fs.StringVar(&c.ExecutorPath, "executor-path", "", "mrr-executor binary served to agents; default: mrr-executor next to mrr-sched (env MRR_EXECUTOR_PATH)")
	fs.StringVar(&c.ExecutorURI, "executor-uri", "", "URI agents fetch mrr-executor from instead of this scheduler (env MRR_EXECUTOR_URI)")
	fs.Var((*envListFlag)(&c.ExecutorEnv), "executor-env", "KEY=VALUE for the executor's environment, e.g. MRR_REDIS_SERVER=/opt/redis/bin/redis-server; repeatable (env MRR_EXECUTOR_ENV, space separated)")
	fs.Var(&portRangeFlag{c}, "port-range", "proxy ports given to instances, LO-HI (env MRR_PORT_RANGE)")
	fs.BoolVar(&c.AntiAffinity, "anti-affinity", d.AntiAffinity, "place members of one instance on distinct hosts (env MRR_ANTI_AFFINITY)")
	fs.DurationVar(&c.PingInterval, "ping-interval", d.PingInterval, "how often the scheduler PINGs each master (env MRR_PING_INTERVAL)")
	fs.IntVar(&c.PingMisses, "ping-misses", d.PingMisses, "missed PINGs in a row that fail a master over (env MRR_PING_MISSES)")
	fs.Float64Var(&c.MemberCPUs, "member-cpus", d.MemberCPUs, "cpus of one redis member (env MRR_MEMBER_CPUS)")
	fs.Float64Var(&c.MemberMemMB, "member-mem-overhead", d.MemberMemMB, "MB added to memory_mb for each member (env MRR_MEMBER_MEM_OVERHEAD)")
	fs.Float64Var(&c.ExecutorCPUs, "executor-cpus", d.ExecutorCPUs, "cpus of one executor (env MRR_EXECUTOR_CPUS)")
	fs.Float64Var(&c.ExecutorMemMB, "executor-mem", d.ExecutorMemMB, "MB of one executor (env MRR_EXECUTOR_MEM)")
	fs.IntVar(&c.LocalAgents, "mesos-local-agents", d.LocalAgents, "agents of the embedded Mesos for --master local (env MRR_MESOS_LOCAL_AGENTS)")
	fs.StringVar(&c.MesosWorkDir, "mesos-work-dir", "", "sandbox directory of the embedded Mesos; empty means temporary (env MRR_MESOS_WORK_DIR)")
	c.envErr = errors.Join(
		envflag.Apply(fs, map[string]string{
			"master":              "MRR_MASTER",
			"listen":              "MRR_LISTEN",
			"advertise-url":       "MRR_ADVERTISE_URL",
			"failover-timeout":    "MRR_FAILOVER_TIMEOUT",
			"framework-name":      "MRR_FRAMEWORK_NAME",
			"user":                "MRR_USER",
			"role":                "MRR_ROLE",
			"principal":           "MRR_PRINCIPAL",
			"executor-path":       "MRR_EXECUTOR_PATH",
			"executor-uri":        "MRR_EXECUTOR_URI",
			"port-range":          "MRR_PORT_RANGE",
			"anti-affinity":       "MRR_ANTI_AFFINITY",
			"ping-interval":       "MRR_PING_INTERVAL",
			"ping-misses":         "MRR_PING_MISSES",
			"member-cpus":         "MRR_MEMBER_CPUS",
			"member-mem-overhead": "MRR_MEMBER_MEM_OVERHEAD",
			"executor-cpus":       "MRR_EXECUTOR_CPUS",
			"executor-mem":        "MRR_EXECUTOR_MEM",
			"mesos-local-agents":  "MRR_MESOS_LOCAL_AGENTS",
			"mesos-work-dir":      "MRR_MESOS_WORK_DIR",
		}),
		envflag.ApplyList(fs, "executor-env", "MRR_EXECUTOR_ENV"),
	)
}

// EnvErr reports the environment variables RegisterFlags could not use
// (MRR_ZK* included), each named with its value; nil when all were good or
// unset.
func (c Config) EnvErr() error { return errors.Join(c.ZK.EnvErr(), c.envErr) }

type envListFlag []string

func (f *envListFlag) String() string { return strings.Join(*f, " ") }

func (f *envListFlag) Set(s string) error {
	k, _, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("executor environment %q is invalid: use KEY=VALUE", s)
	}
	*f = append(*f, s)
	return nil
}

type portRangeFlag struct{ c *Config }

func (f *portRangeFlag) String() string {
	if f.c == nil {
		return ""
	}
	return fmt.Sprintf("%d-%d", f.c.PortLo, f.c.PortHi)
}

func (f *portRangeFlag) Set(s string) error {
	lo, hi, err := ParsePortRange(s)
	if err != nil {
		return err
	}
	f.c.PortLo, f.c.PortHi = lo, hi
	return nil
}

// ParsePortRange parses "LO-HI".
func ParsePortRange(s string) (int, int, error) {
	a, b, ok := strings.Cut(strings.TrimSpace(s), "-")
	lo, err1 := strconv.Atoi(strings.TrimSpace(a))
	hi, err2 := strconv.Atoi(strings.TrimSpace(b))
	if !ok || err1 != nil || err2 != nil || lo < 1 || hi > 65535 || lo > hi {
		return 0, 0, fmt.Errorf("port range %q is invalid: use LO-HI with 1 <= LO <= HI <= 65535", s)
	}
	return lo, hi, nil
}

// localMaster reports whether master asks for an embedded Mesos, and with
// how many agents.
func localMaster(master string, def int) (bool, int, error) {
	if master != "local" && !strings.HasPrefix(master, "local:") {
		return false, 0, nil
	}
	n := def
	if _, v, ok := strings.Cut(master, ":"); ok {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			return true, 0, fmt.Errorf("--master %q is invalid: use local or local:N with N >= 1", master)
		}
	}
	return true, n, nil
}

// withDefaults fills zero fields and checks the rest.
func (c Config) withDefaults() (Config, error) {
	if err := c.EnvErr(); err != nil {
		return c, err
	}
	d := DefaultConfig()
	if len(c.ZK.Servers) == 0 {
		c.ZK.Servers = d.ZK.Servers
	}
	if c.ZK.Root == "" {
		c.ZK.Root = d.ZK.Root
	}
	if c.Master == "" {
		c.Master = d.Master
	}
	if c.Listen == "" {
		c.Listen = d.Listen
	}
	if c.FailoverTimeout <= 0 {
		c.FailoverTimeout = d.FailoverTimeout
	}
	if c.FrameworkName == "" {
		c.FrameworkName = d.FrameworkName
	}
	if c.User == "" {
		c.User = d.User
	}
	if c.Role == "" {
		c.Role = d.Role
	}
	if c.PortLo == 0 && c.PortHi == 0 {
		c.PortLo, c.PortHi = d.PortLo, d.PortHi
	}
	if c.PortLo < 1 || c.PortHi > 65535 || c.PortLo > c.PortHi {
		return c, fmt.Errorf("port range %d-%d is invalid", c.PortLo, c.PortHi)
	}
	if c.PingInterval <= 0 {
		c.PingInterval = d.PingInterval
	}
	if c.PingMisses <= 0 {
		c.PingMisses = d.PingMisses
	}
	if c.MemberCPUs <= 0 {
		c.MemberCPUs = d.MemberCPUs
	}
	if c.MemberMemMB < 0 {
		c.MemberMemMB = d.MemberMemMB
	}
	if c.ExecutorCPUs <= 0 {
		c.ExecutorCPUs = d.ExecutorCPUs
	}
	if c.ExecutorMemMB <= 0 {
		c.ExecutorMemMB = d.ExecutorMemMB
	}
	if c.LocalAgents <= 0 {
		c.LocalAgents = d.LocalAgents
	}
	if c.Limits == (model.Limits{}) {
		c.Limits = d.Limits
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.LocalMesos == nil {
		c.LocalMesos = d.LocalMesos
	}
	if _, _, err := localMaster(c.Master, c.LocalAgents); err != nil {
		return c, err
	}
	return c, nil
}

func (c Config) coreConfig() CoreConfig {
	cc := DefaultCoreConfig()
	cc.AntiAffinity = c.AntiAffinity
	cc.MemberCPUs = c.MemberCPUs
	cc.MemberMemExtra = c.MemberMemMB
	cc.ExecCPUs = c.ExecutorCPUs
	cc.ExecMemMB = c.ExecutorMemMB
	cc.PingMisses = c.PingMisses
	return cc
}
