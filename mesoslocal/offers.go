package mesoslocal

import (
	"fmt"
	"strings"
	"time"

	"github.com/gogo/protobuf/proto"
	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
)

// offer is an outstanding offer of one agent's resources to one framework.
type offer struct {
	id    string
	fw    *framework
	agent *agent
	res   resources
	proto mesos.Offer
}

// offerFilter keeps offers of res (or less) on agent from a framework
// until expires.
type offerFilter struct {
	agent   *agent
	res     resources
	expires time.Time
}

// maxOffersBytes bounds the protobuf size of the offers in one OFFERS
// event, so that even its JSON form stays under mesos-go's 4 MiB record cap.
const maxOffersBytes = 1 << 20

const defaultRefuseSeconds = 5.0

// available is what agent a can still offer. Caller holds c.mu.
func (c *Cluster) available(a *agent) resources {
	free := a.total.clone()
	for _, ex := range a.executors {
		if !ex.exited {
			free = free.sub(ex.res)
		}
	}
	for _, t := range a.tasks {
		if !isTerminal(t.agentState) {
			free = free.sub(t.res)
		}
	}
	for _, o := range a.offers {
		free = free.sub(o.res)
	}
	return free
}

func (fw *framework) filtered(a *agent, res resources, now time.Time) bool {
	for _, f := range fw.filters {
		if f.agent == a && now.Before(f.expires) && f.res.contains(res) {
			return true
		}
	}
	return false
}

// allocate offers every agent's free resources to the connected, unsuppressed
// frameworks, one framework per agent, round robin. Caller holds c.mu.
func (c *Cluster) allocate() {
	if c.closed {
		return
	}
	now := time.Now()
	var fws []*framework
	for _, fw := range c.sortedFrameworks() {
		if fw.connected && !fw.suppressed {
			fws = append(fws, fw)
		}
		kept := fw.filters[:0]
		for _, f := range fw.filters {
			if now.Before(f.expires) {
				kept = append(kept, f)
			}
		}
		fw.filters = kept
	}
	c.armFilterTimer(now)
	if len(fws) == 0 {
		return
	}
	batches := map[*framework][]mesos.Offer{}
	for _, a := range c.agents {
		if !a.active() {
			continue
		}
		free := c.available(a)
		if !free.offerable() {
			continue
		}
		for k := 0; k < len(fws); k++ {
			fw := fws[(c.allocRR+k)%len(fws)]
			if fw.filtered(a, free, now) {
				continue
			}
			c.allocRR++
			o := c.newOffer(fw, a, free)
			batches[fw] = append(batches[fw], o.proto)
			break
		}
	}
	for fw, offers := range batches {
		sendOffers(fw, offers)
	}
}

// sendOffers sends offers in as many OFFERS events as the record cap needs.
func sendOffers(fw *framework, offers []mesos.Offer) {
	var batch []mesos.Offer
	size := 0
	for _, o := range offers {
		n := o.Size()
		if len(batch) > 0 && size+n > maxOffersBytes {
			fw.send(&scheduler.Event{Type: scheduler.Event_OFFERS, Offers: &scheduler.Event_Offers{Offers: batch}})
			batch, size = nil, 0
		}
		batch = append(batch, o)
		size += n
	}
	if len(batch) > 0 {
		fw.send(&scheduler.Event{Type: scheduler.Event_OFFERS, Offers: &scheduler.Event_Offers{Offers: batch}})
	}
}

// armFilterTimer reruns allocation when the earliest filter expires.
func (c *Cluster) armFilterTimer(now time.Time) {
	var next time.Time
	for _, fw := range c.frameworks {
		for _, f := range fw.filters {
			if next.IsZero() || f.expires.Before(next) {
				next = f.expires
			}
		}
	}
	if c.filterTimer != nil {
		c.filterTimer.Stop()
		c.filterTimer = nil
	}
	if !next.IsZero() {
		c.filterTimer = c.afterFunc(next.Sub(now)+time.Millisecond, c.allocate)
	}
}

