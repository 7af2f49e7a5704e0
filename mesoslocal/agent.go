package mesoslocal

import (
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
)

// agent is one Mesos agent: its HTTP server (the executor API), its
// executors and tasks, and the master's view of it.
type agent struct {
	c     *Cluster
	idx   int
	id    string
	ip    string
	port  int
	total resources

	running      bool // serving, registered with the master
	unreachable  bool // removed by the master after AgentRemovalTimeout
	crashed      bool // stopped with its executors: returns as a new agent
	removalTimer *time.Timer
	srv          *http.Server
	registeredAt time.Time

	executors map[execKey]*executor
	tasks     map[taskKey]*task
	offers    map[string]*offer
}

// active reports whether the master may offer the agent's resources and
// receive its updates.
func (a *agent) active() bool { return a.running && !a.unreachable }

func (a *agent) endpoint() string { return net.JoinHostPort(a.ip, strconv.Itoa(a.port)) }

func (a *agent) pid() string { return "slave(1)@" + a.endpoint() }

func (a *agent) agentInfo() mesos.AgentInfo {
	port := int32(a.port)
	id := mesos.AgentID{Value: a.id}
	return mesos.AgentInfo{Hostname: a.ip, Port: &port, ID: &id, Resources: a.total.toProto("")}
}

// StartAgent starts agent i (0-based), which registers with the master. An
// agent stopped without its executors re-registers with its surviving
// tasks; one stopped as a host crash comes back as a new agent.
func (c *Cluster) StartAgent(i int) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return fmt.Errorf("start agent %d: cluster is closed", i)
	}
	if i < 0 || i >= len(c.agents) {
		c.mu.Unlock()
		return fmt.Errorf("start agent %d: no such agent (have %d)", i, len(c.agents))
	}
	a := c.agents[i]
	if a.running {
		c.mu.Unlock()
		return fmt.Errorf("start agent %d: already running", i)
	}
	addr := net.JoinHostPort(a.ip, strconv.Itoa(a.port))
	c.mu.Unlock()

	ln, err := listenRetry(addr)
	if err != nil {
		return fmt.Errorf("start agent %d: listen on %s: %w", i, addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/api/v1/executor", func(w http.ResponseWriter, r *http.Request) { c.handleExecutor(a, w, r) })
	mux.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}

	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		ln.Close()
		return fmt.Errorf("start agent %d: cluster is closed", i)
	}
	a.port = ln.Addr().(*net.TCPAddr).Port
	if a.id == "" || a.crashed {
		if a.crashed {
			c.forgetCrashedAgent(a)
		}
		a.id = fmt.Sprintf("%s-S%d", c.masterID, c.nextAgent)
		c.nextAgent++
		c.agentsByID[a.id] = a
		a.executors = map[execKey]*executor{}
		a.tasks = map[taskKey]*task{}
		a.offers = map[string]*offer{}
		a.crashed, a.unreachable = false, false
		c.log.Info("agent registered", "agent", a.id, "endpoint", a.endpoint())
	} else {
		c.log.Info("agent re-registered", "agent", a.id, "endpoint", a.endpoint(), "was_unreachable", a.unreachable)
	}
	a.srv = srv
	a.running = true
	a.registeredAt = time.Now()
	if a.removalTimer != nil {
		a.removalTimer.Stop()
		a.removalTimer = nil
	}
	wasUnreachable := a.unreachable
	a.unreachable = false
	go srv.Serve(ln)

	// Executors that survived have a while to re-subscribe; then they are
	// destroyed, as a recovering Mesos agent does.
	for _, ex := range a.executors {
		if ex.exited || !ex.subscribed || ex.command {
			continue
		}
		ex := ex
		if ex.registerTimer != nil {
			ex.registerTimer.Stop()
		}
		ex.registerTimer = c.afterFunc(executorReregisterTimeout, func() {
			if ex.stream == nil && !ex.exited && a.running {
				c.log.Warn("executor did not re-subscribe after the agent restarted; destroying it", "executor", ex.id, "agent", a.id)
				ex.reregTimedOut = true
				ex.killProcess()
			}
		})
	}

	for _, t := range a.tasks {
		if t.fw.removed {
			if t.exec != nil {
				c.shutdownExecutor(t.exec)
			}
			continue
		}
		if wasUnreachable && !isTerminal(t.agentState) && t.state != t.agentState {
			var execID *mesos.ExecutorID
			if t.exec != nil {
				execID = &mesos.ExecutorID{Value: t.exec.id}
			}
			st := masterStatus(t.info.TaskID, t.agentState, mesos.REASON_AGENT_REREGISTERED, "Agent re-registered", a.id, execID)
			if t.agentStatus != nil {
				st.Healthy, st.Labels, st.Data = t.agentStatus.Healthy, t.agentStatus.Labels, t.agentStatus.Data
			}
			c.masterUpdate(t, st)
		}
		c.forwardUpdate(t)
	}
	c.allocate()
	return nil
}

