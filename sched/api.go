package sched

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/mrredis/mrredis/internal/model"
	"github.com/mrredis/mrredis/ui"
	"github.com/mrredis/mrredis/zkstore"
)

// maxBody bounds a request body.
const maxBody = 64 << 10

// Handler is the scheduler's HTTP API: /api/v1, the MrRedis /v1 routes,
// health, metrics, the executor binary and the dashboard.
func (s *Scheduler) Handler() http.Handler {
	r := mux.NewRouter()
	api := r.PathPrefix("/api/v1").Subrouter()
	api.HandleFunc("/instances", s.handleCreate).Methods(http.MethodPost)
	api.HandleFunc("/instances", s.leaderFirst(s.handleList)).Methods(http.MethodGet)
	api.HandleFunc("/instances/{name}", s.leaderFirst(s.handleGet)).Methods(http.MethodGet)
	api.HandleFunc("/instances/{name}", s.handlePatch).Methods(http.MethodPatch)
	api.HandleFunc("/instances/{name}", s.handleDelete).Methods(http.MethodDelete)
	api.HandleFunc("/instances/{name}/failover", s.handleFailover).Methods(http.MethodPost)
	api.HandleFunc("/events", s.leaderFirst(s.handleEvents)).Methods(http.MethodGet)
	api.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no such API path: %s", r.URL.Path))
	})
	api.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s is not allowed on %s", r.Method, r.URL.Path))
	})
	s.compatRoutes(r)
	r.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	r.HandleFunc("/readyz", s.handleReady)
	r.Handle("/metrics", s.metrics.handler())
	r.HandleFunc("/executor/mrr-executor", s.handleExecutor)
	r.PathPrefix("/").Handler(ui.Handler())
	return r
}

func (s *Scheduler) handleReady(w http.ResponseWriter, r *http.Request) {
	l := s.currentLeader()
	switch {
	case s.store == nil:
		writeError(w, http.StatusServiceUnavailable, "not connected to ZooKeeper yet")
	case l == nil:
		writeError(w, http.StatusServiceUnavailable, "this scheduler is a standby, not the leader")
	case !s.zkConnected(r.Context()):
		writeError(w, http.StatusServiceUnavailable, "the leader has lost its ZooKeeper connection")
	case l.mesos == nil || !l.mesos.connected.Load():
		writeError(w, http.StatusServiceUnavailable, "the leader is not subscribed to Mesos yet")
	default:
		fid := l.mesos.frameworkID()
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready", "framework_id": fid})
	}
}

func (s *Scheduler) handleExecutor(w http.ResponseWriter, r *http.Request) {
	p := s.executorPath()
	f, err := os.Open(p)
	if err != nil {
		writeError(w, http.StatusNotFound, fmt.Sprintf("executor binary %s is not available: %v", p, err))
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	http.ServeContent(w, r, "mrr-executor", st.ModTime(), f)
}

// --- reads ---

// leaderFirst serves a read on a standby from the leader, whose views
// carry live member stats and whose event stream is live, and from
// ZooKeeper (h) when no leader can be reached. Standbys sit behind the
// same load balancer (DC/OS Admin Router, a Marathon VIP) as the leader,
// so their dashboards and CLIs should see the same.
func (s *Scheduler) leaderFirst(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.currentLeader() != nil {
			h(w, r)
			return
		}
		s.toLeader(w, r, s.leaderTransport, func(w http.ResponseWriter, r *http.Request, why string) {
			s.log.Debug("no leader for a read; answering from ZooKeeper", "why", why)
			r.Header.Del("X-Mrr-Forwarded")
			w.Header().Del("X-Mrr-Leader")
			h(w, r)
		})
	}
}

func (s *Scheduler) handleList(w http.ResponseWriter, r *http.Request) {
	views, err := s.listViews(r.Context())
	if err != nil {
		s.fail(w, err)
		return
	}
	out := make([]model.InstanceView, 0, len(views))
	for _, v := range views {
		out = append(out, v.Redacted())
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Scheduler) handleGet(w http.ResponseWriter, r *http.Request) {
	name := mux.Vars(r)["name"]
	v, err := s.getView(r.Context(), name)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, v.Redacted())
}

