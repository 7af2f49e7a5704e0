package client

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mrredis/mrredis/internal/model"
)

func TestParseBaseURL(t *testing.T) {
	tests := []struct {
		in, want, err string
	}{
		{in: "http://localhost:5656", want: "http://localhost:5656"},
		{in: "localhost:5656", want: "http://localhost:5656"},
		{in: "http://10.0.0.1:5656/", want: "http://10.0.0.1:5656"},
		{in: "http://10.0.0.1:5656/api/v1/", want: "http://10.0.0.1:5656"},
		{in: "https://mrr.example.com/mrredis", want: "https://mrr.example.com/mrredis"},
		{in: " http://h:1 ", want: "http://h:1"},
		{in: "", err: "scheduler address is empty"},
		{in: "ftp://h:1", err: `has scheme "ftp"`},
		{in: "http://", err: "has no host"},
		{in: "http://h:1:2:x%zz", err: "is not a URL"},
	}
	for _, tt := range tests {
		u, err := ParseBaseURL(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseBaseURL(%q) error = %v, want containing %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseBaseURL(%q): %v", tt.in, err)
			continue
		}
		if u.String() != tt.want {
			t.Errorf("ParseBaseURL(%q) = %q, want %q", tt.in, u, tt.want)
		}
	}
}

// recorded holds answers shaped like mrr-sched's, to check how the client
// maps them; the client's behaviour against the real scheduler is covered
// by the integration tests.
var recorded = map[string]struct {
	status      int
	contentType string
	body        string
}{
	"POST /api/v1/instances":             {400, "application/json", `{"error":"memory_mb 1 is out of range: use 16 to 262144"}` + "\n"},
	"GET /api/v1/instances/nosuch":       {404, "application/json", `{"error":"instance nosuch does not exist"}`},
	"DELETE /api/v1/instances/busy":      {409, "application/json", `{"error":"instance busy is being deleted"}`},
	"GET /api/v1/instances":              {503, "application/json", `{"error":"this scheduler is not the leader; the leader is 10.0.0.2:5656"}`},
	"PATCH /api/v1/instances/proxied":    {502, "text/html", "<html><body>Bad Gateway</body></html>"},
	"POST /api/v1/instances/x/failover":  {500, "text/plain", "internal error\n"},
	"GET /api/v1/instances/cache":        {200, "application/json", `{"name":"cache","memory_mb":64,"replicas":1,"proxy_port":6100,"state":"RUNNING","failovers":0,"created":"2026-11-23T18:00:00Z","updated":"2026-11-23T18:00:01Z","master":"127.0.0.2:31000","members":[{"task_id":"cache-m-1","agent_id":"a1","executor_id":"e1","host":"127.0.0.2","port":31000,"role":"master","state":"TASK_RUNNING","repl_offset":42,"link_up":false,"lag_bytes":0,"used_memory":1048576,"ops_per_sec":7,"connected_clients":2,"last_seen":"2026-11-23T18:00:01Z"}],"replicas_in_sync":1,"failover_history":[]}`},
	"GET /api/v1/instances/notjson":      {200, "text/html", "<html>dashboard</html>"},
	"DELETE /api/v1/instances/gone-soon": {202, "application/json", ""},
	"GET /api/v1/events":                 {503, "application/json", `{"error":"the scheduler is starting; try again in a few seconds"}`},
}

