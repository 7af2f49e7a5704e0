package sched

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/mrredis/mrredis/internal/model"
	"github.com/mrredis/mrredis/zkstore"
)

// LocalMesosFunc starts an embedded Mesos master with agents and returns
// its URL; closing the closer stops it. See local.go.
type LocalMesosFunc func(ctx context.Context, agents int, workDir string, log *slog.Logger) (url string, stop io.Closer, err error)

// Scheduler is one mrr-sched process: REST API, dashboard and metrics on
// every process; the Mesos framework only on the ZooKeeper-elected leader.
type Scheduler struct {
	cfg     Config
	log     *slog.Logger
	metrics *metrics

	listener net.Listener
	url      string
	mesosURL []string
	store    *zkstore.Store
	ready    chan struct{} // closed once the HTTP server listens and ZooKeeper is open
	// leaderTransport carries a standby's reads to the leader: it gives
	// up soon on a leader that is gone or hung, so that the standby can
	// answer from ZooKeeper instead.
	leaderTransport http.RoundTripper

	mu     sync.RWMutex
	leader *leaderLoop
	views  map[string]model.InstanceView // the leader's last published views
	subs   map[chan model.Event]struct{}
}

// New checks cfg and returns a scheduler; Run starts it. Fields of cfg
// left zero take DefaultConfig's values (but AntiAffinity false stays
// false: start from DefaultConfig()).
func New(cfg Config) (*Scheduler, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Scheduler{
		cfg: cfg, log: cfg.Logger, metrics: newMetrics(), ready: make(chan struct{}),
		views: map[string]model.InstanceView{}, subs: map[chan model.Event]struct{}{},
		leaderTransport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
			ResponseHeaderTimeout: 5 * time.Second,
			IdleConnTimeout:       90 * time.Second,
		},
	}
	return s, nil
}

// Ready is closed once the scheduler listens (URL is valid) and its
// ZooKeeper session is open.
func (s *Scheduler) Ready() <-chan struct{} { return s.ready }

// URL is the base URL of the REST API ("http://127.0.0.1:5656"), valid
// after Ready.
func (s *Scheduler) URL() string { return s.url }

// MesosURL is the Mesos master in use (the embedded one for local), valid
// after Ready.
func (s *Scheduler) MesosURL() string {
	if len(s.mesosURL) == 0 {
		return ""
	}
	return s.mesosURL[0]
}

// Run serves until ctx ends: the HTTP API at once, then it campaigns for
// leadership in ZooKeeper and, while leading, runs the framework. It
// returns nil when ctx ends, or an error if it cannot start. Stopping by
// ctx does not tear the framework down: Mesos keeps the tasks for
// --failover-timeout and the next leader takes them over.
func (s *Scheduler) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.cfg.Listen, err)
	}
	s.listener = ln
	s.url = s.advertiseURL()

	if ok, agents, _ := localMaster(s.cfg.Master, s.cfg.LocalAgents); ok {
		if s.cfg.LocalMesos == nil {
			ln.Close()
			return fmt.Errorf("--master %s: this build has no embedded Mesos", s.cfg.Master)
		}
		url, stop, err := s.cfg.LocalMesos(ctx, agents, s.cfg.MesosWorkDir, s.log)
		if err != nil {
			ln.Close()
			return fmt.Errorf("start local mesos: %w", err)
		}
		defer stop.Close()
		s.mesosURL = []string{url}
		s.log.Info("embedded mesos started", "url", url, "agents", agents)
	} else {
		for _, u := range strings.Split(s.cfg.Master, ",") {
			if u = strings.TrimSpace(u); u != "" {
				if !strings.Contains(u, "://") {
					u = "http://" + u
				}
				s.mesosURL = append(s.mesosURL, u)
			}
		}
	}

	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	srvDone := make(chan struct{})
	go func() {
		defer close(srvDone)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("http server", "err", err)
		}
	}()
	defer func() {
		sctx, c := context.WithTimeout(context.Background(), 2*time.Second)
		defer c()
		_ = srv.Shutdown(sctx)
		<-srvDone
	}()
	s.log.Info("serving", "url", s.url)

	zcfg := s.cfg.ZK
	zcfg.Logger = s.log
	for {
		s.store, err = zkstore.Open(ctx, zcfg)
		if err == nil {
			break
		}
		s.metrics.zkErrors.Inc()
		s.log.Warn("zookeeper not reachable; retrying", "servers", zcfg.Servers, "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
	defer s.store.Close()
	close(s.ready)

	for ctx.Err() == nil {
		s.log.Info("campaigning for leadership")
		lead, err := s.store.Campaign(ctx, s.url)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			s.log.Warn("campaign failed; retrying", "err", err)
			time.Sleep(time.Second)
			continue
		}
		s.log.Info("leading")
		lctx, lcancel := context.WithCancel(ctx)
		go func() {
			select {
			case <-lead.Lost():
				s.log.Warn("leadership lost")
			case <-lctx.Done():
			}
			lcancel()
		}()
		err = newLeaderLoop(s, s.store).run(lctx)
		lcancel()
		if err != nil {
			s.log.Error("leader stopped", "err", err)
		}
		if ctx.Err() != nil {
			// Leave the node for ZooKeeper to drop with the session: a
			// crash and a stop look the same to the next leader.
			break
		}
		_ = lead.Resign()
	}
	return nil
}

