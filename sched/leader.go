package sched

import (
	"context"
	"fmt"
	"sync"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"

	"github.com/mrredis/mrredis/internal/execproto"
	"github.com/mrredis/mrredis/zkstore"
)

// reconcileEvery is how often the leader reconciles every task with Mesos.
const reconcileEvery = 5 * time.Minute

// leaderLoop is what runs while this scheduler leads: one goroutine owns
// the Core and is the only writer of instance state; Mesos events, API
// requests, ping results and ticks reach it as functions on work.
type leaderLoop struct {
	s     *Scheduler
	store *zkstore.Store
	core  *Core
	mesos *mesosConn
	work  chan func()

	instVer    map[string]int32 // version of each instance node as last read or written
	masterVer  map[string]int32 // version of each /master node; -1: absent
	offersHeld map[string]mesos.Offer
	reload     bool // a store write failed: reload everything from ZooKeeper
	stored     bool // something was written since the last publish

	published map[string][]byte // JSON of each view as last published

	pingMu      sync.Mutex
	pingTargets []PingTarget
}

func newLeaderLoop(s *Scheduler, store *zkstore.Store) *leaderLoop {
	return &leaderLoop{
		s: s, store: store, core: NewCore(s.coreConfig()), work: make(chan func(), 64),
		instVer: map[string]int32{}, masterVer: map[string]int32{},
	}
}

// submit queues f for the loop; false if ctx ended first.
func (l *leaderLoop) submit(ctx context.Context, f func()) bool {
	select {
	case l.work <- f:
		return true
	case <-ctx.Done():
		return false
	}
}

// submitWait runs f on the loop and waits for it.
func (l *leaderLoop) submitWait(ctx context.Context, f func()) bool {
	done := make(chan struct{})
	if !l.submit(ctx, func() { defer close(done); f() }) {
		return false
	}
	select {
	case <-done:
		return true
	case <-ctx.Done():
		return false
	}
}

// run loads the state, connects to Mesos and serves until ctx ends.
func (l *leaderLoop) run(ctx context.Context) error {
	for {
		err := l.loadAll(ctx)
		if err == nil {
			break
		}
		l.s.metrics.zkErrors.Inc()
		l.s.log.Warn("load state from zookeeper failed; retrying", "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
	l.publish()
	fid, err := l.store.FrameworkID(ctx)
	if err != nil {
		return fmt.Errorf("read framework id: %w", err)
	}
	l.mesos = newMesosConn(l.s, l.s.masterURLs(), fid)
	l.s.setLeader(l)
	defer l.s.setLeader(nil)

	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = l.mesos.run(ctx, l) }()
	go func() { defer wg.Done(); l.pinger(ctx) }()
	defer wg.Wait()

	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	reconcile := time.NewTicker(reconcileEvery)
	defer reconcile.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-reconcile.C:
			l.exec(ctx, l.core.ReconcileAll())
		case f := <-l.work:
			// Views are published when the store changed (so the API
			// never shows less than ZooKeeper), else on the next tick: a
			// stats message per executor per second must not re-render
			// every instance each time.
			f()
			if l.stored {
				l.publish()
			}
		case <-tick.C:
			if l.reload {
				l.reloadAll(ctx)
			}
			l.exec(ctx, l.core.Tick(time.Now()))
			l.publish()
		}
	}
}

// --- event handlers, all on the loop goroutine ---

func (l *leaderLoop) subscribed() {
	l.exec(context.Background(), l.core.Subscribed(time.Now()))
}

func (l *leaderLoop) offers(offers []mesos.Offer) {
	l.offersHeld = map[string]mesos.Offer{}
	in := make([]Offer, 0, len(offers))
	for _, o := range offers {
		l.offersHeld[o.ID.Value] = o
		in = append(in, toOffer(o))
	}
	l.exec(context.Background(), l.core.Offers(in, time.Now()))
	l.offersHeld = nil
}

