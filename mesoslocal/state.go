package mesoslocal

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
)

// The /state document: the subset of a real master's /state that tools
// and UIs read, with the same field names.
type (
	stateDoc struct {
		Version             string           `json:"version"`
		ID                  string           `json:"id"`
		PID                 string           `json:"pid"`
		Hostname            string           `json:"hostname"`
		Leader              string           `json:"leader"`
		StartTime           float64          `json:"start_time"`
		ElectedTime         float64          `json:"elected_time"`
		ActivatedSlaves     int              `json:"activated_slaves"`
		DeactivatedSlaves   int              `json:"deactivated_slaves"`
		UnreachableSlaves   int              `json:"unreachable_slaves"`
		Slaves              []stateAgent     `json:"slaves"`
		Frameworks          []stateFramework `json:"frameworks"`
		CompletedFrameworks []stateFramework `json:"completed_frameworks"`
	}
	stateResources map[string]any
	stateAgent     struct {
		ID               string         `json:"id"`
		PID              string         `json:"pid"`
		Hostname         string         `json:"hostname"`
		Port             int            `json:"port"`
		RegisteredTime   float64        `json:"registered_time"`
		Active           bool           `json:"active"`
		Resources        stateResources `json:"resources"`
		UsedResources    stateResources `json:"used_resources"`
		OfferedResources stateResources `json:"offered_resources"`
	}
	stateFramework struct {
		ID               string         `json:"id"`
		Name             string         `json:"name"`
		User             string         `json:"user"`
		Hostname         string         `json:"hostname"`
		WebUIURL         string         `json:"webui_url"`
		Principal        string         `json:"principal,omitempty"`
		Role             string         `json:"role"`
		Roles            []string       `json:"roles"`
		Capabilities     []string       `json:"capabilities"`
		Active           bool           `json:"active"`
		Connected        bool           `json:"connected"`
		Recovered        bool           `json:"recovered"`
		Checkpoint       bool           `json:"checkpoint"`
		FailoverTimeout  float64        `json:"failover_timeout"`
		RegisteredTime   float64        `json:"registered_time"`
		ReregisteredTime float64        `json:"reregistered_time,omitempty"`
		UnregisteredTime float64        `json:"unregistered_time,omitempty"`
		Resources        stateResources `json:"resources"`
		UsedResources    stateResources `json:"used_resources"`
		OfferedResources stateResources `json:"offered_resources"`
		Tasks            []stateTask    `json:"tasks"`
		UnreachableTasks []stateTask    `json:"unreachable_tasks"`
		CompletedTasks   []stateTask    `json:"completed_tasks"`
		Offers           []stateOffer   `json:"offers"`
		Executors        []stateExec    `json:"executors"`
	}
	stateTask struct {
		ID          string         `json:"id"`
		Name        string         `json:"name"`
		FrameworkID string         `json:"framework_id"`
		ExecutorID  string         `json:"executor_id"`
		SlaveID     string         `json:"slave_id"`
		State       string         `json:"state"`
		Resources   stateResources `json:"resources"`
		Statuses    []stateStatus  `json:"statuses"`
	}
	stateStatus struct {
		State     string  `json:"state"`
		Timestamp float64 `json:"timestamp"`
		Message   string  `json:"message,omitempty"`
		Reason    string  `json:"reason,omitempty"`
		Source    string  `json:"source,omitempty"`
	}
	stateOffer struct {
		ID          string         `json:"id"`
		FrameworkID string         `json:"framework_id"`
		SlaveID     string         `json:"slave_id"`
		Resources   stateResources `json:"resources"`
	}
	stateExec struct {
		ExecutorID  string `json:"executor_id"`
		Name        string `json:"name"`
		FrameworkID string `json:"framework_id"`
		SlaveID     string `json:"slave_id"`
		ContainerID string `json:"container_id"`
		Directory   string `json:"directory"`
		PID         int    `json:"pid"`
	}
)

func toStateResources(r resources) stateResources {
	out := stateResources{"cpus": r.scalar("cpus"), "mem": r.scalar("mem"), "disk": r.scalar("disk"), "gpus": r.scalar("gpus")}
	for k, v := range r.scalars {
		out[k] = fromMilli(v)
	}
	if len(r.ports) > 0 {
		parts := make([]string, len(r.ports))
		for i, p := range r.ports {
			parts[i] = fmt.Sprintf("%d-%d", p.begin, p.end)
		}
		out["ports"] = "[" + strings.Join(parts, ", ") + "]"
	}
	return out
}

func unixSeconds(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.UnixNano()) / 1e9
}

func (c *Cluster) handleState(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		writeError(w, errorf(http.StatusMethodNotAllowed, "Expecting one of { 'GET', 'HEAD' }, but received '%s'", r.Method))
		return
	}
	doc := c.state()
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(doc)
}

