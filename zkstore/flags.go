package zkstore

import (
	"flag"
	"strings"
	"time"

	"github.com/mrredis/mrredis/internal/envflag"
)

// RegisterFlags registers --zk (env MRR_ZK, "host:port,.../root"),
// --zk-session-timeout (MRR_ZK_SESSION_TIMEOUT) and --zk-digest
// (MRR_ZK_DIGEST) on fs. Their defaults are c's values, else the built-in
// ones, overridden by the environment; a bad environment value is kept
// for EnvErr.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	if len(c.Servers) == 0 {
		c.Servers = []string{"127.0.0.1:2181"}
	}
	if c.Root == "" {
		c.Root = DefaultRoot
	}
	if c.SessionTimeout <= 0 {
		c.SessionTimeout = 10 * time.Second
	}
	fs.Var((*connectFlag)(c), "zk", "ZooKeeper connect string host:port[,host:port...][/root]")
	fs.DurationVar(&c.SessionTimeout, "zk-session-timeout", c.SessionTimeout, "ZooKeeper session timeout")
	fs.StringVar(&c.Digest, "zk-digest", c.Digest, "optional user:password; nodes are then writable only by this identity")
	c.envErr = envflag.Apply(fs, map[string]string{
		"zk":                 "MRR_ZK",
		"zk-session-timeout": "MRR_ZK_SESSION_TIMEOUT",
		"zk-digest":          "MRR_ZK_DIGEST",
	})
}

// EnvErr reports the MRR_ZK* environment variables RegisterFlags could not
// use, naming each with its value; nil when all were good or unset.
func (c Config) EnvErr() error { return c.envErr }

// connectFlag is Config seen as a flag.Value for a connect string.
type connectFlag Config

func (f *connectFlag) String() string {
	if f == nil {
		return ""
	}
	return strings.Join(f.Servers, ",") + f.Root
}

func (f *connectFlag) Set(s string) error {
	servers, root, err := ParseConnect(s)
	if err != nil {
		return err
	}
	f.Servers, f.Root = servers, root
	return nil
}
