package localproxy

import (
	"flag"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

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

	envErrs []error
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
	}
}

// RegisterFlags registers every setting on fs with c's values as defaults,
// each overridden by its environment variable when that is set.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	c.ZK.RegisterFlags(fs)
	type def struct {
		name, env, usage string
		reg              func(name, usage string)
	}
	defs := []def{
		{"bind", "MRR_BIND", "address the per-instance listeners bind to; keep it loopback, the proxy answers AUTH itself",
			func(n, u string) { fs.StringVar(&c.Bind, n, c.Bind, u) }},
		{"port-range", "MRR_PORT_RANGE", "lo-hi: instances whose proxy port is outside are refused",
			func(n, u string) { fs.StringVar(&c.PortRange, n, c.PortRange, u) }},
		{"admin", "MRR_ADMIN", "host:port of the /healthz and /metrics listener",
			func(n, u string) { fs.StringVar(&c.Admin, n, c.Admin, u) }},
		{"listen-retry", "MRR_LISTEN_RETRY", "how often a port held by another program is tried again",
			func(n, u string) { fs.DurationVar(&c.ListenRetry, n, c.ListenRetry, u) }},
		{"dial-timeout", "MRR_DIAL_TIMEOUT", "longest wait to connect and authenticate to a master",
			func(n, u string) { fs.DurationVar(&c.DialTimeout, n, c.DialTimeout, u) }},
	}
	for _, d := range defs {
		d.reg(d.name, d.usage+" (env "+d.env+")")
		if v, ok := os.LookupEnv(d.env); ok {
			if err := fs.Set(d.name, v); err != nil {
				c.envErrs = append(c.envErrs, fmt.Errorf("environment %s=%q: %w", d.env, v, err))
			} else {
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
