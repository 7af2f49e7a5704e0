package executor

import (
	"fmt"
	"net"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/mrredis/mrredis/internal/execproto"
	"github.com/mrredis/mrredis/internal/model"
)

// AdminUser is the ACL user the scheduler, the executor and replicas use.
// Clients (the default user) never get the @admin commands.
const AdminUser = "mrr-admin"

// DefaultMaxMemoryPolicy is noeviction: when an instance is full, writes
// fail with an OOM error instead of Redis silently dropping keys. A service
// cannot know whether a tenant's data is a cache, and a loud error is
// recoverable (resize) where lost keys are not. Operators who run pure
// caches can choose allkeys-lru with --maxmemory-policy.
const DefaultMaxMemoryPolicy = "noeviction"

var maxMemoryPolicies = map[string]bool{
	"noeviction": true, "allkeys-lru": true, "allkeys-lfu": true, "allkeys-random": true,
	"volatile-lru": true, "volatile-lfu": true, "volatile-random": true, "volatile-ttl": true,
}

var hostRE = regexp.MustCompile(`^[A-Za-z0-9._:-]+$`)

// rdbSavePoints are Redis' classic snapshot rules: after 1 h if 1 key
// changed, 5 min if 100 did, 1 min if 10000 did.
const rdbSavePoints = "3600 1 300 100 60 10000"

// MemberConfig is everything StartMember needs to run one redis-server.
type MemberConfig struct {
	TaskID string
	Data   execproto.TaskData
	// Dir is the member's own directory: redis.conf, data files and
	// redis.log. StartMember creates it.
	Dir string
	// Bind is the IP address redis-server listens on.
	Bind string
	// RedisServer is the redis-server binary (a path, or a name looked up
	// in PATH).
	RedisServer string
	// MaxMemoryPolicy defaults to DefaultMaxMemoryPolicy.
	MaxMemoryPolicy string
}

// Validate reports the first problem with c, in one sentence.
func (c MemberConfig) Validate() error {
	if c.TaskID == "" {
		return fmt.Errorf("member config: task id is required")
	}
	if err := c.Data.Validate(); err != nil {
		return err
	}
	if c.Dir == "" || !filepath.IsAbs(c.Dir) {
		return fmt.Errorf("member config: directory %q must be an absolute path", c.Dir)
	}
	if net.ParseIP(c.Bind) == nil {
		return fmt.Errorf("member config: bind address %q is not an IP address", c.Bind)
	}
	if p := c.MaxMemoryPolicy; p != "" && !maxMemoryPolicies[p] {
		return fmt.Errorf("member config: maxmemory policy %q is unknown: use noeviction, allkeys-lru, allkeys-lfu, allkeys-random, volatile-lru, volatile-lfu, volatile-random or volatile-ttl", p)
	}
	if h := c.Data.MasterHost; h != "" && !hostRE.MatchString(h) {
		return fmt.Errorf("task data: master_host %q is not a host name or IP address", h)
	}
	for name, v := range map[string]string{"password": c.Data.Password, "admin_password": c.Data.AdminPass, "directory": c.Dir} {
		for _, r := range v {
			if r < 0x20 || r == 0x7f {
				return fmt.Errorf("task data: %s must not contain control characters", name)
			}
		}
	}
	return nil
}

// adminPassword is the password of the mrr-admin user: the instance's
// admin password, or, for a scheduler that sets none, the clients'
// password (then anyone with the client password can act as admin; with
// neither, the admin user has no password).
func (c MemberConfig) adminPassword() string {
	if c.Data.AdminPass != "" {
		return c.Data.AdminPass
	}
	return c.Data.Password
}

// anyPassword is what the executor and replicas send to authenticate as
// an admin user that has no password: Redis accepts any password for a
// nopass user, and always authenticating keeps one code path.
const anyPassword = "nopass"

// adminAuth is the password to AUTH as mrr-admin with.
func (c MemberConfig) adminAuth() string {
	if p := c.adminPassword(); p != "" {
		return p
	}
	return anyPassword
}

// addr is where the member listens, "bind:port".
func (c MemberConfig) addr() string {
	return net.JoinHostPort(c.Bind, strconv.Itoa(c.Data.Port))
}

// RenderConfig returns the redis.conf for c, or why c is invalid.
func RenderConfig(c MemberConfig) (string, error) {
	if err := c.Validate(); err != nil {
		return "", err
	}
	d := c.Data
	policy := c.MaxMemoryPolicy
	if policy == "" {
		policy = DefaultMaxMemoryPolicy
	}
	var b strings.Builder
	line := func(parts ...string) { b.WriteString(strings.Join(parts, " ") + "\n") }

	line("# redis.conf written by mrr-executor for task", quote(c.TaskID), "of instance", d.Instance)
	line("daemonize no")
	line("bind", c.Bind)
	line("port", strconv.Itoa(d.Port))
	line("dir", quote(c.Dir))
	// Logs go to stdout, which the executor sends to redis.log: that file
	// then also holds what redis prints before it could open a log file.
	line("logfile", `""`)
	// Protected mode would refuse every non-loopback connection to an
	// instance without a client password, including its own replicas on
	// other hosts and the proxies: the service exists to be reached over
	// the network, so access is governed by the ACL below instead.
	line("protected-mode no")
	line("tcp-keepalive 60")
	// Full syncs go through a file. After a diskless transfer Redis
	// streams the writes made since the snapshot only once the replica's
	// first acknowledgement arrives, up to a second later, while the
	// replica already reports its link up: a failover in that second
	// would lose them. With a file the stream follows the transfer at
	// once (and there is no 5 s diskless delay to wait for either).
	line("repl-diskless-sync no")
	// Without persistence, the sync file is deleted once used.
	line("rdb-del-sync-files yes")
	// Masters list their replicas by the address replicas announce; the
	// bind address is the one others reach (FAILOVER TO needs it).
	if ip := net.ParseIP(c.Bind); ip != nil && !ip.IsUnspecified() {
		line("replica-announce-ip", c.Bind)
	}
	line("maxmemory", strconv.Itoa(d.MaxMemoryMB)+"mb")
	line("maxmemory-policy", policy)

	switch d.Persistence {
	case model.PersistenceAOF:
		line("appendonly yes")
		line("appendfsync everysec")
		line("save", `""`)
	case model.PersistenceRDB:
		line("appendonly no")
		line("save", rdbSavePoints)
	default: // none
		line("appendonly no")
		line("save", `""`)
	}

	// ACL: clients get everything but the @admin commands (CONFIG,
	// REPLICAOF, SHUTDOWN, DEBUG, ACL, ...); those are the scheduler's.
	if d.Password != "" {
		line("user default on", quote(">"+d.Password), "~* &* +@all -@admin")
	} else {
		line("user default on nopass ~* &* +@all -@admin")
	}
	if admin := c.adminPassword(); admin != "" {
		line("user", AdminUser, "on", quote(">"+admin), "~* &* +@all")
	} else {
		line("user", AdminUser, "on nopass ~* &* +@all")
	}
	// Every member carries the replication credentials so that a later
	// follow command needs no CONFIG SET to work.
	line("masteruser", AdminUser)
	line("masterauth", quote(c.adminAuth()))
	if d.Role == model.RoleReplica {
		line("replicaof", d.MasterHost, strconv.Itoa(d.MasterPort))
	}
	return b.String(), nil
}

// quote renders s as a double-quoted redis.conf argument, so passwords and
// paths with spaces, quotes or backslashes survive redis' argument parser.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
