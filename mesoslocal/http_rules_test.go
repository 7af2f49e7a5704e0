package mesoslocal

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gogo/protobuf/proto"
	mesos "github.com/mesos/mesos-go/api/v1/lib"
	executorpb "github.com/mesos/mesos-go/api/v1/lib/executor"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
)

func jsonOf(t testing.TB, m any) []byte {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func protoOf(t testing.TB, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type rawReq struct {
	method, contentType, accept, streamID string
	body                                  []byte
}

func (r rawReq) do(t testing.TB, url string) *http.Response {
	t.Helper()
	method := r.method
	if method == "" {
		method = http.MethodPost
	}
	req, err := http.NewRequest(method, url, bytes.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	if r.contentType != "" {
		req.Header.Set("Content-Type", r.contentType)
	}
	if r.accept != "" {
		req.Header.Set("Accept", r.accept)
	}
	if r.streamID != "" {
		req.Header.Set("Mesos-Stream-Id", r.streamID)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	return res
}

// readRecord reads one RecordIO record.
func readRecord(t testing.TB, r *bufio.Reader) []byte {
	t.Helper()
	line, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("read record length: %v", err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatalf("record length %q: %v", line, err)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		t.Fatalf("read record: %v", err)
	}
	return b
}

func subscribeCall(name string, fwID string) *scheduler.Call {
	info := &mesos.FrameworkInfo{User: "u", Name: name}
	secs := 60.0
	info.FailoverTimeout = &secs
	c := &scheduler.Call{Type: scheduler.Call_SUBSCRIBE, Subscribe: &scheduler.Call_Subscribe{FrameworkInfo: info}}
	if fwID != "" {
		info.ID = &mesos.FrameworkID{Value: fwID}
		c.FrameworkID = &mesos.FrameworkID{Value: fwID}
	}
	return c
}

// rawSubscribe subscribes with plain HTTP and returns the open response,
// the framework id and the stream id.
func rawSubscribe(t testing.TB, url, name string) (*http.Response, string, string) {
	t.Helper()
	res := rawReq{contentType: "application/json", accept: "application/json", body: jsonOf(t, subscribeCall(name, ""))}.do(t, url)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("SUBSCRIBE: %s", res.Status)
	}
	var ev scheduler.Event
	if err := json.Unmarshal(readRecord(t, bufio.NewReader(res.Body)), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Type != scheduler.Event_SUBSCRIBED {
		t.Fatalf("first event %v, want SUBSCRIBED", ev.Type)
	}
	return res, ev.Subscribed.FrameworkID.Value, res.Header.Get("Mesos-Stream-Id")
}

func TestSchedulerHTTPRules(t *testing.T) {
	c := startCluster(t, func(cfg *Config) { cfg.Agents = 1 })
	url := c.URL() + "/api/v1/scheduler"
	live, fwID, sid := rawSubscribe(t, url, "live")
	defer live.Body.Close()
	gone, goneID, goneSID := rawSubscribe(t, url, "gone")
	gone.Body.Close()
	waitFor(t, 5*time.Second, "framework disconnected", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return !c.frameworks[goneID].connected
	})
	call := func(typ scheduler.Call_Type, id string) *scheduler.Call {
		c := &scheduler.Call{Type: typ}
		if id != "" {
			c.FrameworkID = &mesos.FrameworkID{Value: id}
		}
		return c
	}
	revive := call(scheduler.Call_REVIVE, fwID)
	badAck := call(scheduler.Call_ACKNOWLEDGE, fwID)
	badAck.Acknowledge = &scheduler.Call_Acknowledge{AgentID: mesos.AgentID{Value: "a"}, TaskID: mesos.TaskID{Value: "t"}, UUID: []byte("abc")}
	mismatch := subscribeCall("x", "one")
	mismatch.Subscribe.FrameworkInfo.ID = &mesos.FrameworkID{Value: "two"}
	noUser := subscribeCall("x", "")
	noUser.Subscribe.FrameworkInfo.User = ""

	for _, tc := range []struct {
		name string
		req  rawReq
		code int
	}{
		{"GET is not allowed", rawReq{method: http.MethodGet}, 405},
		{"PUT is not allowed", rawReq{method: http.MethodPut, contentType: "application/json", body: jsonOf(t, revive)}, 405},
		{"missing Content-Type", rawReq{body: jsonOf(t, revive), streamID: sid}, 400},
		{"unsupported Content-Type", rawReq{contentType: "text/plain", body: []byte("hi")}, 415},
		{"recordio Content-Type", rawReq{contentType: "application/recordio", body: []byte("0\n")}, 415},
		{"unacceptable Accept", rawReq{contentType: "application/json", accept: "text/html", body: jsonOf(t, subscribeCall("x", ""))}, 406},
		{"malformed JSON", rawReq{contentType: "application/json", body: []byte("{nope")}, 400},
		{"malformed protobuf", rawReq{contentType: "application/x-protobuf", body: []byte{0xff, 0xff, 0xff}}, 400},
		{"protobuf missing required user", rawReq{contentType: "application/x-protobuf", body: protoOfUnchecked(noUser)}, 400},
		{"JSON missing required user", rawReq{contentType: "application/json", body: jsonOf(t, noUser)}, 400},
		{"SUBSCRIBE with Mesos-Stream-Id", rawReq{contentType: "application/json", streamID: sid, body: jsonOf(t, subscribeCall("x", ""))}, 400},
		{"SUBSCRIBE framework_id differs", rawReq{contentType: "application/json", body: jsonOf(t, mismatch)}, 400},
		{"missing type", rawReq{contentType: "application/json", streamID: sid, body: []byte(`{"framework_id":{"value":"` + fwID + `"}}`)}, 400},
		{"missing framework_id", rawReq{contentType: "application/json", streamID: sid, body: jsonOf(t, call(scheduler.Call_REVIVE, ""))}, 400},
		{"unknown framework", rawReq{contentType: "application/json", streamID: sid, body: jsonOf(t, call(scheduler.Call_REVIVE, "nope"))}, 400},
		{"disconnected framework", rawReq{contentType: "application/json", streamID: goneSID, body: jsonOf(t, call(scheduler.Call_REVIVE, goneID))}, 403},
		{"missing Mesos-Stream-Id", rawReq{contentType: "application/json", body: jsonOf(t, revive)}, 400},
		{"wrong Mesos-Stream-Id", rawReq{contentType: "application/json", streamID: "bogus", body: jsonOf(t, revive)}, 400},
		{"missing accept message", rawReq{contentType: "application/json", streamID: sid, body: jsonOf(t, call(scheduler.Call_ACCEPT, fwID))}, 400},
		{"ACKNOWLEDGE uuid not 16 bytes", rawReq{contentType: "application/json", streamID: sid, body: jsonOf(t, badAck)}, 400},
		{"valid REVIVE, JSON", rawReq{contentType: "application/json", streamID: sid, body: jsonOf(t, revive)}, 202},
		{"valid REVIVE, protobuf", rawReq{contentType: "application/x-protobuf", accept: "application/x-protobuf", streamID: sid, body: protoOf(t, revive)}, 202},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := tc.req.do(t, url)
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != tc.code {
				t.Fatalf("status %d (%s), want %d", res.StatusCode, strings.TrimSpace(string(body)), tc.code)
			}
			if tc.code == 202 && len(body) != 0 {
				t.Errorf("202 with body %q", body)
			}
		})
	}

	t.Run("SUBSCRIBE stream in protobuf", func(t *testing.T) {
		res := rawReq{contentType: "application/x-protobuf", accept: "application/x-protobuf", body: protoOf(t, subscribeCall("pb", ""))}.do(t, url)
		defer res.Body.Close()
		if res.StatusCode != 200 || res.Header.Get("Content-Type") != "application/x-protobuf" || res.Header.Get("Mesos-Stream-Id") == "" || res.ContentLength != -1 {
			t.Fatalf("status %d content-type %q stream id %q content-length %d", res.StatusCode, res.Header.Get("Content-Type"), res.Header.Get("Mesos-Stream-Id"), res.ContentLength)
		}
		r := bufio.NewReader(res.Body)
		var ev scheduler.Event
		for _, want := range []scheduler.Event_Type{scheduler.Event_SUBSCRIBED, scheduler.Event_HEARTBEAT} {
			if err := proto.Unmarshal(readRecord(t, r), &ev); err != nil {
				t.Fatal(err)
			}
			if ev.Type != want {
				t.Fatalf("event %v, want %v", ev.Type, want)
			}
		}
	})
	t.Run("SUBSCRIBE refused after 200", func(t *testing.T) {
		bad := subscribeCall("roles", "")
		bad.Subscribe.FrameworkInfo.Roles = []string{"a", "b"}
		res := rawReq{contentType: "application/json", body: jsonOf(t, bad)}.do(t, url)
		defer res.Body.Close()
		if res.StatusCode != 200 || res.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("status %d content-type %q", res.StatusCode, res.Header.Get("Content-Type"))
		}
		var ev scheduler.Event
		if err := json.Unmarshal(readRecord(t, bufio.NewReader(res.Body)), &ev); err != nil {
			t.Fatal(err)
		}
		if ev.Type != scheduler.Event_ERROR || !strings.Contains(ev.Error.Message, "MULTI_ROLE") {
			t.Fatalf("event %v %v, want ERROR about MULTI_ROLE", ev.Type, ev.Error)
		}
		if rest, _ := io.ReadAll(res.Body); len(rest) != 0 {
			t.Errorf("stream continued after ERROR: %q", rest)
		}
	})
}

