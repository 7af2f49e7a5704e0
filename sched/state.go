package sched

import (
	"time"

	"github.com/mrredis/mrredis/internal/execproto"
	"github.com/mrredis/mrredis/internal/model"
)

// The types in this file are the vocabulary of the pure core: what goes in
// (offers, task updates, executor messages, ping results, ticks) and what
// comes out (actions). They carry no Mesos or ZooKeeper types so the core can
// be table-tested without any server.

// PortRange is an inclusive range of ports in an offer.
type PortRange struct{ Begin, End int }

// Offer is the part of a Mesos offer the core places members on.
type Offer struct {
	ID          string
	AgentID     string
	Hostname    string
	CPUs        float64
	MemMB       float64
	Ports       []PortRange
	ExecutorIDs []string // executors of this framework already running on the agent
}

// TaskUpdate is a Mesos task status update.
type TaskUpdate struct {
	TaskID     string
	AgentID    string
	ExecutorID string
	State      string // mesos TaskState name, e.g. TASK_RUNNING
	Reason     string
	Message    string
	Source     string
	Data       *execproto.StatusData // decoded from the TASK_RUNNING data, if any
}

// ActionKind says what an Action asks the adapters to do.
type ActionKind int

const (
	// Store writes. The runner executes them before any Mesos call of the
	// same batch, and drops the Mesos calls when a write fails.
	ActUpdateInstance ActionKind = iota + 1
	ActPutMember
	ActDeleteMember
	ActSetMaster
	ActSetReplicas
	ActAddFailover
	ActDeleteInstance // also releases the instance's port
	// Mesos calls.
	ActLaunch
	ActDecline
	ActKill
	ActMessage
	ActRevive
	ActSuppress
	ActReconcile
)

var actionNames = map[ActionKind]string{
	ActUpdateInstance: "update-instance", ActPutMember: "put-member", ActDeleteMember: "delete-member",
	ActSetMaster: "set-master", ActSetReplicas: "set-replicas", ActAddFailover: "add-failover", ActDeleteInstance: "delete-instance",
	ActLaunch: "launch", ActDecline: "decline", ActKill: "kill", ActMessage: "message",
	ActRevive: "revive", ActSuppress: "suppress", ActReconcile: "reconcile",
}

func (k ActionKind) String() string { return actionNames[k] }

// IsStore reports whether k is a ZooKeeper write.
func (k ActionKind) IsStore() bool { return k >= ActUpdateInstance && k <= ActDeleteInstance }

// LaunchTask is one member to start with an offer.
type LaunchTask struct {
	Instance   string
	TaskID     string
	ExecutorID string
	NewExec    bool // the executor is not yet on the agent: its resources come from this offer
	Data       execproto.TaskData
	CPUs       float64
	MemMB      float64
}

// Action is one thing the adapters must do. Only the fields of its Kind are set.
type Action struct {
	Kind     ActionKind
	Instance string

	Inst     model.Instance // ActUpdateInstance, ActDeleteInstance (port)
	Member   model.Member   // ActPutMember
	TaskID   string         // ActDeleteMember, ActKill
	AgentID  string         // ActKill, ActMessage, ActLaunch
	Addr     string         // ActSetMaster
	Addrs    []string       // ActSetReplicas
	Failover model.Failover // ActAddFailover

	OfferID   string            // ActLaunch
	OfferIDs  []string          // ActDecline
	Refuse    time.Duration     // ActDecline, ActLaunch: filter for what is left
	Tasks     []LaunchTask      // ActLaunch
	Exec      string            // ActMessage: executor id
	Command   execproto.Command // ActMessage
	Reconcile []ReconcileTask   // ActReconcile
	All       bool              // ActReconcile: also ask for every task Mesos knows (finds orphans)
}

// ReconcileTask names a task to reconcile.
type ReconcileTask struct{ TaskID, AgentID string }

// CoreConfig tunes the core's decisions.
type CoreConfig struct {
	AntiAffinity   bool          // members of one instance on distinct hosts
	ExecVersion    string        // suffix of executor ids naming the ExecutorInfo in use
	MemberCPUs     float64       // cpus of one redis member task
	MemberMemExtra float64       // MB added to memory_mb for a member task
	ExecCPUs       float64       // cpus of one executor
	ExecMemMB      float64       // MB of one executor
	PingMisses     int           // consecutive missed pings that fail a master
	StatsTimeout   time.Duration // a master whose executor sent no stats for this long has failed
	CommandTimeout time.Duration // a promote not answered within this is given up
	CatchUpTimeout time.Duration // switchover: how long to wait for the replica to catch up
	LinkGrace      time.Duration // a replica whose link was up this recently may be promoted
	DeclineShort   time.Duration // refuse filter while members wait for resources
	DeclineLong    time.Duration // refuse filter when nothing waits
	RetryMin       time.Duration // first wait after a member failed to start
	RetryMax       time.Duration // longest wait between start attempts
	KillRetry      time.Duration // first wait before a kill without answer is repeated
}

// DefaultCoreConfig returns the defaults used by mrr-sched.
func DefaultCoreConfig() CoreConfig {
	return CoreConfig{
		AntiAffinity:   true,
		MemberCPUs:     0.1,
		MemberMemExtra: 32,
		ExecCPUs:       0.05,
		ExecMemMB:      32,
		PingMisses:     3,
		StatsTimeout:   10 * time.Second,
		CommandTimeout: 5 * time.Second,
		CatchUpTimeout: 10 * time.Second,
		LinkGrace:      10 * time.Second,
		DeclineShort:   5 * time.Second,
		DeclineLong:    5 * time.Minute,
		RetryMin:       time.Second,
		RetryMax:       time.Minute,
		KillRetry:      3 * time.Second,
	}
}