func (c *Cluster) state() stateDoc {
	c.mu.Lock()
	defer c.mu.Unlock()
	mi := c.masterInfo()
	doc := stateDoc{
		Version: mesosVersion, ID: c.masterID, PID: mi.GetPID(), Hostname: mi.GetHostname(), Leader: mi.GetPID(),
		StartTime: unixSeconds(c.started), ElectedTime: unixSeconds(c.started),
		Slaves: []stateAgent{}, Frameworks: []stateFramework{}, CompletedFrameworks: []stateFramework{},
	}
	for _, a := range c.agents {
		if a.id == "" {
			continue
		}
		switch {
		case a.unreachable:
			doc.UnreachableSlaves++
			continue
		case a.running:
			doc.ActivatedSlaves++
		default:
			doc.DeactivatedSlaves++
		}
		free := c.available(a)
		offered := resources{scalars: map[string]int64{}}
		for _, o := range a.offers {
			offered = offered.add(o.res)
		}
		used := a.total.sub(free).sub(offered)
		doc.Slaves = append(doc.Slaves, stateAgent{
			ID: a.id, PID: a.pid(), Hostname: a.ip, Port: a.port, RegisteredTime: unixSeconds(a.registeredAt),
			Active: a.running, Resources: toStateResources(a.total), UsedResources: toStateResources(used),
			OfferedResources: toStateResources(offered),
		})
	}
	for _, fw := range c.sortedFrameworks() {
		doc.Frameworks = append(doc.Frameworks, c.stateFramework(fw))
	}
	ids := make([]string, 0, len(c.completedFrameworks))
	for id := range c.completedFrameworks {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		doc.CompletedFrameworks = append(doc.CompletedFrameworks, c.stateFramework(c.completedFrameworks[id]))
	}
	return doc
}

func (c *Cluster) stateFramework(fw *framework) stateFramework {
	sf := stateFramework{
		ID: fw.id, Name: fw.info.Name, User: fw.info.User, Hostname: fw.info.GetHostname(), WebUIURL: fw.info.GetWebUiURL(),
		Principal: fw.info.GetPrincipal(), Role: fw.role(), Roles: frameworkRoles(&fw.info), Capabilities: []string{},
		Active: fw.connected && !fw.suppressed, Connected: fw.connected, Checkpoint: fw.checkpoint(),
		FailoverTimeout: fw.info.GetFailoverTimeout(), RegisteredTime: unixSeconds(fw.registeredAt),
		ReregisteredTime: unixSeconds(fw.reregisteredAt), UnregisteredTime: unixSeconds(fw.unregisteredAt),
		Tasks: []stateTask{}, UnreachableTasks: []stateTask{}, CompletedTasks: []stateTask{}, Offers: []stateOffer{}, Executors: []stateExec{},
	}
	for _, cp := range fw.info.Capabilities {
		sf.Capabilities = append(sf.Capabilities, cp.Type.String())
	}
	used := resources{scalars: map[string]int64{}}
	offered := resources{scalars: map[string]int64{}}
	ids := make([]string, 0, len(fw.tasks))
	for id := range fw.tasks {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		t := fw.tasks[id]
		st := stateTaskOf(t)
		switch {
		case t.state == mesos.TASK_UNREACHABLE || (t.agent.unreachable && t.state == mesos.TASK_LOST):
			sf.UnreachableTasks = append(sf.UnreachableTasks, st)
		case isTerminal(t.state):
			sf.CompletedTasks = append(sf.CompletedTasks, st)
		default:
			sf.Tasks = append(sf.Tasks, st)
			used = used.add(t.res)
		}
	}
	for _, t := range fw.completed {
		sf.CompletedTasks = append(sf.CompletedTasks, stateTaskOf(t))
	}
	for _, o := range c.offers {
		if o.fw == fw {
			offered = offered.add(o.res)
			sf.Offers = append(sf.Offers, stateOffer{ID: o.id, FrameworkID: fw.id, SlaveID: o.agent.id, Resources: toStateResources(o.res)})
		}
	}
	for _, a := range c.agents {
		for k, ex := range a.executors {
			if k.fw != fw.id || ex.exited {
				continue
			}
			used = used.add(ex.res)
			sf.Executors = append(sf.Executors, stateExec{ExecutorID: ex.id, Name: ex.info.GetName(), FrameworkID: fw.id,
				SlaveID: a.id, ContainerID: ex.containerID, Directory: ex.dir, PID: ex.pid})
		}
	}
	sort.Slice(sf.Offers, func(i, j int) bool { return sf.Offers[i].ID < sf.Offers[j].ID })
	sf.UsedResources = toStateResources(used)
	sf.OfferedResources = toStateResources(offered)
	sf.Resources = toStateResources(used.add(offered))
	return sf
}

func stateTaskOf(t *task) stateTask {
	st := stateTask{
		ID: t.info.TaskID.Value, Name: t.info.Name, FrameworkID: t.fw.id, SlaveID: t.agent.id,
		State: t.state.String(), Resources: toStateResources(t.res), Statuses: []stateStatus{},
	}
	if t.exec != nil && !t.exec.command {
		st.ExecutorID = t.exec.id
	}
	for _, s := range t.statuses {
		ss := stateStatus{State: s.GetState().String(), Timestamp: s.GetTimestamp(), Message: s.GetMessage()}
		if s.Reason != nil {
			ss.Reason = s.Reason.String()
		}
		if s.Source != nil {
			ss.Source = s.Source.String()
		}
		st.Statuses = append(st.Statuses, ss)
	}
	return st
}
