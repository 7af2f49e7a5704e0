package localproxy

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/mrredis/mrredis/internal/envflag"
	"github.com/mrredis/mrredis/zkstore"
)

// Config is mrr-localproxy's configuration.
type Config struct {
	// ZK is where the instance records and master pointers are (--zk,
	// MRR_ZK, "host:port,.../root").
	ZK zkstore.Config
	// Bind is the address instance listeners bind to. Keep it loopback:
	// the proxy answers AUTH itself.
	Bind string
	// PortRange is "lo-hi": instances whose port is outside are refused.
	PortRange string
	// Admin is the health and metrics listener, "host:port".
	Admin string
	// ListenRetry is how often a port held by another program is retried.
	ListenRetry time.Duration
	// DialTimeout bounds connecting and authenticating to a master.
	DialTimeout time.Duration
	// DedicatedBackends gives every client connection a backend
	// connection of its own (Options.Dedicated).
	DedicatedBackends bool
	// Threads is how many threads run the proxy (GOMAXPROCS); 0 leaves
	// Go's default, one per CPU the process may use. One is the default:
	// a relay's goroutines mostly wake each other, and on a host whose
	// cores are busy with the applications and Redis, more threads spend
	// more on handing goroutines between them than they gain (see
	// bench/README.md).
	Threads int

	envErr error // bad MRR_* values seen by RegisterFlags
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		ZK:          zkstore.Config{Servers: []string{"127.0.0.1:2181"}, Root: zkstore.DefaultRoot},
		Bind:        "127.0.0.1",
		PortRange:   "6100-6300",
		Admin:       "127.0.0.1:5657",
		ListenRetry: 5 * time.Second,
		DialTimeout: 2 * time.Second,
		Threads:     1,
	}
}

// RegisterFlags registers every setting on fs with c's values as defaults,
// each overridden by its MRR_* environment variable when that is set; a bad
// environment value is kept for EnvErr and Validate.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	c.ZK.RegisterFlags(fs)
	fs.StringVar(&c.Bind, "bind", c.Bind, "address the per-instance listeners bind to; keep it loopback, the proxy answers AUTH itself")
	fs.StringVar(&c.PortRange, "port-range", c.PortRange, "lo-hi: instances whose proxy port is outside are refused")
	fs.StringVar(&c.Admin, "admin", c.Admin, "host:port of the /healthz and /metrics listener")
	fs.DurationVar(&c.ListenRetry, "listen-retry", c.ListenRetry, "how often a port held by another program is tried again")
	fs.DurationVar(&c.DialTimeout, "dial-timeout", c.DialTimeout, "longest wait to connect and authenticate to a master")
	fs.IntVar(&c.Threads, "threads", c.Threads, "threads running the proxy (GOMAXPROCS); 0: one per CPU")
	fs.BoolVar(&c.DedicatedBackends, "dedicated-backends", c.DedicatedBackends,
		"give every client connection a Redis connection of its own, instead of sharing one per instance until a client needs its own")
	c.envErr = envflag.Apply(fs, map[string]string{
		"bind":               "MRR_BIND",
		"port-range":         "MRR_PORT_RANGE",
		"admin":              "MRR_ADMIN",
		"listen-retry":       "MRR_LISTEN_RETRY",
		"dial-timeout":       "MRR_DIAL_TIMEOUT",
		"dedicated-backends": "MRR_DEDICATED_BACKENDS",
		"threads":            "MRR_THREADS",
	})
}

// EnvErr reports the environment variables RegisterFlags could not use
// (MRR_ZK* included), each named with its value; nil when all were good or
// unset.
func (c Config) EnvErr() error { return errors.Join(c.ZK.EnvErr(), c.envErr) }

// Validate reports the first problem with c, in one sentence.
func (c Config) Validate() error {
	if err := c.EnvErr(); err != nil {
		return err
	}
	if len(c.ZK.Servers) == 0 {
		return fmt.Errorf("no ZooKeeper servers given: use --zk host:port/root")
	}
	ip := net.ParseIP(c.Bind)
	if ip == nil {
		return fmt.Errorf("bind address %q is not an IP address", c.Bind)
	}
	if !ip.IsLoopback() {
		// The proxy answers AUTH itself: reachable from other hosts it
		// would hand every instance to anyone on the network.
		return fmt.Errorf("bind address %s is not a loopback address: the proxy answers AUTH itself, so it must only be reachable from this host", c.Bind)
	}
	if _, _, err := ParsePortRange(c.PortRange); err != nil {
		return err
	}
	if _, _, err := net.SplitHostPort(c.Admin); err != nil {
		return fmt.Errorf("admin address %q is invalid: use host:port", c.Admin)
	}
	if c.ListenRetry <= 0 {
		return fmt.Errorf("listen retry %s must be positive", c.ListenRetry)
	}
	if c.DialTimeout <= 0 {
		return fmt.Errorf("dial timeout %s must be positive", c.DialTimeout)
	}
	if c.Threads < 0 {
		return fmt.Errorf("threads %d must be 0 (one per CPU) or more", c.Threads)
	}
	return nil
}

// ParsePortRange parses "lo-hi" (1 <= lo <= hi <= 65535).
func ParsePortRange(s string) (lo, hi int, err error) {
	a, b, ok := strings.Cut(strings.TrimSpace(s), "-")
	if ok {
		lo, err = strconv.Atoi(strings.TrimSpace(a))
		if err == nil {
			hi, err = strconv.Atoi(strings.TrimSpace(b))
		}
	}
	if !ok || err != nil || lo < 1 || hi > 65535 || lo > hi {
		return 0, 0, fmt.Errorf("port range %q is invalid: use lo-hi with 1 <= lo <= hi <= 65535, e.g. 6100-6300", s)
	}
	return lo, hi, nil
}