func (c *Cluster) newOffer(fw *framework, a *agent, res resources) *offer {
	id := fmt.Sprintf("%s-O%d", c.masterID, c.nextOffer)
	c.nextOffer++
	role := fw.role()
	var execIDs []mesos.ExecutorID
	for k, ex := range a.executors {
		if k.fw == fw.id && !ex.exited {
			execIDs = append(execIDs, mesos.ExecutorID{Value: k.id})
		}
	}
	path := "/slave(1)"
	host := a.ip
	o := &offer{id: id, fw: fw, agent: a, res: res.clone()}
	o.proto = mesos.Offer{
		ID:          mesos.OfferID{Value: id},
		FrameworkID: mesos.FrameworkID{Value: fw.id},
		AgentID:     mesos.AgentID{Value: a.id},
		Hostname:    a.ip,
		URL: &mesos.URL{Scheme: "http", Path: &path,
			Address: mesos.Address{Hostname: &host, IP: &host, Port: int32(a.port)}},
		Resources:      res.toProto(role),
		ExecutorIDs:    execIDs,
		AllocationInfo: &mesos.Resource_AllocationInfo{Role: proto.String(role)},
	}
	c.offers[id] = o
	a.offers[id] = o
	return o
}

func (c *Cluster) dropOffer(o *offer) {
	delete(c.offers, o.id)
	delete(o.agent.offers, o.id)
}

// removeOffersOf takes back fw's outstanding offers, telling it with
// RESCIND when rescind is set.
func (c *Cluster) removeOffersOf(fw *framework, rescind bool) {
	for _, o := range c.offers {
		if o.fw == fw {
			c.dropOffer(o)
			if rescind {
				fw.send(&scheduler.Event{Type: scheduler.Event_RESCIND, Rescind: &scheduler.Event_Rescind{OfferID: mesos.OfferID{Value: o.id}}})
			}
		}
	}
}

// rescindAgentOffers rescinds every outstanding offer of agent a.
func (c *Cluster) rescindAgentOffers(a *agent) {
	for _, o := range a.offers {
		c.dropOffer(o)
		o.fw.send(&scheduler.Event{Type: scheduler.Event_RESCIND, Rescind: &scheduler.Event_Rescind{OfferID: mesos.OfferID{Value: o.id}}})
	}
}

func refuseSeconds(f *mesos.Filters) float64 {
	if f == nil || f.RefuseSeconds == nil {
		return defaultRefuseSeconds
	}
	return *f.RefuseSeconds
}

func (c *Cluster) addFilter(fw *framework, a *agent, res resources, f *mesos.Filters) {
	secs := refuseSeconds(f)
	if secs <= 0 || res.isEmpty() {
		return
	}
	// Mesos caps refusals at 365 days.
	if secs > 365*24*3600 {
		secs = 365 * 24 * 3600
	}
	fw.filters = append(fw.filters, offerFilter{agent: a, res: res, expires: time.Now().Add(time.Duration(secs * float64(time.Second)))})
}

func (c *Cluster) decline(fw *framework, ids []mesos.OfferID, f *mesos.Filters) {
	for _, id := range ids {
		o := c.offers[id.Value]
		if o == nil || o.fw != fw {
			continue
		}
		c.dropOffer(o)
		c.addFilter(fw, o.agent, o.res, f)
	}
	c.allocate()
}

