package sched

import (
	"context"
	"fmt"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/mrredis/mrredis/internal/execproto"
	"github.com/mrredis/mrredis/internal/model"
)

// BenchmarkCoreOffers measures one offer round of the pure core: 100
// instances with 2 replicas each waiting, 20 agents offering.
func BenchmarkCoreOffers(b *testing.B) {
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		c := NewCore(DefaultCoreConfig())
		for j := 0; j < 100; j++ {
			inst := model.Instance{Spec: model.Spec{Name: fmt.Sprintf("i%d", j), MemoryMB: 64, Replicas: 2}, State: model.StateCreating, Created: t0}
			_, _ = c.Created(inst, t0)
		}
		var offers []Offer
		for j := 0; j < 20; j++ {
			o := agentOffer(j, 64*1024)
			o.Ports = []PortRange{{31000, 32000}}
			offers = append(offers, o)
		}
		b.StartTimer()
		c.Offers(offers, t0)
	}
}

// BenchmarkCoreStats measures handling one executor stats message (the
// most frequent event) with 100 running instances.
func BenchmarkCoreStats(b *testing.B) {
	h := &harness{t: &testing.T{}, c: NewCore(DefaultCoreConfig()), now: t0}
	for j := 0; j < 100; j++ {
		name := fmt.Sprintf("i%d", j)
		inst := model.Instance{Spec: model.Spec{Name: name, MemoryMB: 64, Replicas: 1}, State: model.StateCreating, Created: t0}
		_, _ = h.c.Created(inst, t0)
	}
	for round := 0; round < 2; round++ {
		var offers []Offer
		for j := 0; j < 20; j++ {
			o := agentOffer(j, 64*1024)
			o.Ports = []PortRange{{31000 + round*500, 31499 + round*500}}
			offers = append(offers, o)
		}
		h.running(launched(h.c.Offers(offers, h.now)))
	}
	is := h.c.instances["i0"]
	var st []execproto.MemberStats
	for _, id := range is.memberIDs() {
		st = append(st, execproto.MemberStats{TaskID: id, LinkUp: true, ReplOffset: 1})
	}
	msg := execproto.ExecutorMessage{Kind: execproto.KindStats, Stats: st}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		h.c.Message(msg, h.now)
	}
}

// BenchmarkFailover measures, on local Mesos with real redis-servers, the
// time from SIGKILL of the master's redis-server to /master naming the
// promoted replica (reported as ms/failover).
func BenchmarkFailover(b *testing.B) {
	w := newWorld(b, 4)
	r := w.startScheduler(nil)
	base := r.s.URL()
	ctx := context.Background()
	if code, body := httpDo(b, base, http.MethodPost, "/api/v1/instances", model.Spec{Name: "bench", MemoryMB: 16, Replicas: 2}); code != 202 {
		b.Fatalf("create: %d %s", code, body)
	}
	v := waitRunning(b, base, "bench", 2, 40*time.Second)
	var total time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		pid := masterPID(b, ctx, v.Master)
		old := v.Master
		b.StartTimer()
		start := time.Now()
		_ = syscall.Kill(pid, syscall.SIGKILL)
		waitFor(b, 20*time.Second, "new master", func() (bool, string) {
			m, _, err := w.store.GetMaster(ctx, "bench")
			return err == nil && m != old, m
		})
		total += time.Since(start)
		b.StopTimer()
		v = waitRunningNot(b, base, "bench", 2, old, 40*time.Second)
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/failover")
	httpDo(b, base, http.MethodDelete, "/api/v1/instances/bench", nil)
	waitFor(b, 20*time.Second, "no redis-server left", func() (bool, string) {
		return len(redisUnder(w.mesos.WorkDir())) == 0, ""
	})
}