// listenRetry listens on addr, retrying briefly: a restarted agent wants
// its old port back.
func listenRetry(addr string) (net.Listener, error) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		ln, err := net.Listen("tcp", addr)
		if err == nil || time.Now().After(deadline) {
			return ln, err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// forgetCrashedAgent ends the tasks of an agent whose host crashed: it
// comes back with a new id and without them.
func (c *Cluster) forgetCrashedAgent(a *agent) {
	for _, t := range a.tasks {
		if t.fw.removed {
			continue
		}
		state := mesos.TASK_LOST
		if t.fw.partitionAware() {
			state = mesos.TASK_GONE
		}
		var execID *mesos.ExecutorID
		if t.exec != nil {
			execID = &mesos.ExecutorID{Value: t.exec.id}
		}
		c.masterUpdate(t, masterStatus(t.info.TaskID, state, mesos.REASON_AGENT_RESTARTED, "Agent "+a.id+" restarted after a host crash", a.id, execID))
		c.forgetTask(t)
	}
	if !a.unreachable {
		c.sendAgentLost(a)
	}
	delete(c.agentsByID, a.id)
}

func (c *Cluster) sendAgentLost(a *agent) {
	for _, fw := range c.frameworks {
		fw.send(&scheduler.Event{Type: scheduler.Event_FAILURE, Failure: &scheduler.Event_Failure{AgentID: &mesos.AgentID{Value: a.id}}})
	}
}

// StopAgent stops agent i: its HTTP server goes away and the master sees it
// disconnect. With killExecutors it is a host crash: its executors and
// their process groups die too. Otherwise executors of checkpointing
// frameworks survive and re-subscribe when the agent starts again.
func (c *Cluster) StopAgent(i int, killExecutors bool) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return fmt.Errorf("stop agent %d: cluster is closed", i)
	}
	if i < 0 || i >= len(c.agents) {
		c.mu.Unlock()
		return fmt.Errorf("stop agent %d: no such agent (have %d)", i, len(c.agents))
	}
	a := c.agents[i]
	if !a.running {
		c.mu.Unlock()
		return fmt.Errorf("stop agent %d: not running", i)
	}
	c.log.Info("agent stopping", "agent", a.id, "kill_executors", killExecutors)
	a.running = false
	srv := a.srv
	a.srv = nil
	var streams []*eventStream
	for _, ex := range a.executors {
		if ex.stream != nil {
			streams = append(streams, ex.stream)
			ex.stream = nil
		}
		if killExecutors || !ex.fw.checkpoint() {
			ex.stopTimers()
			ex.killProcess()
		}
	}
	if killExecutors {
		a.crashed = true
	}
	c.rescindAgentOffers(a)
	for _, t := range a.tasks {
		if t.retryTimer != nil {
			t.retryTimer.Stop()
			t.retryTimer = nil
		}
		if !t.fw.checkpoint() && !t.fw.removed {
			c.masterUpdate(t, masterStatus(t.info.TaskID, mesos.TASK_LOST, mesos.REASON_AGENT_DISCONNECTED, "Agent "+a.id+" disconnected", a.id, execIDPtr(t)))
			c.forgetTask(t)
		}
	}
	a.removalTimer = c.afterFunc(c.cfg.AgentRemovalTimeout, func() { c.markUnreachable(a) })
	c.mu.Unlock()

	for _, s := range streams {
		s.close()
	}
	_ = srv.Close()
	return nil
}

func execIDPtr(t *task) *mesos.ExecutorID {
	if t.exec == nil {
		return nil
	}
	return &mesos.ExecutorID{Value: t.exec.id}
}

// markUnreachable is the master giving up on a disconnected agent.
func (c *Cluster) markUnreachable(a *agent) {
	if a.running || a.unreachable {
		return
	}
	c.log.Info("agent unreachable: marking its tasks", "agent", a.id, "timeout", c.cfg.AgentRemovalTimeout)
	a.unreachable = true
	now := time.Now()
	for _, t := range a.tasks {
		if t.fw.removed || isTerminal(t.state) {
			continue
		}
		state := mesos.TASK_LOST
		if t.fw.partitionAware() {
			state = mesos.TASK_UNREACHABLE
		}
		st := masterStatus(t.info.TaskID, state, mesos.REASON_AGENT_REMOVED, "Agent "+a.id+" is unreachable: health check timed out", a.id, execIDPtr(t))
		st.UnreachableTime = &mesos.TimeInfo{Nanoseconds: now.UnixNano()}
		c.masterUpdate(t, st)
	}
	c.sendAgentLost(a)
}