// accept validates the offers and operations of an ACCEPT and launches
// what is valid. Caller holds c.mu.
func (c *Cluster) accept(fw *framework, acc *scheduler.Call_Accept) {
	defer c.allocate()
	var launches []mesos.TaskInfo
	for _, op := range acc.Operations {
		switch op.Type {
		case mesos.Offer_Operation_LAUNCH:
			if op.Launch != nil {
				launches = append(launches, op.Launch.TaskInfos...)
			}
		case mesos.Offer_Operation_LAUNCH_GROUP:
			if op.LaunchGroup != nil {
				launches = append(launches, op.LaunchGroup.TaskGroup.Tasks...)
			}
		}
	}
	var offers []*offer
	var a *agent
	// Every offer is checked, so that all valid ones can be recovered if
	// the call as a whole is invalid.
	err := ""
	if len(acc.OfferIDs) == 0 {
		err = "No offers specified"
	}
	seen := map[string]bool{}
	for _, id := range acc.OfferIDs {
		o := c.offers[id.Value]
		switch {
		case seen[id.Value]:
			err = fmt.Sprintf("Duplicate offer %s in accept", id.Value)
		case o == nil:
			err = fmt.Sprintf("Offer %s is no longer valid", id.Value)
		case o.fw != fw:
			err = fmt.Sprintf("Offer %s has invalid framework", id.Value)
		default:
			if a != nil && o.agent != a && err == "" {
				err = "Aggregated offers must belong to one single agent"
			}
			a = o.agent
			offers = append(offers, o)
		}
		seen[id.Value] = true
	}
	if err != "" {
		// Valid offers among them go back to the pool, unfiltered.
		for _, o := range offers {
			c.dropOffer(o)
		}
		state := mesos.TASK_LOST
		if fw.partitionAware() {
			state = mesos.TASK_DROPPED
		}
		for _, ti := range launches {
			st := masterStatus(ti.TaskID, state, mesos.REASON_INVALID_OFFERS, "Task launched with invalid offers: "+err, ti.AgentID.Value, executorIDOf(&ti))
			fw.send(updateEvent(st))
		}
		c.log.Info("accept with invalid offers", "framework", fw.id, "error", err)
		return
	}
	pool := resources{scalars: map[string]int64{}}
	for _, o := range offers {
		pool = pool.add(o.res)
		c.dropOffer(o)
	}
	newExecs := map[string]bool{} // executors this accept already paid for
	for _, op := range acc.Operations {
		switch op.Type {
		case mesos.Offer_Operation_LAUNCH:
			if op.Launch == nil {
				continue
			}
			for _, ti := range op.Launch.TaskInfos {
				need, err := c.validateTask(fw, a, &ti, ti.Executor, pool, newExecs, false)
				if err != "" {
					fw.send(updateEvent(masterStatus(ti.TaskID, mesos.TASK_ERROR, mesos.REASON_TASK_INVALID, err, a.id, executorIDOf(&ti))))
					continue
				}
				pool = pool.sub(need)
				if ti.Executor != nil {
					newExecs[ti.Executor.ExecutorID.Value] = true
				}
				c.launch(fw, a, ti.Executor, []mesos.TaskInfo{ti}, false)
			}
		case mesos.Offer_Operation_LAUNCH_GROUP:
			if op.LaunchGroup == nil {
				continue
			}
			lg := op.LaunchGroup
			ex := &lg.Executor
			total := resources{scalars: map[string]int64{}}
			errMsg := ""
			if len(lg.TaskGroup.Tasks) == 0 {
				errMsg = "Task group is empty"
			}
			ids := map[string]bool{}
			for i := range lg.TaskGroup.Tasks {
				ti := &lg.TaskGroup.Tasks[i]
				if ti.Executor != nil {
					errMsg = "'TaskInfo.executor' must not be set for a task in a task group"
					break
				}
				if ids[ti.TaskID.Value] {
					errMsg = fmt.Sprintf("Task group has duplicate task ID %s", ti.TaskID.Value)
					break
				}
				ids[ti.TaskID.Value] = true
				need, err := c.validateTask(fw, a, ti, ex, pool.sub(total), newExecs, true)
				if err != "" {
					errMsg = err
					break
				}
				total = total.add(need)
				newExecs[ex.ExecutorID.Value] = true
			}
			if errMsg != "" {
				delete(newExecs, ex.ExecutorID.Value)
				for _, ti := range lg.TaskGroup.Tasks {
					fw.send(updateEvent(masterStatus(ti.TaskID, mesos.TASK_ERROR, mesos.REASON_TASK_GROUP_INVALID, errMsg, a.id, &ex.ExecutorID)))
				}
				continue
			}
			pool = pool.sub(total)
			c.launch(fw, a, ex, lg.TaskGroup.Tasks, true)
		default:
			c.log.Warn("offer operation not supported by mesoslocal; ignored", "type", op.Type.String(), "framework", fw.id)
		}
	}
	c.addFilter(fw, a, pool, acc.Filters)
}

func executorIDOf(ti *mesos.TaskInfo) *mesos.ExecutorID {
	if ti.Executor != nil {
		id := ti.Executor.ExecutorID
		return &id
	}
	return nil
}

