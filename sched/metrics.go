package sched

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/mrredis/mrredis/internal/model"
)

// metrics are the scheduler's Prometheus metrics, in a registry of its own
// so that several schedulers can live in one test process.
type metrics struct {
	reg            *prometheus.Registry
	instances      *prometheus.GaugeVec
	members        *prometheus.GaugeVec
	failovers      prometheus.Counter
	offersReceived prometheus.Counter
	offersDeclined prometheus.Counter
	zkErrors       prometheus.Counter
	leader         prometheus.Gauge
	mesosConnected prometheus.Gauge
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		instances: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "mrredis_instances", Help: "Redis instances by lifecycle state.",
		}, []string{"state"}),
		members: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "mrredis_members", Help: "Redis members (tasks) by role.",
		}, []string{"role"}),
		failovers: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mrredis_failovers_total", Help: "Master changes decided by this scheduler (including switchovers and failed attempts).",
		}),
		offersReceived: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mrredis_offers_received_total", Help: "Mesos offers received.",
		}),
		offersDeclined: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mrredis_offers_declined_total", Help: "Mesos offers declined.",
		}),
		zkErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mrredis_zk_errors_total", Help: "ZooKeeper operations that failed.",
		}),
		leader: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mrredis_scheduler_leader", Help: "1 if this scheduler is the leader.",
		}),
		mesosConnected: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mrredis_mesos_connected", Help: "1 if this scheduler is subscribed to Mesos.",
		}),
	}
	m.reg.MustRegister(m.instances, m.members, m.failovers, m.offersReceived, m.offersDeclined, m.zkErrors,
		m.leader, m.mesosConnected, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// observe sets the gauges from the instances' views.
func (m *metrics) observe(views map[string]model.InstanceView) {
	states := map[model.State]float64{model.StateCreating: 0, model.StateRunning: 0, model.StateDegraded: 0, model.StateDeleting: 0, model.StateFailed: 0}
	roles := map[model.Role]float64{model.RoleMaster: 0, model.RoleReplica: 0}
	for _, v := range views {
		states[v.State]++
		for _, mb := range v.Members {
			roles[mb.Role]++
		}
	}
	for s, n := range states {
		m.instances.WithLabelValues(string(s)).Set(n)
	}
	for r, n := range roles {
		m.members.WithLabelValues(string(r)).Set(n)
	}
}
