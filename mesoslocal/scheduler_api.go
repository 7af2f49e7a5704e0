package mesoslocal

import (
	"fmt"
	"net/http"
	"sort"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/encoding"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
)

// framework is a scheduler known to the master.
type framework struct {
	id             string
	info           mesos.FrameworkInfo
	stream         *eventStream // nil while disconnected
	streamID       string
	connected      bool
	suppressed     bool
	removed        bool
	filters        []offerFilter
	failoverTimer  *time.Timer
	registeredAt   time.Time
	reregisteredAt time.Time
	unregisteredAt time.Time
	tasks          map[string]*task // live and not yet acknowledged terminal tasks, by task id
	completed      []*task
}

const maxCompletedTasks = 1000

func (fw *framework) partitionAware() bool {
	return fw.hasCapability(mesos.FrameworkInfo_Capability_PARTITION_AWARE)
}

func (fw *framework) hasCapability(t mesos.FrameworkInfo_Capability_Type) bool {
	for _, cp := range fw.info.Capabilities {
		if cp.Type == t {
			return true
		}
	}
	return false
}

func (fw *framework) checkpoint() bool { return fw.info.Checkpoint != nil && *fw.info.Checkpoint }

func (fw *framework) role() string {
	if len(fw.info.Roles) > 0 {
		return fw.info.Roles[0]
	}
	if fw.info.Role != nil && *fw.info.Role != "" {
		return *fw.info.Role
	}
	return "*"
}

