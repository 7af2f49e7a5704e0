package zkstore

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/mrredis/mrredis/internal/model"
	"github.com/mrredis/mrredis/internal/testenv"
)

func benchStores(b *testing.B) (*Store, *Store, context.Context) {
	testenv.NeedProcesses(b)
	zks := testenv.ZooKeeper(b)
	root := testenv.Root(b)
	open := func() *Store {
		s, err := Open(context.Background(), Config{Servers: []string{zks.Addr()}, Root: root})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(s.Close)
		return s
	}
	a, c := open(), open()
	ctx := context.Background()
	if _, err := a.CreateInstance(ctx, model.Instance{Spec: model.Spec{Name: "db", MemoryMB: 64}}); err != nil {
		b.Fatal(err)
	}
	if _, err := a.SetMaster(ctx, "db", "h:1", -1); err != nil {
		b.Fatal(err)
	}
	return a, c, ctx
}

// BenchmarkGetInstance measures one read round trip.
func BenchmarkGetInstance(b *testing.B) {
	s, _, ctx := benchStores(b)
	b.ResetTimer()
	for b.Loop() {
		if _, _, err := s.GetInstance(ctx, "db"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUpdateInstanceCAS measures a read-modify-write with CAS.
func BenchmarkUpdateInstanceCAS(b *testing.B) {
	s, _, ctx := benchStores(b)
	for b.Loop() {
		inst, v, err := s.GetInstance(ctx, "db")
		if err != nil {
			b.Fatal(err)
		}
		inst.Failovers++
		if _, err := s.UpdateInstance(ctx, inst, v); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMasterWatchLatency measures how long a master change takes to
// reach another client's WatchMaster: the ZooKeeper part of a failover as
// a proxy sees it.
func BenchmarkMasterWatchLatency(b *testing.B) {
	s, watcher, ctx := benchStores(b)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w := watcher.WatchMaster(wctx, "db")
	<-w
	var total time.Duration
	i := 0
	for b.Loop() {
		i++
		addr := fmt.Sprintf("h:%d", i%60000+2)
		start := time.Now()
		if _, err := s.ForceSetMaster(ctx, "db", addr); err != nil {
			b.Fatal(err)
		}
		for c := range w {
			if c.Addr == addr {
				break
			}
		}
		total += time.Since(start)
	}
	b.ReportMetric(float64(total.Microseconds())/float64(i), "us/change")
}

// BenchmarkReservePort measures reserving and releasing a port in a range
// where 100 ports are already taken.
func BenchmarkReservePort(b *testing.B) {
	s, _, ctx := benchStores(b)
	for i := range 100 {
		if _, err := s.ReservePort(ctx, fmt.Sprintf("x%d", i), 6100, 6300); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		p, err := s.ReservePort(ctx, "db", 6100, 6300)
		if err != nil {
			b.Fatal(err)
		}
		if err := s.ReleasePort(ctx, p, "db"); err != nil {
			b.Fatal(err)
		}
	}
}
