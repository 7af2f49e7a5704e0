package model

import "time"

// InstanceView is what the REST API returns for one instance and what the
// dashboard and CLI show: the record, its members, the routable master
// address and recent failovers. Secrets are blanked.
type InstanceView struct {
	Instance
	Master         string     `json:"master"` // "host:port" from the /master node; empty when none
	Members        []Member   `json:"members"`
	ReplicasInSync int        `json:"replicas_in_sync"`
	History        []Failover `json:"failover_history"`
}

// Redacted returns v with passwords removed, for showing to clients.
func (v InstanceView) Redacted() InstanceView {
	if v.Password != "" {
		v.Password = "********"
	}
	v.AdminPassword = ""
	return v
}

// Event kinds on GET /api/v1/events.
const (
	EventInstance = "instance" // an instance was created or changed; Instance is set
	EventDeleted  = "deleted"  // an instance is gone; Name is set
	EventFailover = "failover" // a failover happened; Name and Failover are set
)

// Event is one server-sent event for the dashboard.
type Event struct {
	Kind     string        `json:"kind"`
	Name     string        `json:"name"`
	Instance *InstanceView `json:"instance,omitempty"`
	Failover *Failover     `json:"failover,omitempty"`
	At       time.Time     `json:"at"`
}

// PatchRequest is the body of PATCH /api/v1/instances/{name}.
type PatchRequest struct {
	Replicas *int `json:"replicas,omitempty"`
	MemoryMB *int `json:"memory_mb,omitempty"`
}

// ErrorResponse is the body of every 4xx/5xx answer of the REST API.
type ErrorResponse struct {
	Error string `json:"error"`
}
