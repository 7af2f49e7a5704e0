package executor

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"path/filepath"
	"regexp"
	"sync"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/encoding/codecs"
	"github.com/mesos/mesos-go/api/v1/lib/executor"
	"github.com/mesos/mesos-go/api/v1/lib/executor/calls"
	"github.com/mesos/mesos-go/api/v1/lib/executor/config"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli/httpexec"

	"github.com/mrredis/mrredis/internal/execproto"
)

// Run runs the executor with the MESOS_* environment the agent gave this
// process until the agent shuts it down (nil) or ctx ends (members are
// stopped gracefully first).
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	env, err := config.FromEnv()
	if err != nil {
		return fmt.Errorf("read the Mesos executor environment: %w", err)
	}
	e, err := New(cfg, env, log)
	if err != nil {
		return err
	}
	return e.Run(ctx)
}

// Executor is one Mesos executor: one agent connection, any number of
// tasks, each a redis-server Member. All its state is owned by the Run
// goroutine; other goroutines hand results back through post.
type Executor struct {
	cfg   Config
	env   config.Config
	log   *slog.Logger
	bind  string
	cli   calls.Sender // UPDATE and MESSAGE calls
	sub   calls.Sender // SUBSCRIBE, on a connection of its own
	inbox chan func()

	// Owned by the Run goroutine.
	agent        mesos.AgentInfo
	connected    bool
	tasks        map[string]*task
	unackedTasks map[string]mesos.TaskInfo
	updates      updateQueue
	statsBusy    bool
	shuttingDown bool
	workers      sync.WaitGroup
}

// task is one launched task and its member.
type task struct {
	info       mesos.TaskInfo
	member     *Member // nil when the task failed before starting
	running    bool    // TASK_RUNNING sent
	killing    bool    // KILL or SHUTDOWN asked for its end
	failReason string  // why the executor ended it (not ready in time)
	terminal   bool    // a terminal update was made
	stopReady  context.CancelFunc
	cmds       chan execproto.Command // to the member's command worker
}

// New builds an executor from its config and the agent's environment.
func New(cfg Config, env config.Config, log *slog.Logger) (*Executor, error) {
	if log == nil {
		log = slog.Default()
	}
	bind := cfg.Bind
	if bind == "" {
		host, _, err := net.SplitHostPort(env.AgentEndpoint)
		if err != nil {
			return nil, fmt.Errorf("agent endpoint %q: %w", env.AgentEndpoint, err)
		}
		bind = host
	}
	if net.ParseIP(bind) == nil {
		ips, err := net.LookupIP(bind)
		if err != nil || len(ips) == 0 {
			return nil, fmt.Errorf("bind address %q is neither an IP address nor a resolvable host: %v", bind, err)
		}
		bind = ips[0].String()
	}
	codec := codecs.ByMediaType[codecs.MediaTypeProtobuf]
	if cfg.Codec == "json" {
		codec = codecs.ByMediaType[codecs.MediaTypeJSON]
	}
	api := url.URL{Scheme: "http", Host: env.AgentEndpoint, Path: "/api/v1/executor"}
	http := httpcli.New(
		httpcli.Endpoint(api.String()),
		httpcli.Codec(codec),
		httpcli.Do(httpcli.With(httpcli.Timeout(callTimeout))),
	)
	opts := executor.CallOptions{calls.Framework(env.FrameworkID), calls.Executor(env.ExecutorID)}
	return &Executor{
		cfg:          cfg,
		env:          env,
		log:          log.With("executor", env.ExecutorID),
		bind:         bind,
		cli:          calls.SenderWith(httpexec.NewSender(http.Send), opts...),
		sub:          calls.SenderWith(httpexec.NewSender(http.Send, httpcli.Close(true)), opts...),
		inbox:        make(chan func(), 64),
		tasks:        make(map[string]*task),
		unackedTasks: make(map[string]mesos.TaskInfo),
	}, nil
}

// stream is one SUBSCRIBE connection's events.
type stream struct {
	events chan executor.Event
	done   chan error
	cancel context.CancelFunc
}

