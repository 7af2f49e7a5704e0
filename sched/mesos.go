package sched

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/backoff"
	"github.com/mesos/mesos-go/api/v1/lib/encoding"
	"github.com/mesos/mesos-go/api/v1/lib/encoding/codecs"
	"github.com/mesos/mesos-go/api/v1/lib/extras/scheduler/controller"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli/httpsched"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/events"

	"github.com/mrredis/mrredis/internal/execproto"
)

// missedHeartbeats is how many heartbeat intervals of silence make the
// scheduler drop the subscription and subscribe again (mesos-go has no
// watchdog of its own).
const missedHeartbeats = 5

// mesosConn is the Mesos side of a leader: the mesos-go httpsched caller,
// the controller loop that (re)subscribes with backoff, a heartbeat
// watchdog, and translation between Mesos types and the core's.
type mesosConn struct {
	s         *Scheduler
	caller    calls.Caller
	fid       atomic.Value // string: current framework id
	heartbeat atomic.Int64 // nanoseconds between heartbeats, from SUBSCRIBED
	connected atomic.Bool
}

func newMesosConn(s *Scheduler, masterURLs []string, frameworkID string) *mesosConn {
	mc := &mesosConn{s: s}
	mc.fid.Store(frameworkID)
	mc.heartbeat.Store(int64(15 * time.Second))
	endpoint := func(u string) string { return strings.TrimRight(u, "/") + "/api/v1/scheduler" }
	cli := httpcli.New(
		httpcli.Endpoint(endpoint(masterURLs[0])),
		httpcli.Codec(codecs.ByMediaType[codecs.MediaTypeProtobuf]),
		httpcli.Do(httpcli.With(httpcli.Timeout(10*time.Second))),
	)
	var opts []httpsched.Option
	if len(masterURLs) > 1 {
		var mu sync.Mutex
		next := 0
		opts = append(opts, httpsched.EndpointCandidates(func() string {
			mu.Lock()
			defer mu.Unlock()
			next = (next + 1) % len(masterURLs)
			return endpoint(masterURLs[next])
		}))
	}
	mc.caller = &watchdogCaller{Caller: httpsched.NewCaller(cli, opts...), interval: &mc.heartbeat, frameworkID: mc.frameworkID}
	return mc
}

func (mc *mesosConn) frameworkID() string { v, _ := mc.fid.Load().(string); return v }

func (mc *mesosConn) frameworkInfo() *mesos.FrameworkInfo {
	cfg := mc.s.cfg
	timeout := cfg.FailoverTimeout.Seconds()
	checkpoint := true
	fi := &mesos.FrameworkInfo{
		User:            cfg.User,
		Name:            cfg.FrameworkName,
		FailoverTimeout: &timeout,
		Checkpoint:      &checkpoint,
		Capabilities: []mesos.FrameworkInfo_Capability{
			{Type: mesos.FrameworkInfo_Capability_PARTITION_AWARE},
		},
	}
	if cfg.Role != "" {
		role := cfg.Role
		fi.Role = &role
	}
	if cfg.Principal != "" {
		p := cfg.Principal
		fi.Principal = &p
	}
	if u := mc.s.advertiseURL(); u != "" {
		fi.WebUiURL = &u
	}
	if id := mc.frameworkID(); id != "" {
		fi.ID = &mesos.FrameworkID{Value: id}
	}
	return fi
}