func (c *Cluster) handleScheduler(w http.ResponseWriter, r *http.Request) {
	var call scheduler.Call
	codec, herr := decodeCall(r, &call)
	if herr != nil {
		writeError(w, herr)
		return
	}
	if call.Type == scheduler.Call_SUBSCRIBE {
		c.subscribe(w, r, &call, codec)
		return
	}
	if herr := c.schedulerCall(r, &call); herr != nil {
		writeError(w, herr)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

// validateSchedulerCall checks what Mesos checks before looking at the
// framework: the call's type-specific message is present and well formed.
func validateSchedulerCall(call *scheduler.Call) *httpError {
	bad := func(format string, args ...any) *httpError { return errorf(http.StatusBadRequest, format, args...) }
	missing := func(field string) *httpError { return bad("Expecting '%s' to be present", field) }
	if call.Type == scheduler.Call_UNKNOWN {
		return missing("type")
	}
	if call.FrameworkID == nil || call.FrameworkID.Value == "" {
		return missing("framework_id")
	}
	switch call.Type {
	case scheduler.Call_ACCEPT:
		if call.Accept == nil {
			return missing("accept")
		}
	case scheduler.Call_DECLINE:
		if call.Decline == nil {
			return missing("decline")
		}
	case scheduler.Call_KILL:
		if call.Kill == nil {
			return missing("kill")
		}
	case scheduler.Call_SHUTDOWN:
		if call.Shutdown == nil {
			return missing("shutdown")
		}
	case scheduler.Call_ACKNOWLEDGE:
		if call.Acknowledge == nil {
			return missing("acknowledge")
		}
		if len(call.Acknowledge.UUID) != 16 {
			return bad("Failed to parse 'acknowledge.uuid': not a 16 byte UUID (got %d bytes)", len(call.Acknowledge.UUID))
		}
	case scheduler.Call_RECONCILE:
		if call.Reconcile == nil {
			return missing("reconcile")
		}
	case scheduler.Call_MESSAGE:
		if call.Message == nil {
			return missing("message")
		}
	case scheduler.Call_REQUEST:
		if call.Request == nil {
			return missing("request")
		}
	case scheduler.Call_ACCEPT_INVERSE_OFFERS:
		if call.AcceptInverseOffers == nil {
			return missing("accept_inverse_offers")
		}
	case scheduler.Call_DECLINE_INVERSE_OFFERS:
		if call.DeclineInverseOffers == nil {
			return missing("decline_inverse_offers")
		}
	case scheduler.Call_ACKNOWLEDGE_OPERATION_STATUS:
		if call.AcknowledgeOperationStatus == nil {
			return missing("acknowledge_operation_status")
		}
	case scheduler.Call_RECONCILE_OPERATIONS:
		if call.ReconcileOperations == nil {
			return missing("reconcile_operations")
		}
	case scheduler.Call_UPDATE_FRAMEWORK:
		if call.UpdateFramework == nil {
			return missing("update_framework")
		}
	}
	return nil
}

// schedulerCall handles every call but SUBSCRIBE.
func (c *Cluster) schedulerCall(r *http.Request, call *scheduler.Call) *httpError {
	if herr := validateSchedulerCall(call); herr != nil {
		return herr
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	fw := c.frameworks[call.FrameworkID.Value]
	if fw == nil {
		return errorf(http.StatusBadRequest, "Framework cannot be found")
	}
	if !fw.connected {
		return errorf(http.StatusForbidden, "Framework is not subscribed")
	}
	sid := r.Header.Get("Mesos-Stream-Id")
	if sid == "" {
		return errorf(http.StatusBadRequest, "All non-subscribe calls should include the 'Mesos-Stream-Id' header")
	}
	if sid != fw.streamID {
		return errorf(http.StatusBadRequest, "The stream ID '%s' included in this request didn't match the stream ID currently associated with framework ID %s", sid, fw.id)
	}
	switch call.Type {
	case scheduler.Call_TEARDOWN:
		c.log.Info("framework teardown", "framework", fw.id)
		c.removeFramework(fw)
	case scheduler.Call_ACCEPT:
		c.accept(fw, call.Accept)
	case scheduler.Call_DECLINE:
		c.decline(fw, call.Decline.OfferIDs, call.Decline.Filters)
	case scheduler.Call_REVIVE:
		fw.filters = nil
		fw.suppressed = false
		c.allocate()
	case scheduler.Call_SUPPRESS:
		fw.suppressed = true
	case scheduler.Call_KILL:
		c.killTask(fw, call.Kill)
	case scheduler.Call_SHUTDOWN:
		c.shutdownCall(fw, call.Shutdown)
	case scheduler.Call_ACKNOWLEDGE:
		c.acknowledge(fw, call.Acknowledge)
	case scheduler.Call_RECONCILE:
		c.reconcile(fw, call.Reconcile.Tasks)
	case scheduler.Call_MESSAGE:
		c.frameworkMessage(fw, call.Message)
	case scheduler.Call_UPDATE_FRAMEWORK:
		info := call.UpdateFramework.FrameworkInfo
		if info.ID != nil && info.ID.Value != fw.id {
			return errorf(http.StatusBadRequest, "'framework_info.id' differs from 'framework_id'")
		}
		if msg := validateFrameworkInfo(&info); msg != "" {
			return errorf(http.StatusBadRequest, "%s", msg)
		}
		id := mesos.FrameworkID{Value: fw.id}
		info.ID = &id
		fw.info = info
		fw.suppressed = len(call.UpdateFramework.SuppressedRoles) > 0 && containsAll(call.UpdateFramework.SuppressedRoles, frameworkRoles(&info))
		c.allocate()
	default:
		// REQUEST, inverse offers and operation calls have nothing to act
		// on here: there are no inverse offers or operations.
		c.log.Debug("scheduler call ignored", "type", call.Type.String(), "framework", fw.id)
	}
	return nil
}

// validateFrameworkInfo returns why Mesos would refuse info after answering
// 200, or "".
func validateFrameworkInfo(info *mesos.FrameworkInfo) string {
	multiRole := false
	for _, cp := range info.Capabilities {
		if cp.Type == mesos.FrameworkInfo_Capability_MULTI_ROLE {
			multiRole = true
		}
	}
	if len(info.Roles) > 0 && !multiRole {
		return "'FrameworkInfo.roles' is set but the framework lacks the MULTI_ROLE capability"
	}
	if multiRole && info.Role != nil && *info.Role != "*" && *info.Role != "" {
		return "'FrameworkInfo.role' must not be set when the framework has the MULTI_ROLE capability"
	}
	if info.FailoverTimeout != nil && *info.FailoverTimeout < 0 {
		return fmt.Sprintf("Invalid failover_timeout %v", *info.FailoverTimeout)
	}
	roles := info.Roles
	if !multiRole && info.Role != nil {
		roles = []string{*info.Role}
	}
	for _, r := range roles {
		if r == "" || r == "." || r == ".." || r[0] == '-' {
			return fmt.Sprintf("Role '%s' is invalid", r)
		}
		for _, ch := range r {
			if ch <= ' ' || ch == '\x7f' {
				return fmt.Sprintf("Role '%s' is invalid: it contains whitespace or control characters", r)
			}
		}
	}
	return ""
}

func (c *Cluster) subscribe(w http.ResponseWriter, r *http.Request, call *scheduler.Call, codec encoding.Codec) {
	if r.Header.Get("Mesos-Stream-Id") != "" {
		writeError(w, errorf(http.StatusBadRequest, "Subscribe calls should not include the 'Mesos-Stream-Id' header"))
		return
	}
	if call.Subscribe == nil || call.Subscribe.FrameworkInfo == nil {
		writeError(w, errorf(http.StatusBadRequest, "Expecting 'subscribe' to be present"))
		return
	}
	info := *call.Subscribe.FrameworkInfo
	if info.User == "" || info.Name == "" {
		writeError(w, errorf(http.StatusBadRequest, "Failed to parse body into Call: missing required fields: subscribe.framework_info.user, subscribe.framework_info.name"))
		return
	}
	if call.FrameworkID != nil && info.ID != nil && call.FrameworkID.Value != info.ID.Value {
		writeError(w, errorf(http.StatusBadRequest, "'framework_id' differs from 'subscribe.framework_info.id'"))
		return
	}
	if call.FrameworkID != nil && info.ID == nil {
		id := *call.FrameworkID
		info.ID = &id
	}

	stream := newEventStream()
	streamID := newUUID()
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		writeError(w, errorf(http.StatusServiceUnavailable, "Master is shutting down"))
		return
	}
	var fw *framework
	refusal := validateFrameworkInfo(&info)
	if refusal == "" && info.ID != nil && info.ID.Value != "" {
		if _, gone := c.completedFrameworks[info.ID.Value]; gone {
			refusal = "Framework has been removed"
		}
	}
	if refusal != "" {
		c.log.Info("framework subscription refused", "name", info.Name, "reason", refusal)
		stream.send(&scheduler.Event{Type: scheduler.Event_ERROR, Error: &scheduler.Event_Error{Message: refusal}})
		stream.close()
	} else {
		fw = c.registerFramework(info, call.Subscribe.SuppressedRoles, stream, streamID)
	}
	c.mu.Unlock()

	header := http.Header{"Mesos-Stream-Id": []string{streamID}}
	err := stream.serve(r.Context(), w, codec, header, heartbeatEvent, c.cfg.HeartbeatInterval)
	if fw == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if fw.stream == stream {
		c.log.Info("framework disconnected", "framework", fw.id, "err", err)
		c.disconnectFramework(fw)
	}
}

func heartbeatEvent() encoding.Marshaler {
	return &scheduler.Event{Type: scheduler.Event_HEARTBEAT}
}

// registerFramework adds a new framework or fails over an existing one to
// stream. Caller holds c.mu.
func (c *Cluster) registerFramework(info mesos.FrameworkInfo, suppressedRoles []string, stream *eventStream, streamID string) *framework {
	now := time.Now()
	var fw *framework
	if info.ID != nil && info.ID.Value != "" {
		fw = c.frameworks[info.ID.Value]
	}
	if fw == nil {
		id := ""
		if info.ID != nil && info.ID.Value != "" {
			id = info.ID.Value // a framework re-registering after a master failover
		} else {
			id = fmt.Sprintf("%s-%04d", c.masterID, c.nextFramework)
			c.nextFramework++
		}
		fw = &framework{id: id, tasks: map[string]*task{}, registeredAt: now}
		c.frameworks[id] = fw
		c.log.Info("framework registered", "framework", id, "name", info.Name)
	} else {
		if fw.stream != nil {
			fw.stream.send(&scheduler.Event{Type: scheduler.Event_ERROR, Error: &scheduler.Event_Error{Message: "Framework failed over"}})
			fw.stream.close()
		}
		if fw.failoverTimer != nil {
			fw.failoverTimer.Stop()
			fw.failoverTimer = nil
		}
		c.removeOffersOf(fw, true)
		fw.reregisteredAt = now
		c.log.Info("framework re-registered", "framework", fw.id, "name", info.Name)
	}
	id := mesos.FrameworkID{Value: fw.id}
	info.ID = &id
	fw.info = info
	fw.stream = stream
	fw.streamID = streamID
	fw.connected = true
	fw.suppressed = len(suppressedRoles) > 0 && containsAll(suppressedRoles, frameworkRoles(&info))
	hb := c.cfg.HeartbeatInterval.Seconds()
	stream.send(&scheduler.Event{Type: scheduler.Event_SUBSCRIBED, Subscribed: &scheduler.Event_Subscribed{
		FrameworkID: &id, HeartbeatIntervalSeconds: &hb, MasterInfo: c.masterInfo(),
	}})
	stream.send(&scheduler.Event{Type: scheduler.Event_HEARTBEAT})
	// As Mesos agents do when a framework re-registers, resend the pending
	// status updates now instead of at their next retry.
	for _, t := range fw.tasks {
		if len(t.updates) > 0 {
			t.retryInterval = c.cfg.StatusUpdateRetry
			c.forwardUpdate(t)
		}
	}
	c.allocate()
	return fw
}

func frameworkRoles(info *mesos.FrameworkInfo) []string {
	if len(info.Roles) > 0 {
		return info.Roles
	}
	if info.Role != nil && *info.Role != "" {
		return []string{*info.Role}
	}
	return []string{"*"}
}

func containsAll(have, want []string) bool {
	set := map[string]bool{}
	for _, h := range have {
		set[h] = true
	}
	for _, w := range want {
		if !set[w] {
			return false
		}
	}
	return true
}

// disconnectFramework handles a broken stream: offers go back, calls get
// 403, and the failover timeout starts. Caller holds c.mu.
func (c *Cluster) disconnectFramework(fw *framework) {
	fw.connected = false
	fw.stream = nil
	fw.unregisteredAt = time.Now()
	c.removeOffersOf(fw, false)
	timeout := 0.0
	if fw.info.FailoverTimeout != nil {
		timeout = *fw.info.FailoverTimeout
	}
	d := time.Duration(timeout * float64(time.Second))
	if fw.failoverTimer != nil {
		fw.failoverTimer.Stop()
	}
	fw.failoverTimer = c.afterFunc(d, func() {
		if fw.removed || fw.connected {
			return
		}
		c.log.Info("framework failover timeout expired; removing it", "framework", fw.id, "timeout", d)
		c.removeFramework(fw)
	})
	c.allocate()
}

// removeFramework tears down fw: its executors are shut down, its tasks
// forgotten, its id completed. Caller holds c.mu.
func (c *Cluster) removeFramework(fw *framework) {
	if fw.removed {
		return
	}
	fw.removed = true
	if fw.failoverTimer != nil {
		fw.failoverTimer.Stop()
	}
	c.removeOffersOf(fw, false)
	for _, a := range c.agents {
		for _, ex := range a.executors {
			if ex.fwID == fw.id {
				c.shutdownExecutor(ex)
			}
		}
	}
	for _, t := range fw.tasks {
		t.state = mesos.TASK_KILLED
		c.forgetTask(t)
	}
	if fw.stream != nil {
		fw.stream.close()
		fw.stream = nil
	}
	fw.connected = false
	fw.unregisteredAt = time.Now()
	delete(c.frameworks, fw.id)
	c.completedFrameworks[fw.id] = fw
	c.allocate()
}

// frameworkMessage forwards a scheduler's message to an executor, best effort.
func (c *Cluster) frameworkMessage(fw *framework, m *scheduler.Call_Message) {
	a := c.agentsByID[m.AgentID.Value]
	if a == nil || !a.running {
		c.log.Debug("message to unknown or stopped agent dropped", "agent", m.AgentID.Value)
		return
	}
	ex := a.executors[execKey{fw.id, m.ExecutorID.Value}]
	if ex == nil || ex.stream == nil {
		c.log.Debug("message to unknown or disconnected executor dropped", "executor", m.ExecutorID.Value)
		return
	}
	ex.sendMessage(m.Data)
}

// sortedFrameworks returns the connected frameworks in id order.
func (c *Cluster) sortedFrameworks() []*framework {
	out := make([]*framework, 0, len(c.frameworks))
	for _, fw := range c.frameworks {
		out = append(out, fw)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}