// Run is the event loop; see the package Run.
func (e *Executor) Run(parent context.Context) error {
	// Workers post results back until ctx ends: cancel it before waiting
	// for them, so none is left blocked on a loop that has returned.
	ctx, cancel := context.WithCancel(parent)
	defer e.workers.Wait()
	defer cancel()
	stats := time.NewTicker(e.cfg.StatsInterval)
	defer stats.Stop()

	var (
		cur          = e.subscribe(ctx)
		retry        <-chan time.Time
		backoff      = 100 * time.Millisecond
		lostAt       time.Time
		shutdownDone <-chan time.Time
		idleSince    time.Time
	)
	defer func() {
		if cur != nil {
			cur.cancel()
		}
	}()
	for {
		var events <-chan executor.Event
		var done <-chan error
		if cur != nil {
			events, done = cur.events, cur.done
		}
		select {
		case <-ctx.Done():
			e.log.Info("stopping: signal received; stopping members")
			e.stopAll(e.cfg.KillGrace)
			return nil

		case ev := <-events:
			if ev.Type == executor.Event_SUBSCRIBED {
				backoff, lostAt = 100*time.Millisecond, time.Time{}
			}
			if ev.Type == executor.Event_SHUTDOWN && shutdownDone == nil {
				shutdownDone = time.After(e.shutdownGrace())
			}
			if err := e.handle(ctx, ev); err != nil {
				e.log.Warn("agent stream: dropping connection", "err", err)
				cur.cancel()
			}

		case err := <-done:
			cur.cancel()
			cur = nil
			e.connected = false
			e.updates.disconnected()
			if e.shuttingDown {
				return nil
			}
			if lostAt.IsZero() {
				lostAt = time.Now()
			}
			if time.Since(lostAt) > e.recoveryTimeout() {
				e.log.Error("agent lost for good: stopping members", "since", lostAt, "err", err)
				e.stopAll(e.cfg.KillGrace)
				return fmt.Errorf("agent at %s unreachable for %s: %w", e.env.AgentEndpoint, e.recoveryTimeout(), err)
			}
			e.log.Warn("agent connection lost: re-subscribing", "err", err, "retry_in", backoff)
			retry = time.After(backoff)
			backoff = min(backoff*2, e.backoffMax())

		case <-retry:
			retry = nil
			cur = e.subscribe(ctx)

		case f := <-e.inbox:
			f()

		case <-stats.C:
			if e.connected {
				if err := e.updates.flush(ctx, e.cli); err != nil {
					e.log.Warn("resend status updates", "err", err)
				}
			}
			e.sendStats(ctx)
			if e.cfg.IdleTimeout > 0 && !idleSince.IsZero() && time.Since(idleSince) >= e.cfg.IdleTimeout {
				e.log.Info("no live tasks: exiting", "idle_for", time.Since(idleSince).Round(time.Millisecond))
				return nil
			}

		case <-shutdownDone:
			e.log.Warn("shutdown grace period over: exiting with updates unacknowledged")
			return nil
		}
		if e.shuttingDown && e.allDone() {
			e.log.Info("shutdown complete")
			return nil
		}
		switch idle := e.connected && e.allDone(); {
		case idle && idleSince.IsZero():
			idleSince = time.Now()
		case !idle:
			idleSince = time.Time{}
		}
	}
}

// subscribe starts a SUBSCRIBE carrying the unacknowledged tasks and
// updates, and a goroutine feeding its events to the loop.
func (e *Executor) subscribe(ctx context.Context) *stream {
	sctx, cancel := context.WithCancel(ctx)
	s := &stream{events: make(chan executor.Event), done: make(chan error, 1), cancel: cancel}
	tasks := make([]mesos.TaskInfo, 0, len(e.unackedTasks))
	for _, t := range e.unackedTasks {
		tasks = append(tasks, t)
	}
	call := calls.Subscribe(tasks, e.updates.forSubscribe())
	e.log.Info("subscribing to agent", "endpoint", e.env.AgentEndpoint, "unacked_tasks", len(tasks), "unacked_updates", len(call.Subscribe.UnacknowledgedUpdates))
	e.workers.Add(1)
	go func() {
		defer e.workers.Done()
		resp, err := e.sub.Send(sctx, calls.NonStreaming(call))
		if err != nil {
			s.done <- fmt.Errorf("subscribe: %w", err)
			return
		}
		defer resp.Close()
		for {
			var ev executor.Event
			if err := resp.Decode(&ev); err != nil {
				s.done <- fmt.Errorf("read agent events: %w", err)
				return
			}
			select {
			case s.events <- ev:
			case <-sctx.Done():
				s.done <- sctx.Err()
				return
			}
		}
	}()
	return s
}