// run subscribes and re-subscribes until ctx ends.
func (mc *mesosConn) run(ctx context.Context, l *leaderLoop) error {
	log := mc.s.log
	handler := events.HandlerFunc(func(ctx context.Context, e *scheduler.Event) error {
		return mc.handle(ctx, l, e)
	})
	for ctx.Err() == nil {
		// FrameworkInfo carries the id: build it per run of the controller,
		// and start a new run when Mesos forgot the framework.
		runCtx, cancel := context.WithCancel(ctx)
		err := controller.Run(runCtx, mc.frameworkInfo(), mc.caller,
			controller.WithEventHandler(handler),
			controller.WithFrameworkID(mc.frameworkID),
			controller.WithRegistrationTokens(backoff.Notifier(500*time.Millisecond, 15*time.Second, ctx.Done())),
			controller.WithSubscriptionTerminated(func(err error) {
				// Calls are skipped until the next SUBSCRIBED, which
				// reconciles and re-decides everything.
				mc.connected.Store(false)
				if err != nil && !errors.Is(err, context.Canceled) && err != io.EOF {
					log.Warn("mesos subscription ended", "err", err)
				} else if ctx.Err() == nil {
					log.Info("mesos subscription ended; subscribing again")
				}
				if errors.Is(err, errNewFramework) {
					mc.fid.Store("")
					cancel()
				}
			}),
		)
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, context.Canceled) {
			continue
		}
		log.Warn("mesos controller stopped; restarting", "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
	return nil
}

var errNewFramework = errors.New("framework removed by Mesos: subscribing as a new framework")

// handle is called by the controller for every event, one at a time.
func (mc *mesosConn) handle(ctx context.Context, l *leaderLoop, e *scheduler.Event) error {
	log := mc.s.log
	m := mc.s.metrics
	switch e.GetType() {
	case scheduler.Event_SUBSCRIBED:
		sub := e.GetSubscribed()
		id := sub.GetFrameworkID().GetValue()
		if hb := sub.GetHeartbeatIntervalSeconds(); hb > 0 {
			mc.heartbeat.Store(int64(hb * float64(time.Second)))
		}
		old := mc.frameworkID()
		if old != "" && old != id {
			log.Error("mesos gave a new framework id: the old framework's tasks are gone", "old", old, "new", id)
		}
		mc.fid.Store(id)
		if err := l.store.SetFrameworkID(ctx, id); err != nil {
			m.zkErrors.Inc()
			return fmt.Errorf("store framework id %s: %w", id, err)
		}
		log.Info("subscribed to mesos", "framework_id", id)
		mc.connected.Store(true)
		l.submitWait(ctx, func() { l.subscribed() })
	case scheduler.Event_OFFERS:
		offers := e.GetOffers().GetOffers()
		m.offersReceived.Add(float64(len(offers)))
		l.submitWait(ctx, func() { l.offers(offers) })
	case scheduler.Event_UPDATE:
		st := e.GetUpdate().GetStatus()
		u := TaskUpdate{
			TaskID: st.TaskID.Value, AgentID: st.GetAgentID().GetValue(),
			ExecutorID: st.GetExecutorID().GetValue(), State: st.GetState().String(),
			Reason: st.GetReason().String(), Message: st.GetMessage(), Source: st.GetSource().String(),
		}
		if st.GetReason() == 0 && st.Reason == nil {
			u.Reason = ""
		}
		if len(st.GetData()) > 0 {
			var sd execproto.StatusData
			if err := json.Unmarshal(st.GetData(), &sd); err == nil {
				u.Data = &sd
			}
		}
		log.Debug("task update", "task", u.TaskID, "state", u.State, "reason", u.Reason, "message", u.Message)
		l.submitWait(ctx, func() { l.update(u) })
		if uuid := st.GetUUID(); len(uuid) > 0 {
			ack := calls.Acknowledge(u.AgentID, u.TaskID, uuid)
			if err := calls.CallNoData(ctx, mc.caller, ack); err != nil {
				return fmt.Errorf("acknowledge %s %s: %w", u.TaskID, u.State, err)
			}
		}
	case scheduler.Event_MESSAGE:
		msg, err := execproto.DecodeExecutorMessage(e.GetMessage().GetData())
		if err != nil {
			log.Warn("bad executor message", "executor", e.GetMessage().ExecutorID.Value, "err", err)
			return nil
		}
		l.submitWait(ctx, func() { l.message(msg) })
	case scheduler.Event_FAILURE:
		f := e.GetFailure()
		log.Info("mesos failure", "agent", f.GetAgentID().GetValue(), "executor", f.GetExecutorID().GetValue(), "status", f.GetStatus())
	case scheduler.Event_ERROR:
		msg := e.GetError().GetMessage()
		log.Error("mesos error", "message", msg)
		if strings.Contains(msg, "removed") || strings.Contains(msg, "not found") {
			return errNewFramework
		}
		return fmt.Errorf("mesos error: %s", msg)
	case scheduler.Event_HEARTBEAT, scheduler.Event_RESCIND:
	}
	return nil
}

// call sends one call; failures are logged: the level-triggered core
// repeats what matters after the next (re)subscription.
func (mc *mesosConn) call(ctx context.Context, c *scheduler.Call) {
	if !mc.connected.Load() {
		return
	}
	if err := calls.CallNoData(ctx, mc.caller, c); err != nil {
		mc.s.log.Warn("mesos call failed", "call", c.GetType().String(), "err", err)
	}
}

// offerResources converts an offer for the core.
func toOffer(o mesos.Offer) Offer {
	out := Offer{ID: o.ID.Value, AgentID: o.AgentID.Value, Hostname: o.GetHostname()}
	for _, r := range o.GetResources() {
		switch r.GetName() {
		case "cpus":
			out.CPUs += r.GetScalar().GetValue()
		case "mem":
			out.MemMB += r.GetScalar().GetValue()
		case "ports":
			for _, rg := range r.GetRanges().GetRange() {
				out.Ports = append(out.Ports, PortRange{Begin: int(rg.Begin), End: int(rg.End)})
			}
		}
	}
	for _, e := range o.GetExecutorIDs() {
		out.ExecutorIDs = append(out.ExecutorIDs, e.GetValue())
	}
	return out
}

// like copies the reservation fields of the offer's resource named name so
// that what a task uses matches what was offered.
func like(o mesos.Offer, name string, r mesos.Resource) mesos.Resource {
	for _, x := range o.GetResources() {
		if x.GetName() == name {
			r.Role = x.Role
			r.Reservations = x.Reservations
			r.AllocationInfo = x.AllocationInfo
			break
		}
	}
	return r
}

func scalar(o mesos.Offer, name string, v float64) mesos.Resource {
	return like(o, name, mesos.Resource{Name: name, Type: mesos.SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: v}})
}

