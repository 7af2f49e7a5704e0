// Package model owns the records mrredis keeps about Redis instances: the
// instance spec and state, its members, failover history, and the rules
// that say what a valid spec is. zkstore persists these records, sched
// changes them, and the REST API, dashboard and CLI show them.
package model

import (
	"fmt"
	"regexp"
	"time"
)

// State is the lifecycle state of an instance.
type State string

const (
	StateCreating State = "CREATING"
	StateRunning  State = "RUNNING"
	StateDegraded State = "DEGRADED"
	StateDeleting State = "DELETING"
	StateDeleted  State = "DELETED"
	StateFailed   State = "FAILED"
)

// Persistence is how a Redis member keeps its data on disk.
type Persistence string

const (
	PersistenceNone Persistence = "none"
	PersistenceAOF  Persistence = "aof"
	PersistenceRDB  Persistence = "rdb"
)

// Role is a member's replication role.
type Role string

const (
	RoleMaster  Role = "master"
	RoleReplica Role = "replica"
)

// Spec is what a user asks for. It is the desired state of an instance.
type Spec struct {
	Name        string      `json:"name"`
	MemoryMB    int         `json:"memory_mb"`
	Replicas    int         `json:"replicas"`
	Password    string      `json:"password,omitempty"`
	Persistence Persistence `json:"persistence,omitempty"`
	// ReadFromReplicas lets local proxies send read-only commands outside
	// transactions to an in-sync replica (eventually consistent reads).
	ReadFromReplicas bool `json:"read_from_replicas,omitempty"`
}

// Instance is the record stored at /instances/<name>: the spec (desired
// state) plus what the scheduler has observed and decided. Members live in
// their own nodes so that a stats update of one member does not race with
// a spec change.
type Instance struct {
	Spec
	ProxyPort int    `json:"proxy_port"`
	State     State  `json:"state"`
	Reason    string `json:"reason,omitempty"` // why the instance is in State, in one sentence
	// Master is the task id of the member that should be master; the
	// routable "host:port" is kept in the /master node proxies watch.
	MasterTask string `json:"master_task,omitempty"`
	// AdminPassword authenticates the scheduler to its Redis members as the
	// admin user; clients never see it.
	AdminPassword string    `json:"admin_password,omitempty"`
	Failovers     int       `json:"failovers"`
	Created       time.Time `json:"created"`
	Updated       time.Time `json:"updated"`
}

// Member is the record stored at /instances/<name>/members/<task-id>.
type Member struct {
	TaskID           string    `json:"task_id"`
	AgentID          string    `json:"agent_id"`
	ExecutorID       string    `json:"executor_id"`
	Host             string    `json:"host"`
	Port             int       `json:"port"`
	Role             Role      `json:"role"`
	State            string    `json:"state"` // Mesos task state, e.g. TASK_RUNNING
	Reason           string    `json:"reason,omitempty"`
	RunID            string    `json:"run_id,omitempty"`
	ReplOffset       int64     `json:"repl_offset"`
	LinkUp           bool      `json:"link_up"` // replicas: master_link_status is up
	LagBytes         int64     `json:"lag_bytes"`
	UsedMemory       int64     `json:"used_memory"`
	OpsPerSec        int64     `json:"ops_per_sec"`
	ConnectedClients int64     `json:"connected_clients"`
	LastSeen         time.Time `json:"last_seen"`
}

// Addr is the member's "host:port".
func (m Member) Addr() string { return fmt.Sprintf("%s:%d", m.Host, m.Port) }

// Failover is one change of master, kept for the API, dashboard and metrics.
type Failover struct {
	At        time.Time `json:"at"`
	Cause     string    `json:"cause"` // "task TASK_FAILED", "ping timeout", "switchover", ...
	OldMaster string    `json:"old_master"`
	NewMaster string    `json:"new_master"`
	OldAddr   string    `json:"old_addr,omitempty"`
	NewAddr   string    `json:"new_addr,omitempty"`
	// DetectMS is from the last sign of life of the old master to the
	// decision; TotalMS from that decision to /master pointing at the new one.
	DetectMS int64 `json:"detect_ms"`
	TotalMS  int64 `json:"total_ms"`
	// LostBytes is the replication offset gap between old master and the
	// promoted replica as last observed (0 on a switchover).
	LostBytes int64  `json:"lost_bytes"`
	Error     string `json:"error,omitempty"`
}

// Limits bound what a spec may ask for.
type Limits struct {
	MinMemoryMB int
	MaxMemoryMB int
	MaxReplicas int
}

// DefaultLimits returns sane bounds for one Redis process.
func DefaultLimits() Limits {
	return Limits{MinMemoryMB: 16, MaxMemoryMB: 256 * 1024, MaxReplicas: 16}
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// ValidateName reports whether name can name an instance.
func ValidateName(name string) error {
	if name == "" {
		return fmt.Errorf("name is required")
	}
	if !nameRE.MatchString(name) {
		return fmt.Errorf("name %q is invalid: use 1 to 63 lowercase letters, digits and dashes, starting with a letter or digit", name)
	}
	return nil
}

// ValidatePersistence reports whether p is a known persistence mode; empty
// means none.
func ValidatePersistence(p Persistence) error {
	switch p {
	case "", PersistenceNone, PersistenceAOF, PersistenceRDB:
		return nil
	}
	return fmt.Errorf("persistence %q is invalid: use none, aof or rdb", p)
}

// ValidateMemory reports whether mb is within limits.
func (l Limits) ValidateMemory(mb int) error {
	if mb < l.MinMemoryMB || mb > l.MaxMemoryMB {
		return fmt.Errorf("memory_mb %d is out of range: use %d to %d", mb, l.MinMemoryMB, l.MaxMemoryMB)
	}
	return nil
}

// ValidateReplicas reports whether n is within limits.
func (l Limits) ValidateReplicas(n int) error {
	if n < 0 || n > l.MaxReplicas {
		return fmt.Errorf("replicas %d is out of range: use 0 to %d", n, l.MaxReplicas)
	}
	return nil
}

// Validate checks every field of s and returns the first problem found.
func (l Limits) Validate(s Spec) error {
	if err := ValidateName(s.Name); err != nil {
		return err
	}
	if err := l.ValidateMemory(s.MemoryMB); err != nil {
		return err
	}
	if err := l.ValidateReplicas(s.Replicas); err != nil {
		return err
	}
	if len(s.Password) > 512 {
		return fmt.Errorf("password is too long: at most 512 characters")
	}
	for _, r := range s.Password {
		if r <= ' ' || r == 0x7f {
			return fmt.Errorf("password must not contain spaces or control characters")
		}
	}
	return ValidatePersistence(s.Persistence)
}

// Normalize fills defaults into s.
func (s Spec) Normalize() Spec {
	if s.Persistence == "" {
		s.Persistence = PersistenceNone
	}
	return s
}
