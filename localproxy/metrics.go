package localproxy

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the proxy's Prometheus metrics. Per-instance series carry an
// "instance" label and are removed when the instance goes away.
type Metrics struct {
	Connections      *prometheus.GaugeVec
	ConnectionsTotal *prometheus.CounterVec
	Commands         *prometheus.CounterVec
	ReplicaCommands  *prometheus.CounterVec
	Pinned           *prometheus.CounterVec
	Errors           *prometheus.CounterVec
	Switches         *prometheus.CounterVec
	SwitchSeconds    prometheus.Histogram
	ListenFailures   *prometheus.CounterVec
	Listening        *prometheus.GaugeVec
	Refused          *prometheus.CounterVec
	Instances        prometheus.Gauge
	ZKErrors         prometheus.Counter
	ZKResyncs        prometheus.Counter
	ZKConnected      prometheus.Gauge
}

// NewMetrics creates the metrics and registers them with reg (nil: not
// registered, as in tests that make many proxies).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Connections: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "mrr_localproxy_connections", Help: "Open client connections.",
		}, []string{"instance"}),
		ConnectionsTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mrr_localproxy_connections_total", Help: "Client connections accepted.",
		}, []string{"instance"}),
		Commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mrr_localproxy_commands_total", Help: "Commands relayed to a master or replica (pub/sub mode traffic not counted).",
		}, []string{"instance"}),
		ReplicaCommands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mrr_localproxy_replica_commands_total", Help: "Reads relayed to a replica (instances that read from replicas).",
		}, []string{"instance"}),
		Pinned: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mrr_localproxy_pinned_connections_total",
			Help: "Client connections given a Redis connection of their own by a command that cannot share one (SELECT, MULTI, WATCH, blocking, pub/sub, CLIENT, ...).",
		}, []string{"instance"}),
		Errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mrr_localproxy_errors_total",
			Help: "Errors by kind: master_changed (in-flight command failed by a switch), backend (master unreachable or lost), replica (replica connection lost with reads in flight), no_master, protocol.",
		}, []string{"instance", "kind"}),
		Switches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mrr_localproxy_backend_switches_total", Help: "Master changes applied.",
		}, []string{"instance"}),
		SwitchSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "mrr_localproxy_switch_seconds",
			Help:    "From the /master watch firing to new commands being routed to the new master and old backends detached.",
			Buckets: []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
		}),
		ListenFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mrr_localproxy_listen_failures_total", Help: "Failed attempts to listen on an instance's port (taken by another program?).",
		}, []string{"instance"}),
		Listening: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "mrr_localproxy_listening", Help: "1 when the instance's port is open, 0 while it cannot be bound.",
		}, []string{"instance"}),
		Refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mrr_localproxy_refused_instances_total", Help: "Instances not served, by reason (port_out_of_range, bad_record).",
		}, []string{"reason"}),
		Instances: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mrr_localproxy_instances", Help: "Instances this proxy serves.",
		}),
		ZKErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mrr_localproxy_zk_errors_total", Help: "ZooKeeper reads or watches that failed; the proxy keeps serving the last known masters.",
		}),
		ZKResyncs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mrr_localproxy_zk_resyncs_total", Help: "Full re-reads after a ZooKeeper session expiry.",
		}),
		ZKConnected: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mrr_localproxy_zk_connected", Help: "1 while the ZooKeeper session is up; 0 during an outage, when the last known masters are served.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.Connections, m.ConnectionsTotal, m.Commands, m.ReplicaCommands, m.Pinned, m.Errors, m.Switches,
			m.SwitchSeconds, m.ListenFailures, m.Listening, m.Refused, m.Instances, m.ZKErrors, m.ZKResyncs, m.ZKConnected)
	}
	return m
}

// forget removes the per-instance series of name.
func (m *Metrics) forget(name string) {
	m.Connections.DeleteLabelValues(name)
	m.ConnectionsTotal.DeleteLabelValues(name)
	m.Commands.DeleteLabelValues(name)
	m.ReplicaCommands.DeleteLabelValues(name)
	m.Pinned.DeleteLabelValues(name)
	m.Switches.DeleteLabelValues(name)
	m.ListenFailures.DeleteLabelValues(name)
	m.Listening.DeleteLabelValues(name)
	m.Errors.DeletePartialMatch(prometheus.Labels{"instance": name})
}

// instMetrics are one instance's series, resolved once so the hot path
// does no label lookups.
type instMetrics struct {
	conns, listening                                                    prometheus.Gauge
	connsTotal, commands, replicaCommands, pinned, switches, listenFail prometheus.Counter
	errMasterChanged, errBackend, errReplica, errNoMaster, errProto     prometheus.Counter
}

func (m *Metrics) forInstance(name string) instMetrics {
	return instMetrics{
		conns:            m.Connections.WithLabelValues(name),
		listening:        m.Listening.WithLabelValues(name),
		connsTotal:       m.ConnectionsTotal.WithLabelValues(name),
		commands:         m.Commands.WithLabelValues(name),
		replicaCommands:  m.ReplicaCommands.WithLabelValues(name),
		pinned:           m.Pinned.WithLabelValues(name),
		switches:         m.Switches.WithLabelValues(name),
		listenFail:       m.ListenFailures.WithLabelValues(name),
		errMasterChanged: m.Errors.WithLabelValues(name, "master_changed"),
		errBackend:       m.Errors.WithLabelValues(name, "backend"),
		errReplica:       m.Errors.WithLabelValues(name, "replica"),
		errNoMaster:      m.Errors.WithLabelValues(name, "no_master"),
		errProto:         m.Errors.WithLabelValues(name, "protocol"),
	}
}
