// Package execproto owns the messages between mrr-sched and mrr-executor:
// the task data the scheduler puts in a TaskInfo, the status data the
// executor puts in its TASK_RUNNING update, and the JSON framework messages
// both ways (commands down, replies and stats up). Both sides import it so
// the wire format is defined once.
package execproto

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/mrredis/mrredis/internal/model"
)

// TaskData is the JSON in TaskInfo.data: everything the executor needs to
// run one redis-server member.
type TaskData struct {
	Instance    string            `json:"instance"`
	Role        model.Role        `json:"role"`
	MasterHost  string            `json:"master_host,omitempty"` // replicas: whom to follow
	MasterPort  int               `json:"master_port,omitempty"`
	MaxMemoryMB int               `json:"maxmemory_mb"`
	Password    string            `json:"password,omitempty"`       // clients' password (default user); empty = none
	AdminPass   string            `json:"admin_password,omitempty"` // the mrr-admin ACL user the scheduler uses
	Persistence model.Persistence `json:"persistence"`
	Port        int               `json:"port"` // from the offer's ports resource
}

// Validate reports the first problem with d, in one sentence.
func (d TaskData) Validate() error {
	if err := model.ValidateName(d.Instance); err != nil {
		return fmt.Errorf("task data: %w", err)
	}
	switch d.Role {
	case model.RoleMaster:
	case model.RoleReplica:
		if d.MasterHost == "" || d.MasterPort <= 0 || d.MasterPort > 65535 {
			return fmt.Errorf("task data: a replica needs master_host and a master_port in 1-65535")
		}
	default:
		return fmt.Errorf("task data: role %q is invalid: use master or replica", d.Role)
	}
	if d.Port <= 0 || d.Port > 65535 {
		return fmt.Errorf("task data: port %d is out of range 1-65535", d.Port)
	}
	if d.MaxMemoryMB <= 0 {
		return fmt.Errorf("task data: maxmemory_mb %d must be positive", d.MaxMemoryMB)
	}
	if err := model.ValidatePersistence(d.Persistence); err != nil {
		return fmt.Errorf("task data: %w", err)
	}
	return nil
}

// StatusData is the JSON in the data of the executor's TASK_RUNNING update.
type StatusData struct {
	Host  string     `json:"host"`
	Port  int        `json:"port"`
	RunID string     `json:"run_id"`
	Role  model.Role `json:"role"`
}

// Command ops the scheduler sends to an executor.
const (
	OpPromote      = "promote"       // REPLICAOF NO ONE
	OpFollow       = "follow"        // REPLICAOF MasterHost MasterPort
	OpSetMaxMemory = "set-maxmemory" // CONFIG SET maxmemory
	// OpFailoverTo is sent to a master for a planned switchover: Redis'
	// FAILOVER TO pauses writes until the target replica has caught up,
	// then swaps the two, so no acknowledged write is lost.
	OpFailoverTo = "failover-to"
)

// Command is a scheduler -> executor framework message.
type Command struct {
	ID          string `json:"id"` // echoed in the Reply
	TaskID      string `json:"task_id"`
	Op          string `json:"op"`
	MasterHost  string `json:"master_host,omitempty"`
	MasterPort  int    `json:"master_port,omitempty"`
	MaxMemoryMB int    `json:"maxmemory_mb,omitempty"`
	TimeoutMS   int    `json:"timeout_ms,omitempty"` // failover-to: how long the replica may take to catch up
}

// Message kinds an executor sends up.
const (
	KindStats = "stats"
	KindReply = "reply"
)

// ExecutorMessage is an executor -> scheduler framework message.
type ExecutorMessage struct {
	Kind  string        `json:"kind"`
	Stats []MemberStats `json:"stats,omitempty"`
	Reply *Reply        `json:"reply,omitempty"`
}

// MemberStats is one redis-server's INFO, sampled about once a second.
type MemberStats struct {
	TaskID           string     `json:"task_id"`
	Role             model.Role `json:"role"`
	RunID            string     `json:"run_id"`
	ReplOffset       int64      `json:"repl_offset"` // master_repl_offset (master) or slave_repl_offset (replica)
	LinkUp           bool       `json:"link_up"`
	LagBytes         int64      `json:"lag_bytes"`
	UsedMemory       int64      `json:"used_memory"`
	ConnectedClients int64      `json:"connected_clients"`
	OpsPerSec        int64      `json:"ops_per_sec"`
	At               time.Time  `json:"at"`
}

// Reply answers a Command.
type Reply struct {
	ID         string `json:"id"`
	TaskID     string `json:"task_id"`
	Op         string `json:"op"`
	OK         bool   `json:"ok"`
	Error      string `json:"error,omitempty"`
	ReplOffset int64  `json:"repl_offset"`
}

// DecodeCommand parses and checks a Command.
func DecodeCommand(b []byte) (Command, error) {
	var c Command
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("decode command: %w", err)
	}
	switch c.Op {
	case OpPromote:
	case OpFollow, OpFailoverTo:
		if c.MasterHost == "" || c.MasterPort <= 0 || c.MasterPort > 65535 {
			return c, fmt.Errorf("decode command: %s needs master_host and master_port", c.Op)
		}
	case OpSetMaxMemory:
		if c.MaxMemoryMB <= 0 {
			return c, fmt.Errorf("decode command: set-maxmemory needs a positive maxmemory_mb")
		}
	default:
		return c, fmt.Errorf("decode command: unknown op %q", c.Op)
	}
	if c.TaskID == "" {
		return c, fmt.Errorf("decode command: task_id is required")
	}
	return c, nil
}

// DecodeExecutorMessage parses an executor -> scheduler message.
func DecodeExecutorMessage(b []byte) (ExecutorMessage, error) {
	var m ExecutorMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("decode executor message: %w", err)
	}
	switch {
	case m.Kind == KindStats:
	case m.Kind == KindReply && m.Reply != nil:
	default:
		return m, fmt.Errorf("decode executor message: unknown kind %q", m.Kind)
	}
	return m, nil
}