// post hands f to the loop goroutine.
func (e *Executor) post(ctx context.Context, f func()) {
	select {
	case e.inbox <- f:
	case <-ctx.Done():
	}
}

// goWork runs f on a goroutine that Run waits for.
func (e *Executor) goWork(f func()) {
	e.workers.Add(1)
	go func() {
		defer e.workers.Done()
		f()
	}()
}

func (e *Executor) recoveryTimeout() time.Duration {
	if e.env.Checkpoint && e.env.RecoveryTimeout > 0 {
		return e.env.RecoveryTimeout
	}
	return e.cfg.RecoveryTimeout
}

func (e *Executor) backoffMax() time.Duration {
	if e.env.SubscriptionBackoffMax > 0 {
		return e.env.SubscriptionBackoffMax
	}
	return 2 * time.Second
}

// shutdownGrace is how long a SHUTDOWN may take before the agent destroys
// this executor; members get half of it to stop gracefully.
func (e *Executor) shutdownGrace() time.Duration {
	if g := e.env.ExecutorShutdownGracePeriod; g > 0 {
		return g
	}
	return 5 * time.Second
}

// handle applies one agent event. An error drops the connection.
func (e *Executor) handle(ctx context.Context, ev executor.Event) error {
	switch ev.Type {
	case executor.Event_SUBSCRIBED:
		sub := ev.GetSubscribed()
		e.agent = sub.AgentInfo
		e.connected = true
		e.updates.subscribed()
		e.log.Info("subscribed", "agent", e.agent.GetID().GetValue(), "hostname", e.agent.Hostname, "bind", e.bind)
		if err := e.updates.flush(ctx, e.cli); err != nil {
			e.log.Warn("send status updates", "err", err)
		}
	case executor.Event_LAUNCH:
		e.launch(ctx, ev.GetLaunch().Task)
	case executor.Event_LAUNCH_GROUP:
		for _, t := range ev.GetLaunchGroup().TaskGroup.Tasks {
			e.launch(ctx, t)
		}
	case executor.Event_KILL:
		k := ev.GetKill()
		e.kill(ctx, k.TaskID.Value, k.KillPolicy)
	case executor.Event_ACKNOWLEDGED:
		a := ev.GetAcknowledged()
		delete(e.unackedTasks, a.TaskID.Value)
		if _, ok := e.updates.ack(a.UUID); ok {
			e.forget(a.TaskID.Value)
		}
	case executor.Event_MESSAGE:
		e.command(ctx, ev.GetMessage().Data)
	case executor.Event_SHUTDOWN:
		e.log.Info("shutdown requested by the agent")
		e.shuttingDown = true
		grace := min(e.cfg.KillGrace, e.shutdownGrace()/2)
		for id := range e.tasks {
			e.kill(ctx, id, &mesos.KillPolicy{GracePeriod: &mesos.DurationInfo{Nanoseconds: int64(grace)}})
		}
	case executor.Event_ERROR:
		return fmt.Errorf("agent error: %s", ev.GetError().Message)
	case executor.Event_HEARTBEAT:
	default:
		e.log.Warn("ignoring unknown agent event", "type", ev.Type.String())
	}
	return nil
}

// update records a status update and sends it when connected; unsent and
// unacknowledged updates are kept for retries and the next SUBSCRIBE.
func (e *Executor) update(ctx context.Context, t *task, state mesos.TaskState, msg string, data []byte, reason *mesos.TaskStatus_Reason) {
	st := newStatus(t.info.TaskID, mesos.ExecutorID{Value: e.env.ExecutorID}, state, msg, data)
	st.Reason = reason
	if isTerminal(state) {
		t.terminal = true
	}
	e.updates.add(executor.Call_Update{Status: st})
	e.log.Info("task status", "task", t.info.TaskID.Value, "state", state.String(), "message", msg)
	if e.connected {
		if err := e.updates.flush(ctx, e.cli); err != nil {
			e.log.Warn("send status update (will retry)", "task", t.info.TaskID.Value, "err", err)
		}
	}
}

