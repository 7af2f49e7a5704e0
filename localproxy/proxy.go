package localproxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Options configure a Proxy. Zero values get the defaults noted.
type Options struct {
	// Bind is the address listeners bind to; default 127.0.0.1. The proxy
	// answers AUTH itself (see clientConn), so it must only be reachable
	// from this host.
	Bind string
	// PortLo and PortHi bound the ports the proxy will open; an instance
	// whose port is outside is refused. Default 6100-6300.
	PortLo, PortHi int
	// RetryInterval is how often a port that could not be bound (another
	// program holds it) is tried again; default 5s.
	RetryInterval time.Duration
	// DialTimeout bounds connecting and authenticating to a master;
	// default 2s.
	DialTimeout time.Duration
	// Dedicated gives every client connection a backend connection of
	// its own from its first command, as MrRedis did, instead of sharing
	// one per instance until a command needs its own (see muxConn).
	Dedicated bool
	Logger    *slog.Logger
	Metrics   *Metrics // default: unregistered metrics
}

func (o Options) withDefaults() Options {
	if o.Bind == "" {
		o.Bind = "127.0.0.1"
	}
	if o.PortLo == 0 && o.PortHi == 0 {
		o.PortLo, o.PortHi = 6100, 6300
	}
	if o.RetryInterval <= 0 {
		o.RetryInterval = 5 * time.Second
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = 2 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Metrics == nil {
		o.Metrics = NewMetrics(nil)
	}
	return o
}

// ErrPortOutOfRange is returned by Add for a port outside the configured range.
var ErrPortOutOfRange = errors.New("port outside the proxy's port range")

// ErrUnknownInstance is returned for an instance that was never added.
var ErrUnknownInstance = errors.New("unknown instance")

// Proxy relays local client connections to the masters of Redis
// instances. It knows nothing of ZooKeeper: callers tell it which instance
// listens on which port with which password (Add), where each master is
// (SetMaster) and when an instance is gone (Remove). It is safe for
// concurrent use.
type Proxy struct {
	opts   Options
	log    *slog.Logger
	m      *Metrics
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu    sync.Mutex
	insts map[string]*instance
}

// New returns a Proxy serving nothing yet. It stops when ctx ends or
// Close is called.
func New(ctx context.Context, opts Options) *Proxy {
	opts = opts.withDefaults()
	ctx, cancel := context.WithCancel(ctx)
	return &Proxy{
		opts: opts, log: opts.Logger, m: opts.Metrics,
		ctx: ctx, cancel: cancel,
		insts: map[string]*instance{},
	}
}

// Close closes every listener and client connection and waits for them.
func (p *Proxy) Close() {
	p.cancel()
	p.mu.Lock()
	insts := p.insts
	p.insts = map[string]*instance{}
	p.mu.Unlock()
	for _, in := range insts {
		in.stop()
	}
	p.wg.Wait()
}

// route is where an instance's commands go. It is immutable; a change of
// master or password installs a new one.
type route struct {
	addr     string // "host:port" of the master, "" while unknown
	password string
}

// Add starts serving instance name on port with the given Redis
// password, or updates the password of an instance already served. A
// port change closes the old listener and opens the new one. A port that
// is busy is retried in the background every RetryInterval.
func (p *Proxy) Add(name string, port int, password string) error {
	return p.add(name, port, password, "")
}

// add is Add with the master a new instance starts with, so that its
// listener never answers "no master" when the master is already known.
func (p *Proxy) add(name string, port int, password, master string) error {
	if port < p.opts.PortLo || port > p.opts.PortHi {
		p.m.Refused.WithLabelValues("port_out_of_range").Inc()
		return fmt.Errorf("instance %s: port %d: %w %d-%d", name, port, ErrPortOutOfRange, p.opts.PortLo, p.opts.PortHi)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ctx.Err() != nil {
		return fmt.Errorf("instance %s: proxy is closed", name)
	}
	if in, ok := p.insts[name]; ok {
		if in.port == port {
			old := in.route.Load()
			if old.password != password {
				in.setRoute(&route{addr: old.addr, password: password}, time.Now())
			}
			return nil
		}
		// A port change keeps the known master and replicas.
		addr, reps := in.route.Load().addr, in.replicas.Load()
		delete(p.insts, name)
		in.stop()
		p.startLocked(name, port, &route{addr: addr, password: password}, reps)
		return nil
	}
	p.startLocked(name, port, &route{addr: master, password: password}, &[]string{})
	return nil
}

func (p *Proxy) startLocked(name string, port int, r *route, replicas *[]string) {
	ctx, cancel := context.WithCancel(p.ctx)
	in := &instance{
		p: p, name: name, port: port,
		log:     p.log.With("instance", name, "port", port),
		m:       p.m.forInstance(name),
		ctx:     ctx,
		cancel:  cancel,
		conns:   map[*clientConn]struct{}{},
		done:    make(chan struct{}),
		sharing: !p.opts.Dedicated,
	}
	in.route.Store(r)
	in.replicas.Store(replicas)
	p.insts[name] = in
	p.m.Instances.Set(float64(len(p.insts)))
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		in.run()
	}()
}

// SetMaster routes instance name to the master at addr ("host:port"; ""
// means no master is known). Idle client connections move to the new
// master on their next command and lose nothing; commands in flight fail
// with a "master changed" error; connections whose server-side state
// cannot be moved (MULTI, WATCH, pub/sub, ...) are closed.
func (p *Proxy) SetMaster(name, addr string) error {
	t0 := time.Now()
	p.mu.Lock()
	in, ok := p.insts[name]
	p.mu.Unlock()
	if !ok {
		return fmt.Errorf("set master of %s: %w", name, ErrUnknownInstance)
	}
	old := in.route.Load()
	if old.addr == addr {
		return nil
	}
	in.setRoute(&route{addr: addr, password: old.password}, t0)
	in.log.Info("master changed", "from", old.addr, "to", addr)
	return nil
}

// SetReplicas sets the in-sync replicas ("host:port") that may answer
// reads for instance name; none (the default) sends everything to the
// master. Read-only commands outside transactions then go to one replica
// per client connection, picked round robin. A replica connection whose
// replica leaves the list takes no new reads and closes once the reads in
// flight on it are answered.
func (p *Proxy) SetReplicas(name string, addrs []string) error {
	p.mu.Lock()
	in, ok := p.insts[name]
	p.mu.Unlock()
	if !ok {
		return fmt.Errorf("set replicas of %s: %w", name, ErrUnknownInstance)
	}
	addrs = slices.Sorted(slices.Values(addrs))
	if addrs == nil {
		addrs = []string{}
	}
	if slices.Equal(*in.replicas.Load(), addrs) {
		return nil
	}
	in.replicas.Store(&addrs)
	in.mu.Lock()
	for c := range in.conns {
		c.replicasChanged(addrs)
	}
	in.mu.Unlock()
	in.log.Info("replicas for reads changed", "replicas", addrs)
	return nil
}

// Remove stops serving instance name: its listener and client
// connections close.
func (p *Proxy) Remove(name string) {
	p.mu.Lock()
	in, ok := p.insts[name]
	delete(p.insts, name)
	p.m.Instances.Set(float64(len(p.insts)))
	p.mu.Unlock()
	if ok {
		in.stop()
		p.m.forget(name)
		in.log.Info("instance removed")
	}
}

// InstanceStatus is what the proxy knows about one instance.
type InstanceStatus struct {
	Name   string `json:"name"`
	Port   int    `json:"port"`
	Master string `json:"master"`
	// Replicas answer reads when the instance reads from replicas.
	Replicas    []string `json:"read_replicas,omitempty"`
	Listening   bool     `json:"listening"`
	ListenError string   `json:"listen_error,omitempty"`
	Connections int      `json:"connections"`
}

// Status lists the instances served, sorted by name.
func (p *Proxy) Status() []InstanceStatus {
	p.mu.Lock()
	insts := make([]*instance, 0, len(p.insts))
	for _, in := range p.insts {
		insts = append(insts, in)
	}
	p.mu.Unlock()
	out := make([]InstanceStatus, 0, len(insts))
	for _, in := range insts {
		in.mu.Lock()
		s := InstanceStatus{Name: in.name, Port: in.port, Master: in.route.Load().addr, Replicas: *in.replicas.Load(),
			Listening: in.listening, ListenError: in.listenErr, Connections: len(in.conns)}
		in.mu.Unlock()
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// instance is one served Redis instance: its listener and connections.
type instance struct {
	p      *Proxy
	name   string
	port   int
	log    *slog.Logger
	m      instMetrics
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	route  atomic.Pointer[route]
	// replicas may answer reads (never nil; empty: all to the master);
	// nextReplica spreads new connections across them.
	replicas    atomic.Pointer[[]string]
	nextReplica atomic.Uint32
	// sharing: shareable commands of unpinned clients go over mux, the
	// shared connection to the master (nil until needed; dialled under
	// muxMu).
	sharing bool
	mux     [2]atomic.Pointer[muxConn] // RESP2, RESP3
	muxMu   sync.Mutex
	// muxErr is the last failed dial of a shared connection, at muxErrAt,
	// to muxErrRoute in slot muxErrSlot: the clients that waited for that
	// dial get its error (guarded by muxMu).
	muxErr      error
	muxErrAt    time.Time
	muxErrRoute *route
	muxErrSlot  *atomic.Pointer[muxConn]

	mu        sync.Mutex
	conns     map[*clientConn]struct{}
	listening bool
	listenErr string
}

// setRoute installs r and detaches every connection from the old master.
func (in *instance) setRoute(r *route, since time.Time) {
	in.route.Store(r)
	in.dropShared(false)
	in.mu.Lock()
	for c := range in.conns {
		c.routeChanged()
	}
	in.mu.Unlock()
	in.m.switches.Inc()
	in.p.m.SwitchSeconds.Observe(time.Since(since).Seconds())
}

func (in *instance) stop() {
	in.cancel()
	<-in.done
}

// run binds the port, retrying while another program holds it, and
// accepts connections until the instance is stopped.
func (in *instance) run() {
	defer close(in.done)
	var conns sync.WaitGroup
	defer conns.Wait()
	addr := net.JoinHostPort(in.p.opts.Bind, strconv.Itoa(in.port))
	failing := false
	for in.ctx.Err() == nil {
		var lc net.ListenConfig
		ln, err := lc.Listen(in.ctx, "tcp", addr)
		if err != nil {
			in.m.listenFail.Inc()
			in.m.listening.Set(0)
			in.mu.Lock()
			in.listening, in.listenErr = false, err.Error()
			in.mu.Unlock()
			if !failing {
				in.log.Error("cannot listen on the instance's port; is another program using it? Other instances are not affected; retrying",
					"addr", addr, "err", err, "retry_every", in.p.opts.RetryInterval)
				failing = true
			}
			select {
			case <-in.ctx.Done():
			case <-time.After(in.p.opts.RetryInterval):
			}
			continue
		}
		failing = false
		in.mu.Lock()
		in.listening, in.listenErr = true, ""
		in.mu.Unlock()
		in.m.listening.Set(1)
		in.log.Info("listening", "addr", addr)
		in.accept(ln, &conns)
	}
	in.mu.Lock()
	in.listening = false
	for c := range in.conns {
		c.close()
	}
	in.mu.Unlock()
	in.dropShared(true)
}

// dropShared closes the shared connections: all of them, or those to
// another route than the current one (one to the new master may be made
// already).
func (in *instance) dropShared(all bool) {
	for i := range in.mux {
		m := in.mux[i].Load()
		if m != nil && (all || m.route != in.route.Load()) && in.mux[i].CompareAndSwap(m, nil) {
			m.drop()
		}
	}
}

// sharedConn returns the shared connection to r's master speaking RESP3
// or RESP2, connecting first if there is none or the one there failed.
func (in *instance) sharedConn(r *route, resp3 bool) (*muxConn, error) {
	slot := &in.mux[0]
	if resp3 {
		slot = &in.mux[1]
	}
	if m := slot.Load(); m != nil && m.route == r && !m.dead.Load() {
		return m, nil
	}
	asked := time.Now()
	in.muxMu.Lock()
	defer in.muxMu.Unlock()
	if m := slot.Load(); m != nil && m.route == r && !m.dead.Load() {
		return m, nil
	}
	if in.muxErr != nil && in.muxErrAt.After(asked) && in.muxErrRoute == r && in.muxErrSlot == slot {
		// A dial failed while this caller waited: one dial per wave of
		// clients, not one per client after another.
		return nil, in.muxErr
	}
	be, err := in.dial(r, 0, resp3)
	if err != nil {
		in.muxErr, in.muxErrAt, in.muxErrRoute, in.muxErrSlot = err, time.Now(), r, slot
		return nil, err
	}
	m := newMuxConn(in, r, be, slot)
	if old := slot.Swap(m); old != nil && old.route != r {
		// One for the same route is here only because it failed: its
		// commands get "connection lost", not "master changed".
		old.drop()
	}
	go m.run()
	if in.ctx.Err() != nil || in.route.Load() != r {
		// Stopped or rerouted while dialling, after the cleanup that
		// would have dropped it.
		slot.CompareAndSwap(m, nil)
		m.drop()
	}
	return m, nil
}

// accept serves ln until the instance stops or ln fails.
func (in *instance) accept(ln net.Listener, conns *sync.WaitGroup) {
	stop := context.AfterFunc(in.ctx, func() { ln.Close() })
	defer stop()
	defer ln.Close()
	for {
		nc, err := ln.Accept()
		if err != nil {
			if in.ctx.Err() != nil {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			// Out of file descriptors and the like: back off a little.
			in.log.Warn("accept failed", "err", err)
			select {
			case <-in.ctx.Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
			continue
		}
		c := newClientConn(in, nc)
		in.mu.Lock()
		if in.ctx.Err() != nil {
			in.mu.Unlock()
			nc.Close()
			return
		}
		in.conns[c] = struct{}{}
		in.mu.Unlock()
		in.m.conns.Inc()
		in.m.connsTotal.Inc()
		conns.Add(1)
		go func() {
			defer conns.Done()
			c.serve()
			in.mu.Lock()
			delete(in.conns, c)
			in.mu.Unlock()
			in.m.conns.Dec()
		}()
	}
}