// listViews returns every instance, sorted by name: from the leader's
// memory (with live stats), or from ZooKeeper on a standby.
func (s *Scheduler) listViews(ctx context.Context) ([]model.InstanceView, error) {
	if s.currentLeader() != nil {
		s.mu.RLock()
		out := make([]model.InstanceView, 0, len(s.views))
		for _, v := range s.views {
			out = append(out, v)
		}
		s.mu.RUnlock()
		sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
		return out, nil
	}
	if s.store == nil {
		return nil, fmt.Errorf("not connected to ZooKeeper yet: %w", zkstore.ErrUnavailable)
	}
	names, err := s.store.ListInstances(ctx)
	if err != nil {
		return nil, err
	}
	var out []model.InstanceView
	for _, n := range names {
		v, err := s.readView(ctx, n)
		if errors.Is(err, ErrUnknownInstance) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

func (s *Scheduler) getView(ctx context.Context, name string) (model.InstanceView, error) {
	if err := model.ValidateName(name); err != nil {
		return model.InstanceView{}, fmt.Errorf("%v: %w", err, ErrBadRequest)
	}
	if s.currentLeader() != nil {
		s.mu.RLock()
		v, ok := s.views[name]
		s.mu.RUnlock()
		if !ok {
			return v, fmt.Errorf("instance %q does not exist: %w", name, ErrUnknownInstance)
		}
		return v, nil
	}
	if s.store == nil {
		return model.InstanceView{}, fmt.Errorf("not connected to ZooKeeper yet: %w", zkstore.ErrUnavailable)
	}
	return s.readView(ctx, name)
}

// readView builds a view from ZooKeeper (standby schedulers).
func (s *Scheduler) readView(ctx context.Context, name string) (model.InstanceView, error) {
	inst, _, err := s.store.GetInstance(ctx, name)
	if errors.Is(err, zkstore.ErrNotFound) {
		return model.InstanceView{}, fmt.Errorf("instance %q does not exist: %w", name, ErrUnknownInstance)
	}
	if err != nil {
		return model.InstanceView{}, err
	}
	v := model.InstanceView{Instance: inst, Members: []model.Member{}}
	if v.Members, err = s.store.ListMembers(ctx, name); err != nil && !errors.Is(err, zkstore.ErrNotFound) {
		return v, err
	}
	if v.Members == nil {
		v.Members = []model.Member{}
	}
	if m, _, err := s.store.GetMaster(ctx, name); err == nil {
		v.Master = m
	}
	if v.History, err = s.store.ListFailovers(ctx, name); err != nil && !errors.Is(err, zkstore.ErrNotFound) {
		return v, err
	}
	for _, m := range v.Members {
		if m.Role == model.RoleReplica && m.LinkUp {
			v.ReplicasInSync++
		}
	}
	return v, nil
}

// --- writes: only the leader; a standby forwards them ---

func (s *Scheduler) handleCreate(w http.ResponseWriter, r *http.Request) {
	var spec model.Spec
	if err := decodeBody(r, &spec); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	s.create(w, r, spec)
}

func (s *Scheduler) create(w http.ResponseWriter, r *http.Request, spec model.Spec) {
	if err := s.cfg.Limits.Validate(spec); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	spec = spec.Normalize()
	s.onLeader(w, r, func(ctx context.Context, l *leaderLoop) (any, error) { return l.create(ctx, spec) })
}

func (s *Scheduler) handlePatch(w http.ResponseWriter, r *http.Request) {
	name := mux.Vars(r)["name"]
	var req model.PatchRequest
	if err := decodeBody(r, &req); err != nil {
		msg := err.Error()
		var uf *unknownFieldError
		if errors.As(err, &uf) {
			msg += ": PATCH changes only replicas and memory_mb; the other settings are fixed when the instance is created"
		}
		writeError(w, http.StatusBadRequest, msg)
		return
	}
	s.onLeader(w, r, func(ctx context.Context, l *leaderLoop) (any, error) { return l.patch(ctx, name, req) })
}

func (s *Scheduler) handleDelete(w http.ResponseWriter, r *http.Request) {
	name := mux.Vars(r)["name"]
	s.onLeader(w, r, func(ctx context.Context, l *leaderLoop) (any, error) { return l.delete(ctx, name) })
}

func (s *Scheduler) handleFailover(w http.ResponseWriter, r *http.Request) {
	name := mux.Vars(r)["name"]
	s.onLeader(w, r, func(ctx context.Context, l *leaderLoop) (any, error) { return l.switchover(ctx, name) })
}

// onLeader runs op on the leader's loop and answers 202 with its result;
// a standby proxies the request to the leader.
func (s *Scheduler) onLeader(w http.ResponseWriter, r *http.Request, op func(context.Context, *leaderLoop) (any, error)) {
	l := s.currentLeader()
	if l == nil {
		s.forward(w, r)
		return
	}
	var out any
	var err error
	// The operation finishes even if the client goes away: a write half
	// done because of a closed connection would need a reload to repair.
	octx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 30*time.Second)
	defer cancel()
	if !l.submitWait(r.Context(), func() { out, err = op(octx, l); l.publish() }) {
		writeError(w, http.StatusServiceUnavailable, "the scheduler is changing leaders; retry in a moment")
		return
	}
	if err != nil {
		s.fail(w, err)
		return
	}
	if v, ok := out.(model.InstanceView); ok {
		out = v.Redacted()
	}
	writeJSON(w, http.StatusAccepted, out)
}

// forward proxies a write to the leader named in ZooKeeper.
func (s *Scheduler) forward(w http.ResponseWriter, r *http.Request) {
	s.toLeader(w, r, nil, func(w http.ResponseWriter, _ *http.Request, why string) {
		writeError(w, http.StatusServiceUnavailable, why)
	})
}

// toLeader proxies r to the leader through rt (nil: the default
// transport), naming it in the X-Mrr-Leader header. When there is no
// leader to ask (none elected, this scheduler itself, r already forwarded
// once) or it cannot be reached, it calls otherwise with a sentence saying
// why; a transport error comes before anything is written.
func (s *Scheduler) toLeader(w http.ResponseWriter, r *http.Request, rt http.RoundTripper,
	otherwise func(w http.ResponseWriter, r *http.Request, why string)) {
	const noLeader = "no scheduler is leading right now; retry in a moment"
	if s.store == nil {
		otherwise(w, r, "not connected to ZooKeeper yet; retry in a moment")
		return
	}
	if r.Header.Get("X-Mrr-Forwarded") != "" {
		otherwise(w, r, noLeader)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	leader, err := s.store.Leader(ctx)
	cancel()
	if err != nil || leader == "" || leader == s.url {
		otherwise(w, r, noLeader)
		return
	}
	target, err := url.Parse(leader)
	if err != nil {
		otherwise(w, r, fmt.Sprintf("the leader's URL %q is invalid", leader))
		return
	}
	w.Header().Set("X-Mrr-Leader", leader)
	p := httputil.NewSingleHostReverseProxy(target)
	p.Transport = rt
	p.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
		otherwise(w, r, fmt.Sprintf("the leader %s is unreachable; retry in a moment", leader))
	}
	r.Header.Set("X-Mrr-Forwarded", s.url)
	p.ServeHTTP(w, r)
}

// --- leader-side operations, run on the loop goroutine ---

func (l *leaderLoop) create(ctx context.Context, spec model.Spec) (model.InstanceView, error) {
	now := time.Now()
	if _, ok := l.core.Instance(spec.Name); ok {
		return model.InstanceView{}, fmt.Errorf("instance %q already exists: %w", spec.Name, ErrDuplicate)
	}
	lo, hi := l.s.cfg.PortLo, l.s.cfg.PortHi
	port, err := l.store.ReservePort(ctx, spec.Name, lo, hi)
	if errors.Is(err, zkstore.ErrNoPorts) {
		return model.InstanceView{}, &apiError{code: http.StatusServiceUnavailable, msg: fmt.Sprintf("no free proxy port in %d-%d: delete an instance or widen --port-range", lo, hi)}
	}
	if err != nil {
		l.s.metrics.zkErrors.Inc()
		return model.InstanceView{}, fmt.Errorf("reserve a proxy port: %w", err)
	}
	inst := model.Instance{
		Spec: spec, ProxyPort: port, State: model.StateCreating, Reason: "waiting for offers",
		AdminPassword: newAdminPassword(), Created: now, Updated: now,
	}
	ver, err := l.store.CreateInstance(ctx, inst)
	if err != nil {
		if errors.Is(err, zkstore.ErrExists) {
			return model.InstanceView{}, fmt.Errorf("instance %q already exists: %w", spec.Name, ErrDuplicate)
		}
		l.s.metrics.zkErrors.Inc()
		// Nothing half-written: give the port back.
		rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if rerr := l.store.ReleasePort(rctx, port, spec.Name); rerr != nil {
			l.s.log.Warn("release port after failed create", "port", port, "err", rerr)
		}
		return model.InstanceView{}, fmt.Errorf("store instance %s: %w", spec.Name, err)
	}
	l.instVer[spec.Name], l.masterVer[spec.Name] = ver, -1
	acts, err := l.core.Created(inst, now)
	if err != nil {
		return model.InstanceView{}, err
	}
	l.s.log.Info("instance created", "instance", spec.Name, "memory_mb", spec.MemoryMB, "replicas", spec.Replicas, "port", port)
	l.exec(ctx, acts)
	v, _ := l.core.View(spec.Name)
	return v, nil
}

func (l *leaderLoop) patch(ctx context.Context, name string, req model.PatchRequest) (model.InstanceView, error) {
	inst, err := l.core.PlanPatch(name, req, l.s.cfg.Limits)
	if err != nil {
		return model.InstanceView{}, err
	}
	if err := l.storeSpec(ctx, inst); err != nil {
		return model.InstanceView{}, err
	}
	l.exec(ctx, l.core.Apply(inst, time.Now()))
	v, _ := l.core.View(name)
	return v, nil
}

func (l *leaderLoop) delete(ctx context.Context, name string) (model.InstanceView, error) {
	inst, err := l.core.PlanDelete(name)
	if err != nil {
		return model.InstanceView{}, err
	}
	if err := l.storeSpec(ctx, inst); err != nil {
		return model.InstanceView{}, err
	}
	l.s.log.Info("deleting instance", "instance", name)
	l.exec(ctx, l.core.Apply(inst, time.Now()))
	v, ok := l.core.View(name)
	if !ok {
		inst.State, inst.Reason = model.StateDeleted, ""
		v = model.InstanceView{Instance: inst, Members: []model.Member{}}
	}
	return v, nil
}

func (l *leaderLoop) switchover(ctx context.Context, name string) (model.InstanceView, error) {
	acts, err := l.core.Switchover(name, time.Now())
	if err != nil {
		return model.InstanceView{}, err
	}
	l.exec(ctx, acts)
	v, _ := l.core.View(name)
	return v, nil
}

// --- errors and JSON ---

type apiError struct {
	code int
	msg  string
}

func (e *apiError) Error() string { return e.msg }

// fail maps an error to a status and a one-sentence message.
func (s *Scheduler) fail(w http.ResponseWriter, err error) {
	var ae *apiError
	switch {
	case errors.As(err, &ae):
		writeError(w, ae.code, ae.msg)
	case errors.Is(err, ErrBadRequest):
		writeError(w, http.StatusBadRequest, strings.TrimSuffix(err.Error(), ": "+ErrBadRequest.Error()))
	case errors.Is(err, ErrUnknownInstance):
		writeError(w, http.StatusNotFound, strings.TrimSuffix(err.Error(), ": "+ErrUnknownInstance.Error()))
	case errors.Is(err, ErrDuplicate):
		writeError(w, http.StatusConflict, strings.TrimSuffix(err.Error(), ": "+ErrDuplicate.Error()))
	case errors.Is(err, ErrBusy):
		writeError(w, http.StatusConflict, strings.TrimSuffix(err.Error(), ": "+ErrBusy.Error()))
	case errors.Is(err, zkstore.ErrUnavailable):
		writeError(w, http.StatusServiceUnavailable, "ZooKeeper is unreachable, nothing was changed; retry later")
	default:
		s.log.Error("request failed", "err", err)
		writeError(w, http.StatusServiceUnavailable, fmt.Sprintf("the request failed and nothing was changed: %v", err))
	}
}

// unknownFieldError is a request body field the endpoint does not take.
type unknownFieldError struct{ field string } // quoted, as encoding/json names it

func (e *unknownFieldError) Error() string {
	return fmt.Sprintf("unknown field %s in the request body", e.field)
}

func decodeBody(r *http.Request, v any) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return fmt.Errorf("could not read the request body: %v", err)
	}
	if len(body) > maxBody {
		return fmt.Errorf("the request body is larger than %d bytes", maxBody)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return fmt.Errorf("the request body is empty: send a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return fmt.Errorf("the request body is not valid JSON: %v", err)
		case errors.As(err, &te):
			return fmt.Errorf("field %q must be a %s, not a JSON %s", te.Field, te.Type, te.Value)
		case strings.HasPrefix(err.Error(), "json: unknown field"):
			return &unknownFieldError{field: strings.TrimPrefix(err.Error(), "json: unknown field ")}
		}
		return fmt.Errorf("the request body is not valid JSON: %v", err)
	}
	if dec.More() {
		return fmt.Errorf("the request body has data after the JSON object")
	}
	return nil
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, model.ErrorResponse{Error: msg})
}