func protoOfUnchecked(m proto.Message) []byte {
	// gogo's Marshal does not check required fields, so this builds the
	// body a sloppy client would send.
	b, _ := proto.Marshal(m)
	return b
}

func TestExecutorHTTPRules(t *testing.T) {
	c := startCluster(t, func(cfg *Config) { cfg.Agents = 1 })
	s := startScheduler(t, c, "protobuf")
	o := s.waitOffers()[0]
	task := executorTask(t, o.AgentID, "e1", "run", "json", mesos.Environment_Variable{Name: "TESTEXEC_NO_SUBSCRIBE", Value: proto.String("1")})
	s.mustCall(launch([]mesos.Offer{o}, task))
	fwID := s.FrameworkID()
	waitFor(t, 10*time.Second, "executor process started", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		ex := c.agents[0].executors[execKey{fwID, "ex-e1"}]
		return ex != nil && ex.started
	})
	url := "http://" + c.Agents()[0].Endpoint + "/api/v1/executor"
	uuid := newUUIDBytes()
	call := func(typ executorpb.Call_Type, fw, ex string) *executorpb.Call {
		c := &executorpb.Call{Type: typ, FrameworkID: mesos.FrameworkID{Value: fw}, ExecutorID: mesos.ExecutorID{Value: ex}}
		switch typ {
		case executorpb.Call_UPDATE:
			c.Update = &executorpb.Call_Update{Status: mesos.TaskStatus{TaskID: mesos.TaskID{Value: "e1"}, State: mesos.TASK_RUNNING.Enum(), Source: mesos.SOURCE_EXECUTOR.Enum(), UUID: uuid}}
		case executorpb.Call_MESSAGE:
			c.Message = &executorpb.Call_Message{Data: []byte("x")}
		case executorpb.Call_SUBSCRIBE:
			c.Subscribe = &executorpb.Call_Subscribe{}
		}
		return c
	}
	badUUID := call(executorpb.Call_UPDATE, fwID, "ex-e1")
	badUUID.Update.Status.UUID = []byte("short")
	staging := call(executorpb.Call_UPDATE, fwID, "ex-e1")
	staging.Update.Status.State = mesos.TASK_STAGING.Enum()
	otherExec := call(executorpb.Call_UPDATE, fwID, "ex-e1")
	otherExec.Update.Status.ExecutorID = &mesos.ExecutorID{Value: "someone-else"}
	for _, tc := range []struct {
		name string
		req  rawReq
		code int
	}{
		{"GET is not allowed", rawReq{method: http.MethodGet}, 405},
		{"missing Content-Type", rawReq{body: jsonOf(t, call(executorpb.Call_MESSAGE, fwID, "ex-e1"))}, 400},
		{"unsupported Content-Type", rawReq{contentType: "text/plain", body: []byte("x")}, 415},
		{"unacceptable Accept", rawReq{contentType: "application/json", accept: "text/html", body: jsonOf(t, call(executorpb.Call_SUBSCRIBE, fwID, "ex-e1"))}, 406},
		{"malformed body", rawReq{contentType: "application/json", body: []byte("[")}, 400},
		{"unknown framework", rawReq{contentType: "application/json", body: jsonOf(t, call(executorpb.Call_MESSAGE, "nope", "ex-e1"))}, 400},
		{"unknown executor", rawReq{contentType: "application/json", body: jsonOf(t, call(executorpb.Call_MESSAGE, fwID, "nope"))}, 400},
		{"UPDATE uuid not 16 bytes", rawReq{contentType: "application/json", body: jsonOf(t, badUUID)}, 400},
		{"UPDATE with TASK_STAGING", rawReq{contentType: "application/json", body: jsonOf(t, staging)}, 400},
		{"UPDATE for another executor id", rawReq{contentType: "application/json", body: jsonOf(t, otherExec)}, 400},
		{"UPDATE before SUBSCRIBE", rawReq{contentType: "application/json", body: jsonOf(t, call(executorpb.Call_UPDATE, fwID, "ex-e1"))}, 403},
		{"MESSAGE before SUBSCRIBE", rawReq{contentType: "application/x-protobuf", body: protoOf(t, call(executorpb.Call_MESSAGE, fwID, "ex-e1"))}, 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := tc.req.do(t, url)
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != tc.code {
				t.Fatalf("status %d (%s), want %d", res.StatusCode, strings.TrimSpace(string(body)), tc.code)
			}
		})
	}
	// A raw SUBSCRIBE gets SUBSCRIBED then the queued LAUNCH, and UPDATE is then accepted.
	res := rawReq{contentType: "application/json", accept: "application/json", body: jsonOf(t, call(executorpb.Call_SUBSCRIBE, fwID, "ex-e1"))}.do(t, url)
	defer res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "application/json" || res.Header.Get("Mesos-Stream-Id") != "" {
		t.Fatalf("executor SUBSCRIBE: status %d content-type %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
	r := bufio.NewReader(res.Body)
	for _, want := range []executorpb.Event_Type{executorpb.Event_SUBSCRIBED, executorpb.Event_LAUNCH} {
		var ev executorpb.Event
		if err := json.Unmarshal(readRecord(t, r), &ev); err != nil {
			t.Fatal(err)
		}
		if ev.Type != want {
			t.Fatalf("executor event %v, want %v", ev.Type, want)
		}
		if want == executorpb.Event_SUBSCRIBED && (ev.Subscribed.AgentInfo.Hostname != "127.0.0.2" || ev.Subscribed.ContainerID == nil) {
			t.Errorf("SUBSCRIBED agent_info %+v container %v", ev.Subscribed.AgentInfo, ev.Subscribed.ContainerID)
		}
	}
	upd := rawReq{contentType: "application/json", body: jsonOf(t, call(executorpb.Call_UPDATE, fwID, "ex-e1"))}.do(t, url)
	upd.Body.Close()
	if upd.StatusCode != 202 {
		t.Fatalf("UPDATE after SUBSCRIBE: %d", upd.StatusCode)
	}
	var ack executorpb.Event
	if err := json.Unmarshal(readRecord(t, r), &ack); err != nil {
		t.Fatal(err)
	}
	if ack.Type != executorpb.Event_ACKNOWLEDGED || !bytes.Equal(ack.Acknowledged.UUID, uuid) {
		t.Fatalf("after UPDATE: %v, want ACKNOWLEDGED with the update's uuid", ack.Type)
	}
	st := s.waitUpdate("e1", mesos.TASK_RUNNING)
	if !bytes.Equal(st.UUID, uuid) || st.GetAgentID().Value != o.AgentID.Value {
		t.Errorf("forwarded update uuid %x agent %v", st.UUID, st.AgentID)
	}
}