// forget drops a finished task once the agent has all its updates.
func (e *Executor) forget(id string) {
	if t, ok := e.tasks[id]; ok && t.terminal && !e.updates.pendingFor(id) {
		delete(e.tasks, id)
	}
}

// allDone: every task ended and every update acknowledged.
func (e *Executor) allDone() bool {
	for _, t := range e.tasks {
		if !t.terminal {
			return false
		}
	}
	return len(e.updates.list) == 0
}

var unsafePath = regexp.MustCompile(`[^A-Za-z0-9._-]`)

// memberDir is the member's directory in the sandbox: one per task.
func (e *Executor) memberDir(taskID string) string {
	name := unsafePath.ReplaceAllString(taskID, "_")
	if name == "." || name == ".." {
		name = "_" + name
	}
	return filepath.Join(e.env.Sandbox, name)
}

// launch starts one task's member: TASK_FAILED at once for bad task data,
// TASK_STARTING when redis-server runs, TASK_RUNNING once it serves.
func (e *Executor) launch(ctx context.Context, ti mesos.TaskInfo) {
	id := ti.TaskID.Value
	if _, dup := e.tasks[id]; dup {
		e.log.Warn("ignoring second launch of a known task", "task", id)
		return
	}
	t := &task{info: ti}
	e.tasks[id] = t
	e.unackedTasks[id] = ti
	invalid := mesos.REASON_TASK_INVALID.Enum()

	var data execproto.TaskData
	if err := json.Unmarshal(ti.Data, &data); err != nil {
		e.update(ctx, t, mesos.TASK_FAILED, fmt.Sprintf("task data is not valid JSON: %v", err), nil, invalid)
		return
	}
	mc := MemberConfig{
		TaskID:          id,
		Data:            data,
		Dir:             e.memberDir(id),
		Bind:            e.bind,
		RedisServer:     e.cfg.RedisServer,
		MaxMemoryPolicy: e.cfg.MaxMemoryPolicy,
	}
	if err := mc.Validate(); err != nil {
		e.update(ctx, t, mesos.TASK_FAILED, err.Error(), nil, invalid)
		return
	}
	m, err := StartMember(mc)
	if err != nil {
		e.update(ctx, t, mesos.TASK_FAILED, err.Error(), nil, mesos.REASON_CONTAINER_LAUNCH_FAILED.Enum())
		return
	}
	t.member = m
	e.log.Info("redis-server started", "task", id, "pid", m.PID(), "addr", m.Addr(), "role", data.Role, "dir", mc.Dir)
	e.update(ctx, t, mesos.TASK_STARTING, "redis-server started on "+m.Addr(), nil, nil)

	t.cmds = make(chan execproto.Command, maxQueuedCommands)
	e.goWork(func() { e.runCommands(ctx, m, t.cmds) })

	readyCtx, cancel := context.WithTimeout(ctx, e.cfg.ReadyTimeout)
	t.stopReady = cancel
	e.goWork(func() {
		defer cancel()
		r, err := m.WaitReady(readyCtx)
		e.post(ctx, func() { e.ready(ctx, t, r, err) })
	})
	e.goWork(func() {
		select {
		case <-m.Exited():
			e.post(ctx, func() { e.exited(ctx, t) })
		case <-ctx.Done():
		}
	})
}

// ready reports TASK_RUNNING, or ends a member that did not become ready.
func (e *Executor) ready(ctx context.Context, t *task, r Ready, err error) {
	if t.terminal || t.killing {
		return
	}
	if err != nil {
		select {
		case <-t.member.Exited():
			return // exited reports it
		default:
		}
		t.failReason = fmt.Sprintf("redis-server did not become ready within %s: %v", e.cfg.ReadyTimeout, err)
		m := t.member
		e.goWork(func() { m.Kill() })
		return
	}
	sd := execproto.StatusData{Host: e.agent.Hostname, Port: t.member.Config().Data.Port, RunID: r.RunID, Role: r.Role}
	if sd.Host == "" {
		sd.Host = e.bind
	}
	b, _ := json.Marshal(sd)
	t.running = true
	e.update(ctx, t, mesos.TASK_RUNNING, fmt.Sprintf("redis-server serves on %s as %s", t.member.Addr(), r.Role), b, nil)
}