func (l *leaderLoop) update(u TaskUpdate) {
	l.exec(context.Background(), l.core.Update(u, time.Now()))
}

func (l *leaderLoop) message(m execproto.ExecutorMessage) {
	l.exec(context.Background(), l.core.Message(m, time.Now()))
}

// --- actions ---

// exec carries out actions: store writes first, in order; if one fails the
// Mesos calls are dropped (offers declined) and the state is reloaded, so
// nothing is acted on that is not stored.
func (l *leaderLoop) exec(ctx context.Context, acts []Action) {
	if ctx == context.Background() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
	}
	for _, a := range acts {
		if !a.Kind.IsStore() {
			continue
		}
		l.stored = true
		if err := l.storeAction(ctx, a); err != nil {
			l.s.metrics.zkErrors.Inc()
			l.s.log.Error("store write failed; dropping this round's mesos calls and reloading", "action", a.Kind.String(), "instance", a.Instance, "err", err)
			l.reload = true
			var decline []string
			for _, b := range acts {
				switch b.Kind {
				case ActLaunch:
					decline = append(decline, b.OfferID)
				case ActDecline:
					decline = append(decline, b.OfferIDs...)
				}
			}
			if len(decline) > 0 {
				l.mesosAction(ctx, Action{Kind: ActDecline, OfferIDs: decline, Refuse: time.Second})
			}
			return
		}
	}
	for _, a := range acts {
		if !a.Kind.IsStore() {
			l.mesosAction(ctx, a)
		}
	}
}

func (l *leaderLoop) mesosAction(ctx context.Context, a Action) {
	mc := l.mesos
	if mc == nil {
		return
	}
	refuse := calls.RefuseSeconds(a.Refuse)
	switch a.Kind {
	case ActLaunch:
		o, ok := l.offersHeld[a.OfferID]
		if !ok {
			return
		}
		var tasks []mesos.TaskInfo
		for _, t := range a.Tasks {
			ti, err := mc.taskInfo(o, t)
			if err != nil {
				l.s.log.Error("build task", "task", t.TaskID, "err", err)
				continue
			}
			tasks = append(tasks, ti)
			l.s.log.Info("launching", "instance", t.Instance, "task", t.TaskID, "role", t.Data.Role, "host", o.GetHostname(), "port", t.Data.Port)
		}
		mc.call(ctx, calls.Accept(calls.OfferOperations{calls.OpLaunch(tasks...)}.WithOffers(o.ID)).With(refuse))
	case ActDecline:
		l.s.metrics.offersDeclined.Add(float64(len(a.OfferIDs)))
		mc.call(ctx, calls.Decline(offerIDs(a.OfferIDs)...).With(refuse))
	case ActKill:
		l.s.log.Info("killing", "instance", a.Instance, "task", a.TaskID)
		mc.call(ctx, calls.Kill(a.TaskID, a.AgentID))
	case ActMessage:
		data, err := jsonBytes(a.Command)
		if err != nil {
			return
		}
		l.s.log.Info("command", "instance", a.Instance, "task", a.Command.TaskID, "op", a.Command.Op, "id", a.Command.ID)
		mc.call(ctx, calls.Message(a.AgentID, a.Exec, data))
	case ActRevive:
		mc.call(ctx, calls.Revive())
	case ActSuppress:
		mc.call(ctx, calls.Suppress())
	case ActReconcile:
		tasks := map[string]string{}
		for _, t := range a.Reconcile {
			tasks[t.TaskID] = t.AgentID
		}
		if len(tasks) > 0 {
			mc.call(ctx, calls.Reconcile(calls.ReconcileTasks(tasks)))
		}
		if a.All {
			// An empty list asks Mesos for every task it knows of ours, so
			// tasks we have no record of (orphans) are found and killed.
			mc.call(ctx, calls.Reconcile(calls.ReconcileTasks(nil)))
		}
	}
}