func recordedServer(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, ok := recorded[r.Method+" "+r.URL.Path]
		if !ok {
			t.Errorf("unexpected request %s %s", r.Method, r.URL.Path)
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", a.contentType)
		w.WriteHeader(a.status)
		_, _ = w.Write([]byte(a.body))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestAPIErrorMapping(t *testing.T) {
	srv := recordedServer(t)
	c := New(srv.URL)
	ctx := context.Background()
	tests := []struct {
		name   string
		call   func() error
		status int
		msg    string
	}{
		{"validation", func() error { _, err := c.Create(ctx, model.Spec{Name: "a", MemoryMB: 1}); return err }, 400, "memory_mb 1 is out of range: use 16 to 262144"},
		{"not found", func() error { _, err := c.Get(ctx, "nosuch"); return err }, 404, "instance nosuch does not exist"},
		{"conflict", func() error { return c.Delete(ctx, "busy") }, 409, "instance busy is being deleted"},
		{"unavailable", func() error { _, err := c.List(ctx); return err }, 503, "this scheduler is not the leader; the leader is 10.0.0.2:5656"},
		{"html from a proxy", func() error { _, err := c.Scale(ctx, "proxied", 2); return err }, 502, "answered PATCH " + srv.URL + "/api/v1/instances/proxied with HTTP 502 Bad Gateway"},
		{"plain text", func() error { _, err := c.Failover(ctx, "x"); return err }, 500, "with HTTP 500 Internal Server Error: internal error"},
		{"event stream refused", func() error { _, err := c.Events(ctx); return err }, 503, "the scheduler is starting; try again in a few seconds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			var ae *APIError
			if !errors.As(err, &ae) {
				t.Fatalf("error = %T %v, want *APIError", err, err)
			}
			if ae.Status != tt.status {
				t.Errorf("Status = %d, want %d", ae.Status, tt.status)
			}
			if !strings.Contains(ae.Message, tt.msg) {
				t.Errorf("Message = %q, want containing %q", ae.Message, tt.msg)
			}
			if strings.Contains(ae.Message, "<html>") {
				t.Errorf("Message %q carries HTML", ae.Message)
			}
			if got := IsNotFound(err); got != (tt.status == 404) {
				t.Errorf("IsNotFound = %v", got)
			}
			if got := IsConflict(err); got != (tt.status == 409) {
				t.Errorf("IsConflict = %v", got)
			}
			if IsUnreachable(err) {
				t.Errorf("IsUnreachable = true for an answer")
			}
		})
	}
}

func TestDecodesAnswers(t *testing.T) {
	srv := recordedServer(t)
	c := New(srv.URL + "/api/v1/")
	ctx := context.Background()
	v, err := c.Get(ctx, "cache")
	if err != nil {
		t.Fatal(err)
	}
	if v.Name != "cache" || v.State != model.StateRunning || v.ProxyPort != 6100 || len(v.Members) != 1 ||
		v.Members[0].Addr() != "127.0.0.2:31000" || v.Members[0].UsedMemory != 1048576 || v.ReplicasInSync != 1 {
		t.Errorf("decoded view = %+v", v)
	}
	if !Ready(v) {
		t.Errorf("Ready = false for a RUNNING instance with its replica in sync")
	}
	if err := c.Delete(ctx, "gone-soon"); err != nil {
		t.Errorf("Delete with an empty 202 answer: %v", err)
	}
	_, err = c.Get(ctx, "notjson")
	if err == nil || !strings.Contains(err.Error(), "is not the expected JSON") {
		t.Errorf("Get of a non-JSON answer: error = %v", err)
	}
}

// closedPort is a loopback address where nothing listens.
func closedPort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestUnreachable(t *testing.T) {
	base := "http://" + closedPort(t)
	c := New(base)
	ctx := context.Background()
	calls := map[string]func() error{
		"list":   func() error { _, err := c.List(ctx); return err },
		"create": func() error { _, err := c.Create(ctx, model.Spec{Name: "a", MemoryMB: 64}); return err },
		"events": func() error { _, err := c.Events(ctx); return err },
		"wait":   func() error { _, err := c.Wait(ctx, "a", nil); return err },
	}
	for name, call := range calls {
		err := call()
		want := "cannot reach the scheduler at " + base + ": connection refused"
		if err == nil || err.Error() != want {
			t.Errorf("%s: error = %v, want %q", name, err, want)
		}
		if !IsUnreachable(err) {
			t.Errorf("%s: IsUnreachable = false for %v", name, err)
		}
	}
}

func TestCanceledContextIsNotUnreachable(t *testing.T) {
	c := New("http://" + closedPort(t))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.List(ctx)
	if !errors.Is(err, context.Canceled) || IsUnreachable(err) {
		t.Errorf("error = %v, want context.Canceled", err)
	}
}

func TestUnresolvableHost(t *testing.T) {
	c := New("http://no-such-host.invalid:5656", WithTimeout(10*time.Second))
	_, err := c.List(context.Background())
	if !IsUnreachable(err) || !strings.Contains(err.Error(), `cannot reach the scheduler at http://no-such-host.invalid:5656: host name "no-such-host.invalid" does not resolve`) {
		t.Errorf("error = %v", err)
	}
}

func TestBadBaseURL(t *testing.T) {
	c := New("ftp://x")
	_, err := c.List(context.Background())
	if err == nil || !strings.Contains(err.Error(), `has scheme "ftp"`) {
		t.Errorf("error = %v", err)
	}
	if c.BaseURL() != "" {
		t.Errorf("BaseURL = %q for an unusable address", c.BaseURL())
	}
}

func TestReadEvents(t *testing.T) {
	stream := ": hello\n\n" +
		"retry: 1000\n" +
		"data: {\"kind\":\"instance\",\"name\":\"a\"}\n\n" +
		"event: message\r\nid: 7\r\ndata:{\"kind\":\"deleted\",\r\ndata: \"name\":\"b\"}\r\n\r\n" +
		"data: {\"kind\":\"failover\",\"name\":\"c\"}\n\n" +
		"data: {\"partial\":"
	var got []string
	err := readEvents(strings.NewReader(stream), func(d string) bool { got = append(got, d); return true })
	want := []string{`{"kind":"instance","name":"a"}`, "{\"kind\":\"deleted\",\n\"name\":\"b\"}", `{"kind":"failover","name":"c"}`}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("events = %q, want %q", got, want)
	}
	if err == nil {
		t.Errorf("a stream ending mid-event returned no error")
	}
	got = nil
	_ = readEvents(strings.NewReader(stream), func(d string) bool { got = append(got, d); return false })
	if len(got) != 1 {
		t.Errorf("emit returning false did not stop the reader: %d events", len(got))
	}
}