func (s *Scheduler) advertiseURL() string {
	if s.cfg.AdvertiseURL != "" {
		return strings.TrimRight(s.cfg.AdvertiseURL, "/")
	}
	if s.listener == nil {
		return ""
	}
	addr := s.listener.Addr().(*net.TCPAddr)
	host := addr.IP.String()
	if addr.IP.IsUnspecified() {
		if h, err := os.Hostname(); err == nil {
			host = h
		} else {
			host = "127.0.0.1"
		}
	}
	return fmt.Sprintf("http://%s", net.JoinHostPort(host, fmt.Sprint(addr.Port)))
}

func (s *Scheduler) masterURLs() []string { return s.mesosURL }

// executorURI is where agents fetch mrr-executor.
func (s *Scheduler) executorURI() string {
	if s.cfg.ExecutorURI != "" {
		return s.cfg.ExecutorURI
	}
	return s.url + "/executor/mrr-executor"
}

// coreConfig is the core's tuning, with executor ids naming the executor
// URI and environment in use (see ExecutorID).
func (s *Scheduler) coreConfig() CoreConfig {
	cc := s.cfg.coreConfig()
	h := fnv.New32a()
	_, _ = h.Write([]byte(s.executorURI()))
	for _, kv := range s.cfg.ExecutorEnv {
		_, _ = h.Write([]byte("\x00" + kv))
	}
	cc.ExecVersion = fmt.Sprintf("%08x", h.Sum32())[:6]
	return cc
}

// executorPath is the file served at /executor/mrr-executor.
func (s *Scheduler) executorPath() string {
	if s.cfg.ExecutorPath != "" {
		return s.cfg.ExecutorPath
	}
	exe, err := os.Executable()
	if err != nil {
		return "mrr-executor"
	}
	return filepath.Join(filepath.Dir(exe), "mrr-executor")
}

func (s *Scheduler) setLeader(l *leaderLoop) {
	s.mu.Lock()
	s.leader = l
	if l == nil {
		s.views = map[string]model.InstanceView{}
		s.metrics.leader.Set(0)
		s.metrics.mesosConnected.Set(0)
	}
	s.mu.Unlock()
}

// zkConnected reports whether ZooKeeper answers now.
func (s *Scheduler) zkConnected(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err := s.store.FrameworkID(ctx)
	return err == nil
}

func (s *Scheduler) currentLeader() *leaderLoop {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.leader
}

func newAdminPassword() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func jsonBytes(v any) ([]byte, error) { return json.Marshal(v) }
