package executor

import (
	"flag"
	"fmt"
	"time"

	"github.com/mrredis/mrredis/internal/envflag"
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

	envErr error // bad MRR_* values seen by RegisterFlags
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
// each overridden by its MRR_* environment variable when that is set; a bad
// environment value is kept for EnvErr and Validate.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.RedisServer, "redis-server", c.RedisServer, "redis-server binary (path, or name in PATH)")
	fs.StringVar(&c.Bind, "bind", c.Bind, "address redis members listen on (default: host of MESOS_AGENT_ENDPOINT)")
	fs.DurationVar(&c.ReadyTimeout, "ready-timeout", c.ReadyTimeout, "longest wait from launch until a member serves (replicas: link to master up)")
	fs.DurationVar(&c.StatsInterval, "stats-interval", c.StatsInterval, "how often member stats are sent to the scheduler")
	fs.DurationVar(&c.KillGrace, "kill-grace", c.KillGrace, "graceful SHUTDOWN time before SIGKILL when a task has no kill policy")
	fs.StringVar(&c.MaxMemoryPolicy, "maxmemory-policy", c.MaxMemoryPolicy, "redis maxmemory-policy (noeviction: full instances refuse writes instead of dropping keys)")
	fs.DurationVar(&c.RecoveryTimeout, "recovery-timeout", c.RecoveryTimeout, "how long to retry subscribing to a lost agent when MESOS_RECOVERY_TIMEOUT is unset")
	fs.StringVar(&c.Codec, "mesos-codec", c.Codec, "Mesos API encoding: protobuf or json")
	fs.DurationVar(&c.IdleTimeout, "idle-timeout", c.IdleTimeout, "exit after this long without live tasks (0: never)")
	c.envErr = envflag.Apply(fs, map[string]string{
		"redis-server":     "MRR_REDIS_SERVER",
		"bind":             "MRR_BIND",
		"ready-timeout":    "MRR_READY_TIMEOUT",
		"stats-interval":   "MRR_STATS_INTERVAL",
		"kill-grace":       "MRR_KILL_GRACE",
		"maxmemory-policy": "MRR_MAXMEMORY_POLICY",
		"recovery-timeout": "MRR_RECOVERY_TIMEOUT",
		"mesos-codec":      "MRR_MESOS_CODEC",
		"idle-timeout":     "MRR_IDLE_TIMEOUT",
	})
}

// EnvErr reports the environment variables RegisterFlags could not use,
// each named with its value; nil when all were good or unset.
func (c Config) EnvErr() error { return c.envErr }

// Validate reports the first problem with c, in one sentence.
func (c Config) Validate() error {
	if c.envErr != nil {
		return c.envErr
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