// exited reports the end of a member: TASK_KILLED when asked for,
// TASK_FAILED otherwise.
func (e *Executor) exited(ctx context.Context, t *task) {
	if t.terminal {
		return
	}
	if t.stopReady != nil {
		t.stopReady()
	}
	info := t.member.ExitInfo()
	switch {
	case t.killing:
		e.update(ctx, t, mesos.TASK_KILLED, "redis-server stopped: "+info.Status, nil, nil)
	case t.failReason != "":
		e.update(ctx, t, mesos.TASK_FAILED, t.failReason+"; "+info.String(), nil, nil)
	default:
		e.update(ctx, t, mesos.TASK_FAILED, info.String(), nil, mesos.REASON_COMMAND_EXECUTOR_FAILED.Enum())
	}
}

// kill stops a task's member within its kill policy's grace period.
func (e *Executor) kill(ctx context.Context, id string, policy *mesos.KillPolicy) {
	t, ok := e.tasks[id]
	if !ok {
		// The agent only forwards kills of tasks it gave us; answer anyway
		// so the scheduler is not left waiting.
		t = &task{info: mesos.TaskInfo{TaskID: mesos.TaskID{Value: id}}}
		e.tasks[id] = t
		e.update(ctx, t, mesos.TASK_KILLED, "task unknown to this executor", nil, nil)
		return
	}
	if t.terminal {
		return
	}
	if t.member == nil {
		e.update(ctx, t, mesos.TASK_KILLED, "killed before redis-server started", nil, nil)
		return
	}
	grace := e.cfg.KillGrace
	if p := t.info.KillPolicy; p != nil && p.GracePeriod != nil {
		grace = time.Duration(p.GracePeriod.Nanoseconds)
	}
	if policy != nil && policy.GracePeriod != nil {
		grace = time.Duration(policy.GracePeriod.Nanoseconds)
	}
	t.killing = true
	if t.stopReady != nil {
		t.stopReady()
	}
	m := t.member
	e.log.Info("stopping redis-server", "task", id, "grace", grace)
	e.goWork(func() { m.Stop(grace) })
}

// stopAll stops every member in parallel and waits for them.
func (e *Executor) stopAll(grace time.Duration) {
	var wg sync.WaitGroup
	for _, t := range e.tasks {
		if t.member == nil {
			continue
		}
		wg.Add(1)
		go func(m *Member) {
			defer wg.Done()
			m.Stop(grace)
		}(t.member)
	}
	wg.Wait()
}

// sendStats samples every live member off the loop and sends one stats
// message; a sample still in flight skips this tick.
func (e *Executor) sendStats(ctx context.Context) {
	if !e.connected || e.statsBusy {
		return
	}
	var members []*Member
	for _, t := range e.tasks {
		if t.member != nil && !t.terminal {
			members = append(members, t.member)
		}
	}
	if len(members) == 0 {
		return
	}
	e.statsBusy = true
	e.goWork(func() {
		defer e.post(ctx, func() { e.statsBusy = false })
		msg := execproto.ExecutorMessage{Kind: execproto.KindStats}
		for _, m := range members {
			s, err := m.Stats()
			if err != nil {
				continue // not serving (yet, or any more): its status says why
			}
			msg.Stats = append(msg.Stats, s)
		}
		if len(msg.Stats) == 0 {
			return
		}
		if err := e.message(ctx, msg); err != nil {
			e.log.Debug("send stats", "err", err)
		}
	})
}

func (e *Executor) message(ctx context.Context, msg execproto.ExecutorMessage) error {
	b, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	return sendCall(ctx, e.cli, calls.Message(b))
}