// taskInfo builds the TaskInfo of one member.
func (mc *mesosConn) taskInfo(o mesos.Offer, t LaunchTask) (mesos.TaskInfo, error) {
	data, err := json.Marshal(t.Data)
	if err != nil {
		return mesos.TaskInfo{}, fmt.Errorf("encode task data: %w", err)
	}
	port := uint64(t.Data.Port)
	ti := mesos.TaskInfo{
		Name:    fmt.Sprintf("redis %s %s", t.Instance, t.Data.Role),
		TaskID:  mesos.TaskID{Value: t.TaskID},
		AgentID: o.AgentID,
		Resources: []mesos.Resource{
			scalar(o, "cpus", t.CPUs),
			scalar(o, "mem", t.MemMB),
			like(o, "ports", mesos.Resource{Name: "ports", Type: mesos.RANGES.Enum(),
				Ranges: &mesos.Value_Ranges{Range: []mesos.Value_Range{{Begin: port, End: port}}}}),
		},
		Executor: mc.executorInfo(o, t),
		Data:     data,
	}
	return ti, nil
}

// executorInfo is the same for every task of one executor id: the agent
// refuses tasks whose ExecutorInfo differs from the running executor's.
func (mc *mesosConn) executorInfo(o mesos.Offer, t LaunchTask) *mesos.ExecutorInfo {
	cfg := mc.s.cfg
	uri := mc.s.executorURI()
	u := mesos.CommandInfo_URI{Value: uri, Executable: proto(true), Extract: proto(false), Cache: proto(false)}
	if path.Base(uri) != "mrr-executor" {
		u.OutputFile = protoStr("mrr-executor")
	}
	shell := true
	ei := &mesos.ExecutorInfo{
		Type:       mesos.ExecutorInfo_CUSTOM,
		ExecutorID: mesos.ExecutorID{Value: t.ExecutorID},
		Name:       protoStr("mrr-executor " + t.Instance),
		Source:     protoStr(t.Instance),
		Command: &mesos.CommandInfo{
			Value: protoStr("./mrr-executor"),
			Shell: &shell,
			URIs:  []mesos.CommandInfo_URI{u},
		},
		Resources: []mesos.Resource{scalar(o, "cpus", cfg.ExecutorCPUs), scalar(o, "mem", cfg.ExecutorMemMB)},
	}
	if len(cfg.ExecutorEnv) > 0 {
		env := &mesos.Environment{}
		for _, kv := range cfg.ExecutorEnv {
			k, v, _ := strings.Cut(kv, "=")
			env.Variables = append(env.Variables, mesos.Environment_Variable{Name: k, Type: mesos.Environment_Variable_VALUE.Enum(), Value: protoStr(v)})
		}
		ei.Command.Environment = env
	}
	if id := mc.frameworkID(); id != "" {
		ei.FrameworkID = &mesos.FrameworkID{Value: id}
	}
	return ei
}

func proto(b bool) *bool        { return &b }
func protoStr(s string) *string { return &s }
func offerIDs(ids []string) []mesos.OfferID {
	out := make([]mesos.OfferID, len(ids))
	for i, id := range ids {
		out[i] = mesos.OfferID{Value: id}
	}
	return out
}

// watchdogCaller sets the framework id on every call, and wraps the
// SUBSCRIBE response so that a stream silent for missedHeartbeats
// heartbeat intervals is closed; the controller then subscribes again.
type watchdogCaller struct {
	calls.Caller
	interval    *atomic.Int64
	frameworkID func() string
}

func (w *watchdogCaller) Call(ctx context.Context, c *scheduler.Call) (mesos.Response, error) {
	if c.GetType() != scheduler.Call_SUBSCRIBE && c.FrameworkID == nil {
		if id := w.frameworkID(); id != "" {
			c.FrameworkID = &mesos.FrameworkID{Value: id}
		}
	}
	resp, err := w.Caller.Call(ctx, c)
	if err != nil || resp == nil || c.GetType() != scheduler.Call_SUBSCRIBE {
		return resp, err
	}
	wr := &watchedResponse{Response: resp, interval: w.interval}
	wr.timer = time.AfterFunc(wr.limit(), func() { _ = resp.Close() })
	return wr, nil
}

type watchedResponse struct {
	mesos.Response
	interval *atomic.Int64
	timer    *time.Timer
}

func (r *watchedResponse) limit() time.Duration {
	return missedHeartbeats * time.Duration(r.interval.Load())
}

func (r *watchedResponse) Decode(u encoding.Unmarshaler) error {
	err := r.Response.Decode(u)
	r.timer.Reset(r.limit())
	return err
}

func (r *watchedResponse) Close() error {
	r.timer.Stop()
	return r.Response.Close()
}
