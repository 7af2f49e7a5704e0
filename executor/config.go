package executor

import (
	"flag"
	"fmt"
	"os"
	"time"
)

// Config is the executor's own configuration. What the Mesos agent tells
// the executor (framework and executor ids, agent endpoint, sandbox) comes
// from the MESOS_* environment instead; see Run.
type Config struct {
	// RedisServer is the redis-server binary: a path or a name in PATH.
	RedisServer string
	// Bind overrides the address members listen on; by default it is the
	// host of MESOS_AGENT_ENDPOINT, so that members of agents on distinct
	// loopback addresses (127.0.0.2, 127.0.0.3, ...) do not clash.
	Bind string
	// ReadyTimeout bounds launch to TASK_RUNNING: PING answered and, for a
	// replica, the link to its master up.
	ReadyTimeout time.Duration
	// StatsInterval is how often member stats go to the scheduler.
	StatsInterval time.Duration
	// KillGrace is how long a KILL waits for a graceful SHUTDOWN when the
	// task has no kill policy.
	KillGrace time.Duration
	// MaxMemoryPolicy is redis' maxmemory-policy; see DefaultMaxMemoryPolicy.
	MaxMemoryPolicy string
	// RecoveryTimeout is how long the executor keeps trying to re-subscribe
	// to its agent when the agent did not set MESOS_RECOVERY_TIMEOUT.
	RecoveryTimeout time.Duration
	// Codec is the Mesos API encoding: "protobuf" or "json".
	Codec string
	// IdleTimeout ends the executor (exit 0) once it has had no live task
	// and no unacknowledged update for this long, so executors of deleted
	// instances do not hold agent resources forever. 0 disables it.
	IdleTimeout time.Duration

	envErrs []error
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		RedisServer:     "redis-server",
		ReadyTimeout:    30 * time.Second,
		StatsInterval:   time.Second,
		KillGrace:       5 * time.Second,
		MaxMemoryPolicy: DefaultMaxMemoryPolicy,
		RecoveryTimeout: 15 * time.Minute,
		Codec:           "protobuf",
		IdleTimeout:     time.Minute,
	}
}

// RegisterFlags registers every setting on fs with c's values as defaults,
// each overridden by its environment variable when that is set.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	type def struct {
		name, env, usage string
		reg              func(name, usage string)
	}
	defs := []def{
		{"redis-server", "MRR_REDIS_SERVER", "redis-server binary (path, or name in PATH)",
			func(n, u string) { fs.StringVar(&c.RedisServer, n, c.RedisServer, u) }},
		{"bind", "MRR_BIND", "address redis members listen on (default: host of MESOS_AGENT_ENDPOINT)",
			func(n, u string) { fs.StringVar(&c.Bind, n, c.Bind, u) }},
		{"ready-timeout", "MRR_READY_TIMEOUT", "longest wait from launch until a member serves (replicas: link to master up)",
			func(n, u string) { fs.DurationVar(&c.ReadyTimeout, n, c.ReadyTimeout, u) }},
		{"stats-interval", "MRR_STATS_INTERVAL", "how often member stats are sent to the scheduler",
			func(n, u string) { fs.DurationVar(&c.StatsInterval, n, c.StatsInterval, u) }},
		{"kill-grace", "MRR_KILL_GRACE", "graceful SHUTDOWN time before SIGKILL when a task has no kill policy",
			func(n, u string) { fs.DurationVar(&c.KillGrace, n, c.KillGrace, u) }},
		{"maxmemory-policy", "MRR_MAXMEMORY_POLICY", "redis maxmemory-policy (noeviction: full instances refuse writes instead of dropping keys)",
			func(n, u string) { fs.StringVar(&c.MaxMemoryPolicy, n, c.MaxMemoryPolicy, u) }},
		{"recovery-timeout", "MRR_RECOVERY_TIMEOUT", "how long to retry subscribing to a lost agent when MESOS_RECOVERY_TIMEOUT is unset",
			func(n, u string) { fs.DurationVar(&c.RecoveryTimeout, n, c.RecoveryTimeout, u) }},
		{"mesos-codec", "MRR_MESOS_CODEC", "Mesos API encoding: protobuf or json",
			func(n, u string) { fs.StringVar(&c.Codec, n, c.Codec, u) }},
		{"idle-timeout", "MRR_IDLE_TIMEOUT", "exit after this long without live tasks (0: never)",
			func(n, u string) { fs.DurationVar(&c.IdleTimeout, n, c.IdleTimeout, u) }},
	}
	for _, d := range defs {
		d.reg(d.name, d.usage+" (env "+d.env+")")
		if v, ok := os.LookupEnv(d.env); ok {
			if err := fs.Set(d.name, v); err != nil {
				c.envErrs = append(c.envErrs, fmt.Errorf("environment %s=%q: %w", d.env, v, err))
			} else {
				// A value from the environment is the default, not an
				// explicit flag: show it as such in -help.
				fs.Lookup(d.name).DefValue = v
			}
		}
	}
}

// Validate reports the first problem with c, in one sentence.
func (c Config) Validate() error {
	if len(c.envErrs) > 0 {
		return c.envErrs[0]
	}
	switch {
	case c.RedisServer == "":
		return fmt.Errorf("redis-server path is empty")
	case c.ReadyTimeout <= 0:
		return fmt.Errorf("ready timeout %s must be positive", c.ReadyTimeout)
	case c.StatsInterval <= 0:
		return fmt.Errorf("stats interval %s must be positive", c.StatsInterval)
	case c.KillGrace < 0:
		return fmt.Errorf("kill grace %s must not be negative", c.KillGrace)
	case c.IdleTimeout < 0:
		return fmt.Errorf("idle timeout %s must not be negative", c.IdleTimeout)
	case c.RecoveryTimeout <= 0:
		return fmt.Errorf("recovery timeout %s must be positive", c.RecoveryTimeout)
	case c.Codec != "protobuf" && c.Codec != "json":
		return fmt.Errorf("mesos codec %q is unknown: use protobuf or json", c.Codec)
	}
	if p := c.MaxMemoryPolicy; p != "" && !maxMemoryPolicies[p] {
		return fmt.Errorf("maxmemory policy %q is unknown", p)
	}
	return nil
}