// command carries out a scheduler command and replies. Bad input gets an
// error reply (when it names an id) and a log line, never a crash.
func (e *Executor) command(ctx context.Context, data []byte) {
	c, err := execproto.DecodeCommand(data)
	if err != nil {
		var partial struct {
			ID     string `json:"id"`
			TaskID string `json:"task_id"`
			Op     string `json:"op"`
		}
		_ = json.Unmarshal(data, &partial)
		e.log.Warn("bad command from the scheduler", "err", err, "id", partial.ID, "bytes", len(data))
		if partial.ID != "" {
			e.reply(ctx, execproto.Reply{ID: partial.ID, TaskID: partial.TaskID, Op: partial.Op, Error: err.Error()})
		}
		return
	}
	r := execproto.Reply{ID: c.ID, TaskID: c.TaskID, Op: c.Op}
	t, ok := e.tasks[c.TaskID]
	switch {
	case !ok:
		r.Error = fmt.Sprintf("task %s is not running on this executor", c.TaskID)
	case t.member == nil || t.terminal:
		r.Error = fmt.Sprintf("task %s has ended", c.TaskID)
	case t.killing:
		r.Error = fmt.Sprintf("task %s is being killed", c.TaskID)
	}
	if r.Error != "" {
		e.log.Warn("command refused", "id", c.ID, "op", c.Op, "task", c.TaskID, "err", r.Error)
		e.reply(ctx, r)
		return
	}
	select {
	case t.cmds <- c:
		e.log.Info("command", "id", c.ID, "op", c.Op, "task", c.TaskID)
	default:
		r.Error = fmt.Sprintf("task %s has %d commands queued: try again later", c.TaskID, cap(t.cmds))
		e.log.Warn("command refused", "id", c.ID, "op", c.Op, "task", c.TaskID, "err", r.Error)
		e.reply(ctx, r)
	}
}

// maxQueuedCommands bounds the commands waiting for one member.
const maxQueuedCommands = 32

// runCommands carries out a member's commands one at a time, in the order
// they came, so that promote/follow sequences cannot overtake each other.
// Commands still queued when the member ends get an error reply.
func (e *Executor) runCommands(ctx context.Context, m *Member, cmds <-chan execproto.Command) {
	for {
		select {
		case c := <-cmds:
			e.runCommand(ctx, m, c)
		case <-m.Exited():
			for {
				select {
				case c := <-cmds:
					e.replyNow(ctx, execproto.Reply{ID: c.ID, TaskID: c.TaskID, Op: c.Op, Error: fmt.Sprintf("task %s has ended", c.TaskID)})
				default:
					return
				}
			}
		case <-ctx.Done():
			return
		}
	}
}

func (e *Executor) runCommand(ctx context.Context, m *Member, c execproto.Command) {
	r := execproto.Reply{ID: c.ID, TaskID: c.TaskID, Op: c.Op}
	var err error
	switch c.Op {
	case execproto.OpPromote:
		r.ReplOffset, err = m.Promote()
	case execproto.OpFollow:
		r.ReplOffset, err = m.Follow(c.MasterHost, c.MasterPort)
	case execproto.OpSetMaxMemory:
		r.ReplOffset, err = m.SetMaxMemory(c.MaxMemoryMB)
	case execproto.OpFailoverTo:
		timeout := time.Duration(c.TimeoutMS) * time.Millisecond
		if timeout <= 0 {
			timeout = 5 * time.Second
		}
		r.ReplOffset, err = m.FailoverTo(c.MasterHost, c.MasterPort, timeout)
	default:
		err = fmt.Errorf("unknown op %q", c.Op)
	}
	r.OK = err == nil
	if err != nil {
		r.Error = err.Error()
		e.log.Warn("command failed", "id", c.ID, "op", c.Op, "task", c.TaskID, "err", err)
	}
	e.replyNow(ctx, r)
}

// reply sends r off the loop.
func (e *Executor) reply(ctx context.Context, r execproto.Reply) {
	e.goWork(func() { e.replyNow(ctx, r) })
}

func (e *Executor) replyNow(ctx context.Context, r execproto.Reply) {
	if err := e.message(ctx, execproto.ExecutorMessage{Kind: execproto.KindReply, Reply: &r}); err != nil {
		e.log.Warn("send command reply", "id", r.ID, "err", err)
	}
}

// isTerminal: no update may follow one in these states.
func isTerminal(s mesos.TaskState) bool {
	switch s {
	case mesos.TASK_FINISHED, mesos.TASK_FAILED, mesos.TASK_KILLED, mesos.TASK_ERROR,
		mesos.TASK_LOST, mesos.TASK_DROPPED, mesos.TASK_GONE, mesos.TASK_GONE_BY_OPERATOR:
		return true
	}
	return false
}
