package localproxy

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/mrredis/mrredis/zkstore"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Run is mrr-localproxy: it serves the admin endpoints, connects to
// ZooKeeper (retrying until it answers) and follows it until ctx ends.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if log == nil {
		log = slog.Default()
	}
	lo, hi, _ := ParsePortRange(cfg.PortRange)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := NewMetrics(reg)
	p := New(ctx, Options{Bind: cfg.Bind, PortLo: lo, PortHi: hi, RetryInterval: cfg.ListenRetry,
		DialTimeout: cfg.DialTimeout, Dedicated: cfg.DedicatedBackends, Logger: log, Metrics: m})
	defer p.Close()

	var follower atomic.Pointer[Follower]
	zkState := func() (synced, connected bool) {
		f := follower.Load()
		if f == nil {
			return false, false
		}
		return f.Synced(), f.st.Connected()
	}
	ln, err := net.Listen("tcp", cfg.Admin)
	if err != nil {
		return fmt.Errorf("admin listener %s: %w", cfg.Admin, err)
	}
	srv := &http.Server{Handler: AdminHandler(p, reg, zkState), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	log.Info("mrr-localproxy started", "admin", ln.Addr().String(), "bind", cfg.Bind, "port_range", cfg.PortRange,
		"zk", cfg.ZK.Servers, "root", cfg.ZK.Root)

	zcfg := cfg.ZK
	zcfg.Logger = log
	var st *zkstore.Store
	for {
		st, err = zkstore.Open(ctx, zcfg)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil
		}
		m.ZKErrors.Inc()
		log.Error("cannot connect to ZooKeeper; retrying", "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(2 * time.Second):
		}
	}
	defer st.Close()
	f := NewFollower(st, p, log, m)
	follower.Store(f)
	f.Run(ctx)
	return nil
}

// AdminHandler serves GET /metrics and GET /healthz: 200 with the
// instances served once the instance list was read from ZooKeeper, 503
// before. A later ZooKeeper outage keeps it 200 (the proxy serves the last
// known masters) and shows "zookeeper": "disconnected". zk may be nil.
func AdminHandler(p *Proxy, g prometheus.Gatherer, zk func() (synced, connected bool)) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		synced, connected := true, true
		if zk != nil {
			synced, connected = zk()
		}
		body := struct {
			Status    string           `json:"status"`
			ZooKeeper string           `json:"zookeeper"`
			Instances []InstanceStatus `json:"instances"`
		}{Status: "ok", ZooKeeper: "connected", Instances: p.Status()}
		if !connected {
			body.ZooKeeper = "disconnected"
		}
		w.Header().Set("Content-Type", "application/json")
		if !synced {
			body.Status = "waiting for the instance list from ZooKeeper"
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_ = json.NewEncoder(w).Encode(body)
	})
	return mux
}
