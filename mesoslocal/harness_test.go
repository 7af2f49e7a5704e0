package mesoslocal

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/gogo/protobuf/proto"
	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/backoff"
	"github.com/mesos/mesos-go/api/v1/lib/encoding"
	"github.com/mesos/mesos-go/api/v1/lib/encoding/codecs"
	"github.com/mesos/mesos-go/api/v1/lib/extras/scheduler/controller"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli/httpsched"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/events"

	"github.com/mrredis/mrredis/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

var codecNames = []string{"protobuf", "json"}

func mediaType(name string) encoding.MediaType {
	if name == "json" {
		return codecs.MediaTypeJSON
	}
	return codecs.MediaTypeProtobuf
}

// logWriter sends the cluster's logs to t until the test ends.
type logWriter struct {
	mu   sync.Mutex
	t    testing.TB
	done bool
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(string(p[:len(p)-1]))
	}
	return len(p), nil
}

func testLogger(t testing.TB) *slog.Logger {
	w := &logWriter{t: t}
	t.Cleanup(func() { w.mu.Lock(); w.done = true; w.mu.Unlock() })
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// startCluster starts a 2-agent cluster with short timeouts for tests.
func startCluster(t testing.TB, mutate func(*Config)) *Cluster {
	t.Helper()
	cfg := Config{
		Listen:                  "127.0.0.1:0",
		Agents:                  2,
		WorkDir:                 t.TempDir(),
		HeartbeatInterval:       time.Second,
		AgentRemovalTimeout:     time.Second,
		ExecutorRegisterTimeout: 10 * time.Second,
		StatusUpdateRetry:       500 * time.Millisecond,
		Logger:                  testLogger(t),
	}
	if mutate != nil {
		mutate(&cfg)
	}
	c, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("start cluster: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// testScheduler is a framework on mesos-go's httpsched and controller that
// records every event for the test to wait on.
type testScheduler struct {
	t       testing.TB
	caller  calls.Caller
	events  chan *scheduler.Event
	cancel  context.CancelFunc
	done    chan struct{}
	mu      sync.Mutex
	fwID    string
	autoAck bool
	backlog []*scheduler.Event // events received but not yet returned by next
}

type schedOpt func(*mesos.FrameworkInfo, *testScheduler)

func withFailover(d time.Duration, id string) schedOpt {
	return func(fi *mesos.FrameworkInfo, s *testScheduler) {
		secs := d.Seconds()
		fi.FailoverTimeout = &secs
		s.fwID = id
	}
}

func partitionAware() schedOpt {
	return func(fi *mesos.FrameworkInfo, _ *testScheduler) {
		fi.Capabilities = append(fi.Capabilities, mesos.FrameworkInfo_Capability{Type: mesos.FrameworkInfo_Capability_PARTITION_AWARE})
	}
}

func checkpointing() schedOpt {
	return func(fi *mesos.FrameworkInfo, _ *testScheduler) { fi.Checkpoint = proto.Bool(true) }
}

func noAutoAck() schedOpt {
	return func(_ *mesos.FrameworkInfo, s *testScheduler) { s.autoAck = false }
}

func startScheduler(t testing.TB, c *Cluster, codec string, opts ...schedOpt) *testScheduler {
	t.Helper()
	info := mesos.FrameworkInfo{User: "test", Name: "test-" + t.Name()}
	s := &testScheduler{t: t, events: make(chan *scheduler.Event, 100000), done: make(chan struct{}), autoAck: true}
	for _, o := range opts {
		o(&info, s)
	}
	client := httpcli.New(
		httpcli.Endpoint(c.URL()+"/api/v1/scheduler"),
		httpcli.Codec(codecs.ByMediaType[mediaType(codec)]),
		httpcli.Do(httpcli.With(httpcli.Timeout(5*time.Second))),
	)
	s.caller = httpsched.NewCaller(client)
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go func() {
		defer close(s.done)
		_ = controller.Run(ctx, &info, s.caller,
			controller.WithEventHandler(events.HandlerFunc(s.handle)),
			controller.WithFrameworkID(s.FrameworkID),
			controller.WithRegistrationTokens(backoff.Notifier(50*time.Millisecond, 500*time.Millisecond, ctx.Done())),
		)
	}()
	t.Cleanup(s.stop)
	return s
}

// stop closes the scheduler's connection, as a scheduler process dying would.
func (s *testScheduler) stop() {
	s.cancel()
	<-s.done
}

func (s *testScheduler) FrameworkID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fwID
}

func (s *testScheduler) handle(ctx context.Context, e *scheduler.Event) error {
	switch e.Type {
	case scheduler.Event_SUBSCRIBED:
		s.mu.Lock()
		s.fwID = e.Subscribed.FrameworkID.Value
		s.mu.Unlock()
	case scheduler.Event_ERROR:
		// Like a real scheduler: an ERROR (failed over, removed) ends it.
		s.cancel()
	case scheduler.Event_UPDATE:
		st := e.Update.Status
		if s.autoAck && len(st.UUID) > 0 {
			if err := s.call(calls.Acknowledge(st.AgentID.Value, st.TaskID.Value, st.UUID)); err != nil {
				s.t.Logf("acknowledge %s: %v", st.TaskID.Value, err)
			}
		}
	}
	s.events <- e
	return nil
}

func (s *testScheduler) call(c *scheduler.Call) error {
	c.With(calls.Framework(s.FrameworkID()))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := s.caller.Call(ctx, c)
	if resp != nil {
		resp.Close()
	}
	return err
}

func (s *testScheduler) mustCall(c *scheduler.Call) {
	s.t.Helper()
	if err := s.call(c); err != nil {
		s.t.Fatalf("%s call: %v", c.Type, err)
	}
}

// next returns the oldest event not yet returned that matches pred,
// failing the test after timeout. Events that do not match are kept for
// later calls.
func (s *testScheduler) next(timeout time.Duration, what string, pred func(*scheduler.Event) bool) *scheduler.Event {
	s.t.Helper()
	for i, e := range s.backlog {
		if pred(e) {
			s.backlog = append(s.backlog[:i:i], s.backlog[i+1:]...)
			return e
		}
	}
	deadline := time.After(timeout)
	for {
		select {
		case e := <-s.events:
			if pred(e) {
				return e
			}
			if e.Type != scheduler.Event_HEARTBEAT {
				s.backlog = append(s.backlog, e)
			}
		case <-deadline:
			s.t.Fatalf("no %s within %s", what, timeout)
			return nil
		}
	}
}

func (s *testScheduler) waitSubscribed() *scheduler.Event_Subscribed {
	s.t.Helper()
	return s.next(10*time.Second, "SUBSCRIBED", func(e *scheduler.Event) bool { return e.Type == scheduler.Event_SUBSCRIBED }).Subscribed
}

func (s *testScheduler) waitOffers() []mesos.Offer {
	s.t.Helper()
	return s.next(10*time.Second, "OFFERS", func(e *scheduler.Event) bool { return e.Type == scheduler.Event_OFFERS }).Offers.Offers
}

// waitUpdate waits for an update of task id to state.
func (s *testScheduler) waitUpdate(id string, state mesos.TaskState) mesos.TaskStatus {
	s.t.Helper()
	e := s.next(20*time.Second, "UPDATE "+id+" "+state.String(), func(e *scheduler.Event) bool {
		return e.Type == scheduler.Event_UPDATE && e.Update.Status.TaskID.Value == id && e.Update.Status.GetState() == state
	})
	return e.Update.Status
}

func scalar(name string, v float64) mesos.Resource {
	return mesos.Resource{Name: name, Type: mesos.SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: v}}
}

// executorTask builds a task for the test executor with the given mode
// (finish, run, crash, child). The executor binary is fetched into the
// sandbox from its build path.
func executorTask(t testing.TB, agentID mesos.AgentID, id, mode, codec string, env ...mesos.Environment_Variable) mesos.TaskInfo {
	bin := testenv.Binary(t, "github.com/mrredis/mrredis/mesoslocal/internal/testexecutor")
	env = append(env, mesos.Environment_Variable{Name: "TESTEXEC_CODEC", Value: proto.String(codec)})
	return mesos.TaskInfo{
		Name:      id,
		TaskID:    mesos.TaskID{Value: id},
		AgentID:   agentID,
		Resources: []mesos.Resource{scalar("cpus", 0.5), scalar("mem", 64)},
		Data:      []byte(mode),
		Executor: &mesos.ExecutorInfo{
			ExecutorID: mesos.ExecutorID{Value: "ex-" + id},
			Name:       proto.String("test executor"),
			Command: &mesos.CommandInfo{
				Value:       proto.String("./testexecutor"),
				URIs:        []mesos.CommandInfo_URI{{Value: bin, Executable: proto.Bool(true)}},
				Environment: &mesos.Environment{Variables: env},
			},
			Resources:           []mesos.Resource{scalar("cpus", 0.1), scalar("mem", 32)},
			ShutdownGracePeriod: &mesos.DurationInfo{Nanoseconds: int64(2 * time.Second)},
		},
	}
}

func launch(offers []mesos.Offer, tasks ...mesos.TaskInfo) *scheduler.Call {
	ids := make([]mesos.OfferID, len(offers))
	for i, o := range offers {
		ids[i] = o.ID
	}
	return calls.Accept(calls.OfferOperations{calls.OpLaunch(tasks...)}.WithOffers(ids...)).With(calls.RefuseSeconds(time.Millisecond))
}

// offerOn returns the offer for agent i of c.
func offerOn(t testing.TB, c *Cluster, offers []mesos.Offer, i int) mesos.Offer {
	t.Helper()
	id := c.Agents()[i].ID
	for _, o := range offers {
		if o.AgentID.Value == id {
			return o
		}
	}
	t.Fatalf("no offer for agent %d (%s) among %d offers", i, id, len(offers))
	return mesos.Offer{}
}