// validateTask checks a task (and its executor, ex) against Mesos' rules and
// the resources left in pool. It returns the resources the launch uses, or
// why the task is invalid.
func (c *Cluster) validateTask(fw *framework, a *agent, ti *mesos.TaskInfo, ex *mesos.ExecutorInfo, pool resources, paid map[string]bool, inGroup bool) (resources, string) {
	var none resources
	if err := validateID("Task", ti.TaskID.Value); err != "" {
		return none, err
	}
	if _, dup := fw.tasks[ti.TaskID.Value]; dup {
		return none, fmt.Sprintf("Task has duplicate ID: %s", ti.TaskID.Value)
	}
	if ti.AgentID.Value != a.id {
		return none, fmt.Sprintf("Task uses invalid agent: %s", ti.AgentID.Value)
	}
	if !inGroup && (ti.Executor == nil) == (ti.Command == nil) {
		return none, "Task should have at least one (but not both) of CommandInfo or ExecutorInfo present"
	}
	if ti.Command != nil && (ti.Command.Value == nil || *ti.Command.Value == "") {
		return none, "Task's CommandInfo has no 'value'"
	}
	res, err := parseResources(ti.Resources)
	if err != nil {
		return none, fmt.Sprintf("Task uses invalid resources: %v", err)
	}
	need := res
	if ex != nil {
		if err := validateID("Executor", ex.ExecutorID.Value); err != "" {
			return none, err
		}
		if ex.FrameworkID != nil && ex.FrameworkID.Value != fw.id {
			return none, fmt.Sprintf("ExecutorInfo has an invalid FrameworkID (actual: %s vs expected: %s)", ex.FrameworkID.Value, fw.id)
		}
		if ex.Command == nil || (ex.Command.GetValue() == "") {
			return none, "ExecutorInfo.command.value must be set: mesoslocal runs executors as processes"
		}
		exRes, err := parseResources(ex.Resources)
		if err != nil {
			return none, fmt.Sprintf("Executor uses invalid resources: %v", err)
		}
		if running := a.executors[execKey{fw.id, ex.ExecutorID.Value}]; running != nil && !running.exited {
			if !sameExecutorInfo(&running.info, ex, fw.id) {
				return none, fmt.Sprintf("ExecutorInfo is not compatible with existing ExecutorInfo of executor %s", ex.ExecutorID.Value)
			}
		} else if !paid[ex.ExecutorID.Value] {
			need = need.add(exRes)
		}
	}
	if need.isEmpty() {
		return none, "Task and its executor use no resources"
	}
	if !pool.contains(need) {
		return none, fmt.Sprintf("Task uses more resources %s than available %s", need, pool)
	}
	return need, ""
}

func validateID(kind, id string) string {
	if id == "" {
		return kind + " ID must not be empty"
	}
	if id == "." || id == ".." {
		return fmt.Sprintf("%s ID '%s' is disallowed", kind, id)
	}
	if strings.ContainsAny(id, "/\\") {
		return fmt.Sprintf("%s ID '%s' contains a path separator", kind, id)
	}
	for _, ch := range id {
		if ch < ' ' || ch == 0x7f || ch == ' ' {
			return fmt.Sprintf("%s ID '%s' contains whitespace or control characters", kind, id)
		}
	}
	return ""
}

func sameExecutorInfo(have, want *mesos.ExecutorInfo, fwID string) bool {
	a, b := *have, *want
	id := mesos.FrameworkID{Value: fwID}
	a.FrameworkID, b.FrameworkID = &id, &id
	return a.Equal(&b)
}

func updateEvent(st mesos.TaskStatus) *scheduler.Event {
	return &scheduler.Event{Type: scheduler.Event_UPDATE, Update: &scheduler.Event_Update{Status: st}}
}

// masterStatus builds an update made by the master (no uuid).
func masterStatus(taskID mesos.TaskID, state mesos.TaskState, reason mesos.TaskStatus_Reason, msg, agentID string, execID *mesos.ExecutorID) mesos.TaskStatus {
	st := mesos.TaskStatus{
		TaskID:    taskID,
		State:     state.Enum(),
		Source:    mesos.SOURCE_MASTER.Enum(),
		Reason:    reason.Enum(),
		Timestamp: nowSeconds(),
	}
	if msg != "" {
		st.Message = proto.String(msg)
	}
	if agentID != "" {
		st.AgentID = &mesos.AgentID{Value: agentID}
	}
	if execID != nil {
		id := *execID
		st.ExecutorID = &id
	}
	return st
}
