package mesoslocal

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	executorpb "github.com/mesos/mesos-go/api/v1/lib/executor"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
)

const (
	// executorReregisterTimeout is how long executors that survived an
	// agent restart have to re-subscribe. Mesos defaults to 2s; this is
	// kinder to loaded test machines.
	executorReregisterTimeout = 5 * time.Second
	defaultShutdownGrace      = 5 * time.Second
	defaultKillGrace          = 3 * time.Second
)

type execKey struct{ fw, id string }

// launchBatch is what one LAUNCH or LAUNCH_GROUP event carries.
type launchBatch struct {
	tasks []*task
	group bool
}

// executor is an executor process on an agent (or the built-in command
// executor of a TaskInfo.command task, which is the task's own process).
type executor struct {
	c           *Cluster
	agent       *agent
	fw          *framework
	fwID        string
	id          string
	info        mesos.ExecutorInfo
	command     bool
	commandTask *task
	containerID string
	dir         string
	res         resources
	createdAt   time.Time

	launching     bool // fetch and start in progress
	started       bool
	exited        bool
	pid           int
	subscribed    bool
	stream        *eventStream
	queued        []launchBatch
	tasks         map[string]*task
	registerTimer *time.Timer
	killTimer     *time.Timer
	shuttingDown  bool
	killRequested bool
	regTimedOut   bool
	reregTimedOut bool
}

func (c *Cluster) newExecutor(fw *framework, a *agent, info mesos.ExecutorInfo, command bool) *executor {
	id := mesos.FrameworkID{Value: fw.id}
	info.FrameworkID = &id
	res, _ := parseResources(info.Resources)
	ex := &executor{
		c: c, agent: a, fw: fw, fwID: fw.id, id: info.ExecutorID.Value, info: info, command: command,
		containerID: newUUID(), res: res, tasks: map[string]*task{}, createdAt: time.Now(),
	}
	ex.dir = filepath.Join(c.workDir, "agents", a.id, "frameworks", fw.id, "executors", ex.id, "runs", ex.containerID)
	a.executors[execKey{fw.id, ex.id}] = ex
	return ex
}

func (ex *executor) liveTasks() []*task {
	var out []*task
	for _, t := range ex.tasks {
		if !isTerminal(t.agentState) {
			out = append(out, t)
		}
	}
	return out
}

func (ex *executor) stopTimers() {
	if ex.registerTimer != nil {
		ex.registerTimer.Stop()
	}
	if ex.killTimer != nil {
		ex.killTimer.Stop()
	}
}

func (ex *executor) shutdownGrace() time.Duration {
	if g := ex.info.ShutdownGracePeriod; g != nil && g.Nanoseconds > 0 {
		return time.Duration(g.Nanoseconds)
	}
	return defaultShutdownGrace
}

// killProcess kills the executor's process group now, or as soon as it
// has started.
func (ex *executor) killProcess() {
	if ex.exited {
		return
	}
	if !ex.started {
		ex.killRequested = true
		return
	}
	killGroup(ex.pid, syscall.SIGKILL)
}

func (ex *executor) unqueue(t *task) {
	for i := range ex.queued {
		b := &ex.queued[i]
		for j, q := range b.tasks {
			if q == t {
				b.tasks = append(b.tasks[:j], b.tasks[j+1:]...)
				break
			}
		}
	}
	kept := ex.queued[:0]
	for _, b := range ex.queued {
		if len(b.tasks) > 0 {
			kept = append(kept, b)
		}
	}
	ex.queued = kept
}

// deliver sends a LAUNCH or LAUNCH_GROUP event to the subscribed executor.
func (ex *executor) deliver(b launchBatch) {
	var live []*task
	for _, t := range b.tasks {
		if !isTerminal(t.agentState) {
			live = append(live, t)
		}
	}
	if len(live) == 0 {
		return
	}
	for _, t := range live {
		t.delivered = true
	}
	if b.group {
		infos := make([]mesos.TaskInfo, len(live))
		for i, t := range live {
			infos[i] = t.info
		}
		ex.stream.send(&executorpb.Event{Type: executorpb.Event_LAUNCH_GROUP, LaunchGroup: &executorpb.Event_LaunchGroup{TaskGroup: mesos.TaskGroupInfo{Tasks: infos}}})
		return
	}
	for _, t := range live {
		ex.stream.send(&executorpb.Event{Type: executorpb.Event_LAUNCH, Launch: &executorpb.Event_Launch{Task: t.info}})
	}
}