// handleEvents streams model.Events as server-sent events: first one
// "instance" event per instance, then every change.
func (s *Scheduler) handleEvents(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		writeError(w, http.StatusInternalServerError, "streaming is not supported")
		return
	}
	ch := s.subscribe()
	defer s.unsubscribe(ch)
	views, err := s.listViews(r.Context())
	if err != nil {
		s.fail(w, err)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	send := func(ev model.Event) bool {
		b, _ := json.Marshal(ev)
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", ev.Kind, b); err != nil {
			return false
		}
		fl.Flush()
		return true
	}
	now := time.Now()
	for _, v := range views {
		rv := v.Redacted()
		if !send(model.Event{Kind: model.EventInstance, Name: v.Name, Instance: &rv, At: now}) {
			return
		}
	}
	fl.Flush()
	keepalive := time.NewTicker(15 * time.Second)
	defer keepalive.Stop()
	var poll <-chan time.Time
	var last map[string]model.InstanceView
	if s.currentLeader() == nil {
		// A standby has no live events: poll ZooKeeper and send changes.
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		poll = t.C
		last = map[string]model.InstanceView{}
		for _, v := range views {
			last[v.Name] = v
		}
	}
	for {
		select {
		case <-r.Context().Done():
			return
		case ev := <-ch:
			if !send(ev) {
				return
			}
		case <-keepalive.C:
			if _, err := fmt.Fprint(w, ": keepalive\n\n"); err != nil {
				return
			}
			fl.Flush()
		case <-poll:
			vs, err := s.listViews(r.Context())
			if err != nil {
				continue
			}
			cur := map[string]model.InstanceView{}
			for _, v := range vs {
				cur[v.Name] = v
				if o, ok := last[v.Name]; !ok || !sameView(o, v) {
					rv := v.Redacted()
					if !send(model.Event{Kind: model.EventInstance, Name: v.Name, Instance: &rv, At: time.Now()}) {
						return
					}
				}
			}
			for n := range last {
				if _, ok := cur[n]; !ok && !send(model.Event{Kind: model.EventDeleted, Name: n, At: time.Now()}) {
					return
				}
			}
			last = cur
		}
	}
}