func TestStateError(t *testing.T) {
	tests := []struct {
		e    StateError
		want string
	}{
		{StateError{Name: "a", State: model.StateFailed, Reason: "no agent has 512 MB free"}, "instance a is FAILED: no agent has 512 MB free"},
		{StateError{Name: "a", State: model.StateDeleting}, "instance a is DELETING"},
		{StateError{Name: "a", State: model.StateDeleted}, "instance a was deleted while waiting for it"},
	}
	for _, tt := range tests {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}

// FuzzReadEvents checks that any stream parses without panicking and that
// every event carries only what data lines said.
func FuzzReadEvents(f *testing.F) {
	f.Add("data: {\"kind\":\"instance\"}\n\n")
	f.Add("event: x\r\ndata:a\r\ndata: b\r\n\r\n: c\n\ndata")
	f.Add("\n\n\ndata:\n\n")
	f.Fuzz(func(t *testing.T, stream string) {
		_ = readEvents(strings.NewReader(stream), func(d string) bool {
			for _, line := range strings.Split(d, "\n") {
				if !strings.Contains(stream, line) {
					t.Fatalf("event data line %q is not in the stream %q", line, stream)
				}
			}
			return true
		})
	})
}

// TestSilentStreamIsClosed: a connection that stays open but carries
// nothing (a partition that never closed it) ends the event stream, so
// that callers such as Wait reconnect.
func TestSilentStreamIsClosed(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	hold := make(chan struct{})
	defer close(hold)
	go func() {
		conn, err := l.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		buf := make([]byte, 4096)
		_, _ = conn.Read(buf) // the request
		_, _ = conn.Write([]byte("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n" +
			"data: {\"kind\":\"deleted\",\"name\":\"a\"}\n\n"))
		<-hold // then silence, connection open
	}()
	c := New("http://"+l.Addr().String(), WithStreamIdleTimeout(200*time.Millisecond))
	events, err := c.Events(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var got []model.Event
	deadline := time.After(10 * time.Second)
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				if len(got) != 1 || got[0].Name != "a" {
					t.Errorf("events before the stream closed: %+v", got)
				}
				return
			}
			got = append(got, ev)
		case <-deadline:
			t.Fatal("a silent stream was not closed")
		}
	}
}