func (ex *executor) sendMessage(data []byte) {
	ex.stream.send(&executorpb.Event{Type: executorpb.Event_MESSAGE, Message: &executorpb.Event_Message{Data: data}})
}

func killEvent(id mesos.TaskID, policy *mesos.KillPolicy) *executorpb.Event {
	return &executorpb.Event{Type: executorpb.Event_KILL, Kill: &executorpb.Event_Kill{TaskID: id, KillPolicy: policy}}
}

// environment is what the agent gives the executor process: its own
// environment without Mesos variables, the Mesos variables, then the
// CommandInfo's.
func (ex *executor) environment(cmdInfo *mesos.CommandInfo) []string {
	a := ex.agent
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "MESOS_") || strings.HasPrefix(kv, "LIBPROCESS_") {
			continue
		}
		env = append(env, kv)
	}
	checkpoint := "0"
	if ex.fw.checkpoint() {
		checkpoint = "1"
	}
	env = append(env,
		"MESOS_FRAMEWORK_ID="+ex.fwID,
		"MESOS_EXECUTOR_ID="+ex.id,
		"MESOS_DIRECTORY="+ex.dir,
		"MESOS_SANDBOX="+ex.dir,
		"MESOS_AGENT_ENDPOINT="+a.endpoint(),
		"MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD="+stoutDuration(ex.shutdownGrace()),
		"MESOS_CHECKPOINT="+checkpoint,
		"MESOS_SLAVE_ID="+a.id,
		"MESOS_SLAVE_PID="+a.pid(),
		"MESOS_HTTP_COMMAND_EXECUTOR=0",
		"MESOS_CONTAINER_IP="+a.ip,
	)
	if checkpoint == "1" {
		env = append(env, "MESOS_RECOVERY_TIMEOUT=15mins", "MESOS_SUBSCRIPTION_BACKOFF_MAX=2secs")
	}
	if ex.command {
		env = append(env, "MESOS_TASK_ID="+ex.id)
	}
	if cmdInfo != nil && cmdInfo.Environment != nil {
		for _, v := range cmdInfo.Environment.Variables {
			env = append(env, v.Name+"="+v.GetValue())
		}
	}
	return env
}

// startExecutor fetches the executor's URIs and starts its process in the
// background. Caller holds c.mu.
func (c *Cluster) startExecutor(ex *executor) {
	ex.launching = true
	cmdInfo := ex.info.Command
	env := ex.environment(cmdInfo)
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		cmd, err := c.spawn(ex, cmdInfo, env)
		c.mu.Lock()
		ex.launching = false
		if err != nil {
			c.executorLaunchFailed(ex, err)
			c.mu.Unlock()
			return
		}
		ex.started = true
		ex.pid = cmd.Process.Pid
		if ex.killRequested || c.closed || ex.shuttingDown {
			killGroup(ex.pid, syscall.SIGKILL)
		} else if ex.command {
			t := ex.commandTask
			t.delivered = true
			ex.queued = nil
			c.statusUpdate(t, agentStatus(t, mesos.TASK_RUNNING, mesos.SOURCE_EXECUTOR, nil, ""))
		} else if !ex.subscribed {
			ex.registerTimer = c.afterFunc(c.cfg.ExecutorRegisterTimeout, func() {
				if !ex.subscribed && !ex.exited {
					c.log.Warn("executor did not subscribe in time; destroying it", "executor", ex.id, "timeout", c.cfg.ExecutorRegisterTimeout)
					ex.regTimedOut = true
					ex.killProcess()
				}
			})
		}
		c.log.Info("executor started", "executor", ex.id, "framework", ex.fwID, "agent", ex.agent.id, "pid", ex.pid, "dir", ex.dir)
		c.mu.Unlock()

		err = cmd.Wait()
		// The executor is gone; kill what it left in its process group.
		killGroup(cmd.Process.Pid, syscall.SIGKILL)
		c.mu.Lock()
		defer c.mu.Unlock()
		ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
		c.executorExited(ex, ws, err)
	}()
}

