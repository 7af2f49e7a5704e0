package localproxy

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/mrredis/mrredis/internal/model"
	"github.com/mrredis/mrredis/zkstore"
)

// Follower drives a Proxy from ZooKeeper: it opens a listener for every
// instance under /instances (child watch), routes each to the address in
// its /master node (data watch) and closes listeners of instances that go
// away. Nothing is polled: zkstore re-arms the watches after each fire,
// reconnect and session expiry.
//
// While ZooKeeper is unreachable the proxy keeps serving with the last
// known masters: a proxy that stopped serving during a ZooKeeper outage
// would turn a coordination problem into an outage of every application.
// The risk is routing to a stale master if a failover happens during the
// outage; the scheduler cannot record one then either (it writes /master
// before promoting clients), so nothing better is known anyway.
type Follower struct {
	st  *zkstore.Store
	p   *Proxy
	log *slog.Logger
	m   *Metrics

	synced atomic.Bool
	insts  map[string]*followed // owned by Run
}

// followed is the watcher goroutine of one instance.
type followed struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// NewFollower returns a Follower feeding p from st.
func NewFollower(st *zkstore.Store, p *Proxy, log *slog.Logger, m *Metrics) *Follower {
	if log == nil {
		log = slog.Default()
	}
	if m == nil {
		m = p.m
	}
	return &Follower{st: st, p: p, log: log, m: m, insts: map[string]*followed{}}
}

// Synced reports whether the instance list has been read at least once.
func (f *Follower) Synced() bool { return f.synced.Load() }

// Run follows ZooKeeper until ctx ends. Instances it opened stay in the
// Proxy; close the Proxy to stop serving them.
func (f *Follower) Run(ctx context.Context) {
	names := f.st.WatchInstances(ctx)
	resync := f.st.Resync()
	// The session state is a local flag of the store; looking at it
	// costs nothing and sends nothing to ZooKeeper.
	sessionCheck := time.NewTicker(500 * time.Millisecond)
	defer sessionCheck.Stop()
	connected := true
	f.m.ZKConnected.Set(1)
	defer func() {
		for _, w := range f.insts {
			w.cancel()
			<-w.done
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case list, ok := <-names:
			if !ok {
				return
			}
			f.apply(ctx, list)
			f.synced.Store(true)
		case <-sessionCheck.C:
			now := f.st.Connected()
			if now == connected {
				continue
			}
			connected = now
			if now {
				f.m.ZKConnected.Set(1)
				f.log.Info("zookeeper reachable again; following master changes")
			} else {
				f.m.ZKConnected.Set(0)
				f.m.ZKErrors.Inc()
				f.log.Warn("zookeeper unreachable: serving every instance with its last known master until it is back")
			}
		case <-resync:
			// A new session: the watches re-arm themselves, but records
			// may have changed unseen. Re-read every instance; keep
			// serving meanwhile.
			f.m.ZKResyncs.Inc()
			f.log.Warn("zookeeper session expired and was replaced; re-reading every instance")
			for name, w := range f.insts {
				w.cancel()
				<-w.done
				f.insts[name] = f.start(ctx, name)
			}
		}
	}
}

// apply opens watchers for new names and removes instances gone from list.
func (f *Follower) apply(ctx context.Context, list []string) {
	want := make(map[string]bool, len(list))
	for _, name := range list {
		want[name] = true
		if _, ok := f.insts[name]; !ok {
			f.insts[name] = f.start(ctx, name)
		}
	}
	for name, w := range f.insts {
		if !want[name] {
			w.cancel()
			<-w.done
			delete(f.insts, name)
			f.p.Remove(name)
		}
	}
}

func (f *Follower) start(ctx context.Context, name string) *followed {
	ctx, cancel := context.WithCancel(ctx)
	w := &followed{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		f.follow(ctx, name)
	}()
	return w
}

// follow reads the instance record, serves it and follows its master.
func (f *Follower) follow(ctx context.Context, name string) {
	log := f.log.With("instance", name)
	var inst model.Instance
	backoff := 100 * time.Millisecond
	for {
		var err error
		inst, _, err = f.st.GetInstance(ctx, name)
		if err == nil {
			break
		}
		if ctx.Err() != nil || errors.Is(err, zkstore.ErrNotFound) {
			return // deleted meanwhile: the instance list will say so
		}
		f.m.ZKErrors.Inc()
		log.Warn("cannot read instance record; retrying", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
	// The master known now goes in with the listener: clients of a
	// running instance never see "no master" while the watch starts. The
	// watch's first value is that master (none yet, or unreadable: the
	// loop below tells).
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	masters := f.st.WatchMaster(ctx, name)
	mc, ok := <-masters
	if !ok {
		return
	}
	master := ""
	if mc.Err == nil && !mc.Deleted {
		master = mc.Addr
	}
	if err := f.p.add(name, inst.ProxyPort, inst.Password, master); err != nil {
		if errors.Is(err, ErrPortOutOfRange) {
			log.Error("instance refused: its proxy port is outside this proxy's --port-range", "err", err)
		} else {
			log.Error("instance not served", "err", err)
		}
		return
	}
	if inst.ReadFromReplicas {
		// Set at create and never changed: one watch for the instance's life.
		done := make(chan struct{})
		defer func() { <-done }()
		go func() {
			defer close(done)
			f.followReplicas(ctx, name, log)
		}()
	}
	for ; ok; mc, ok = <-masters {
		switch {
		case mc.Err != nil:
			f.m.ZKErrors.Inc()
			log.Warn("cannot read the master from ZooKeeper; keeping the last known master", "err", mc.Err)
		case mc.Deleted:
			_ = f.p.SetMaster(name, "")
		default:
			_ = f.p.SetMaster(name, mc.Addr)
		}
	}
}

// followReplicas routes the instance's reads to the in-sync replicas the
// scheduler lists in /replicas.
func (f *Follower) followReplicas(ctx context.Context, name string, log *slog.Logger) {
	for rc := range f.st.WatchReplicas(ctx, name) {
		if rc.Err != nil {
			f.m.ZKErrors.Inc()
			log.Warn("cannot read the replicas from ZooKeeper; keeping the last known ones", "err", rc.Err)
			continue
		}
		_ = f.p.SetReplicas(name, rc.Addrs)
	}
}
