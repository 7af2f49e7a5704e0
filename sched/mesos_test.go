package sched

import (
	"context"
	"errors"
	"flag"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/encoding"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"
)

// silentStream is a subscription that never sends anything: Decode blocks
// until Close.
type silentStream struct {
	once   sync.Once
	closed chan struct{}
}

func (s *silentStream) Decode(encoding.Unmarshaler) error {
	<-s.closed
	return errors.New("stream closed")
}

func (s *silentStream) Close() error { s.once.Do(func() { close(s.closed) }); return nil }

type recordCaller struct {
	last   *scheduler.Call
	stream *silentStream
}

func (r *recordCaller) Call(_ context.Context, c *scheduler.Call) (mesos.Response, error) {
	r.last = c
	if c.GetType() == scheduler.Call_SUBSCRIBE {
		return r.stream, nil
	}
	return nil, nil
}

func TestHeartbeatWatchdog(t *testing.T) {
	inner := &recordCaller{stream: &silentStream{closed: make(chan struct{})}}
	var interval atomic.Int64
	interval.Store(int64(20 * time.Millisecond))
	w := &watchdogCaller{Caller: inner, interval: &interval, frameworkID: func() string { return "fw-1" }}
	resp, err := w.Call(context.Background(), calls.Subscribe(&mesos.FrameworkInfo{User: "u", Name: "n"}))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- resp.Decode(nil) }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("decode of a silent stream returned no error")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a stream silent for 5 heartbeats was not closed")
	}
	// Other calls get the framework id.
	if _, err := w.Call(context.Background(), calls.Revive()); err != nil {
		t.Fatal(err)
	}
	if got := inner.last.GetFrameworkID().GetValue(); got != "fw-1" {
		t.Fatalf("framework id on REVIVE = %q, want fw-1", got)
	}
}

func TestToOffer(t *testing.T) {
	o := mesos.Offer{
		ID: mesos.OfferID{Value: "o1"}, AgentID: mesos.AgentID{Value: "m-S1"}, Hostname: "127.0.0.3",
		Resources: []mesos.Resource{
			{Name: "cpus", Type: mesos.SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: 2}},
			{Name: "mem", Type: mesos.SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: 1024}},
			{Name: "ports", Type: mesos.RANGES.Enum(), Ranges: &mesos.Value_Ranges{Range: []mesos.Value_Range{{Begin: 31000, End: 31005}}}},
		},
		ExecutorIDs: []mesos.ExecutorID{{Value: "mrr-a-S1"}},
	}
	got := toOffer(o)
	if got.ID != "o1" || got.AgentID != "m-S1" || got.CPUs != 2 || got.MemMB != 1024 ||
		len(got.Ports) != 1 || got.Ports[0] != (PortRange{31000, 31005}) || got.ExecutorIDs[0] != "mrr-a-S1" {
		t.Fatalf("toOffer: %+v", got)
	}
}

func TestConfigFlags(t *testing.T) {
	t.Setenv("MRR_MASTER", "local:5")
	t.Setenv("MRR_PORT_RANGE", "7000-7010")
	var c Config
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	c.RegisterFlags(fs)
	if err := fs.Parse([]string{"--listen", ":9999", "--anti-affinity=false", "--ping-interval", "100ms",
		"--executor-env", "MRR_STATS_INTERVAL=200ms", "--executor-env", "MRR_KILL_GRACE=3s"}); err != nil {
		t.Fatal(err)
	}
	if c.Master != "local:5" || c.PortLo != 7000 || c.PortHi != 7010 || c.Listen != ":9999" || c.AntiAffinity ||
		c.PingInterval != 100*time.Millisecond || c.FailoverTimeout != 168*time.Hour || c.FrameworkName != "mrredis" {
		t.Fatalf("flags: %+v", c)
	}
	if len(c.ExecutorEnv) != 2 || c.ExecutorEnv[1] != "MRR_KILL_GRACE=3s" {
		t.Fatalf("executor env: %v", c.ExecutorEnv)
	}
	if err := fs.Parse([]string{"--executor-env", "novalue"}); err == nil {
		t.Fatal("executor env without = accepted")
	}
	if err := fs.Parse([]string{"--port-range", "9-1"}); err == nil {
		t.Fatal("bad port range accepted")
	}
	for _, tc := range []struct {
		in    string
		local bool
		n     int
		bad   bool
	}{{"local", true, 3, false}, {"local:1", true, 1, false}, {"local:x", true, 0, true}, {"http://m:5050", false, 0, false}} {
		local, n, err := localMaster(tc.in, 3)
		if local != tc.local || n != tc.n || (err != nil) != tc.bad {
			t.Errorf("localMaster(%q) = %v %d %v", tc.in, local, n, err)
		}
	}
}