// spawn prepares the sandbox, fetches the URIs and starts the process.
func (c *Cluster) spawn(ex *executor, cmdInfo *mesos.CommandInfo, env []string) (*exec.Cmd, error) {
	if cmdInfo == nil || cmdInfo.GetValue() == "" {
		return nil, errors.New("executor has no command to run")
	}
	if err := os.MkdirAll(ex.dir, 0o755); err != nil {
		return nil, fmt.Errorf("create sandbox %s: %w", ex.dir, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	for _, u := range cmdInfo.URIs {
		if err := fetchURI(ctx, u, ex.dir); err != nil {
			return nil, fmt.Errorf("fetch %s: %w", u.Value, err)
		}
	}
	var cmd *exec.Cmd
	if cmdInfo.Shell == nil || *cmdInfo.Shell {
		cmd = exec.Command("/bin/sh", "-c", cmdInfo.GetValue())
	} else {
		path := cmdInfo.GetValue()
		if !strings.Contains(path, "/") {
			if p, err := exec.LookPath(path); err == nil {
				path = p
			}
		} else if !filepath.IsAbs(path) {
			path = filepath.Join(ex.dir, path)
		}
		args := cmdInfo.Arguments
		if len(args) == 0 {
			args = []string{cmdInfo.GetValue()}
		}
		cmd = &exec.Cmd{Path: path, Args: args}
	}
	cmd.Dir = ex.dir
	cmd.Env = env
	stdout, err := os.OpenFile(filepath.Join(ex.dir, "stdout"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open stdout: %w", err)
	}
	defer stdout.Close()
	stderr, err := os.OpenFile(filepath.Join(ex.dir, "stderr"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open stderr: %w", err)
	}
	defer stderr.Close()
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %q: %w", cmdInfo.GetValue(), err)
	}
	return cmd, nil
}

// executorLaunchFailed fails the tasks of an executor that could not start.
func (c *Cluster) executorLaunchFailed(ex *executor, err error) {
	c.log.Warn("executor launch failed", "executor", ex.id, "framework", ex.fwID, "err", err)
	ex.exited = true
	ex.stopTimers()
	if cur := ex.agent.executors[execKey{ex.fwID, ex.id}]; cur == ex {
		delete(ex.agent.executors, execKey{ex.fwID, ex.id})
	}
	if ex.agent.crashed || ex.fw.removed {
		return
	}
	reason := mesos.REASON_CONTAINER_LAUNCH_FAILED
	for _, t := range ex.liveTasks() {
		c.statusUpdate(t, agentStatus(t, mesos.TASK_FAILED, mesos.SOURCE_AGENT, &reason, "Failed to launch container: "+err.Error()))
	}
	c.allocate()
}

// executorExited handles the end of an executor process: its live tasks
// fail and the framework gets a FAILURE event.
func (c *Cluster) executorExited(ex *executor, ws syscall.WaitStatus, waitErr error) {
	ex.exited = true
	ex.stopTimers()
	if ex.stream != nil {
		ex.stream.close()
		ex.stream = nil
	}
	key := execKey{ex.fwID, ex.id}
	if cur := ex.agent.executors[key]; cur == ex {
		delete(ex.agent.executors, key)
	}
	c.log.Info("executor exited", "executor", ex.id, "framework", ex.fwID, "agent", ex.agent.id, "status", describeWait(ws))
	if ex.agent.crashed || ex.fw.removed || c.closed {
		return
	}
	for _, t := range ex.liveTasks() {
		var st mesos.TaskStatus
		switch {
		case ex.command && t.killed:
			st = agentStatus(t, mesos.TASK_KILLED, mesos.SOURCE_EXECUTOR, nil, "Command terminated with "+describeWait(ws))
		case ex.command && ws.Exited() && ws.ExitStatus() == 0:
			st = agentStatus(t, mesos.TASK_FINISHED, mesos.SOURCE_EXECUTOR, nil, "Command exited with status 0")
		case ex.command:
			st = agentStatus(t, mesos.TASK_FAILED, mesos.SOURCE_EXECUTOR, nil, "Command "+describeWait(ws))
		case ex.reregTimedOut:
			reason := mesos.REASON_EXECUTOR_REREGISTRATION_TIMEOUT
			st = agentStatus(t, mesos.TASK_FAILED, mesos.SOURCE_AGENT, &reason,
				fmt.Sprintf("Executor did not re-subscribe within %s of the agent restarting", executorReregisterTimeout))
		case ex.regTimedOut:
			reason := mesos.REASON_EXECUTOR_REGISTRATION_TIMEOUT
			st = agentStatus(t, mesos.TASK_FAILED, mesos.SOURCE_AGENT, &reason,
				fmt.Sprintf("Executor did not register within %s", c.cfg.ExecutorRegisterTimeout))
		default:
			reason := mesos.REASON_EXECUTOR_TERMINATED
			st = agentStatus(t, mesos.TASK_FAILED, mesos.SOURCE_AGENT, &reason, "Executor terminated: "+describeWait(ws))
		}
		c.statusUpdate(t, st)
	}
	if ex.agent.active() {
		status := int32(ws)
		ex.fw.send(&scheduler.Event{Type: scheduler.Event_FAILURE, Failure: &scheduler.Event_Failure{
			AgentID: &mesos.AgentID{Value: ex.agent.id}, ExecutorID: &mesos.ExecutorID{Value: ex.id}, Status: &status,
		}})
	}
	c.allocate()
}

func describeWait(ws syscall.WaitStatus) string {
	switch {
	case ws.Exited():
		return fmt.Sprintf("exited with status %d", ws.ExitStatus())
	case ws.Signaled():
		return fmt.Sprintf("terminated by signal %s", ws.Signal())
	}
	return fmt.Sprintf("wait status %d", int(ws))
}

// shutdownExecutor asks an executor to shut down and destroys it after
// its grace period. Caller holds c.mu.
func (c *Cluster) shutdownExecutor(ex *executor) {
	if ex.exited || ex.shuttingDown {
		return
	}
	ex.shuttingDown = true
	if !ex.started {
		ex.killRequested = true
		return
	}
	grace := ex.shutdownGrace()
	switch {
	case ex.command:
		killGroup(ex.pid, syscall.SIGTERM)
	case ex.stream != nil:
		ex.stream.send(&executorpb.Event{Type: executorpb.Event_SHUTDOWN})
	default:
		ex.killProcess()
		return
	}
	ex.killTimer = c.afterFunc(grace, ex.killProcess)
}

// killCommandTask kills a command task's process: SIGTERM, then SIGKILL
// after the kill policy's grace period.
func (c *Cluster) killCommandTask(t *task, policy *mesos.KillPolicy) {
	ex := t.exec
	t.killed = true
	if !ex.started {
		ex.killRequested = true
		return
	}
	grace := defaultKillGrace
	if policy != nil && policy.GracePeriod != nil {
		grace = time.Duration(policy.GracePeriod.Nanoseconds)
	}
	if t.fw.hasCapability(mesos.FrameworkInfo_Capability_TASK_KILLING_STATE) && t.agentState != mesos.TASK_KILLING {
		c.statusUpdate(t, agentStatus(t, mesos.TASK_KILLING, mesos.SOURCE_EXECUTOR, nil, "Command is being killed"))
	}
	killGroup(ex.pid, syscall.SIGTERM)
	if ex.killTimer != nil {
		ex.killTimer.Stop()
	}
	ex.killTimer = c.afterFunc(grace, ex.killProcess)
}
