package mesoslocal

import (
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	mesostime "github.com/mesos/mesos-go/api/v1/lib/time"
)

func TestParsePorts(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []portRange
		err  bool
	}{
		{in: "31000-32000", want: []portRange{{31000, 32000}}},
		{in: "[31000-31010, 31005-31020,40000]", want: []portRange{{31000, 31020}, {40000, 40000}}},
		{in: "1-2,3-4", want: []portRange{{1, 4}}},
		{in: "", err: true},
		{in: "5-1", err: true},
		{in: "a-b", err: true},
		{in: "70000-70001", err: true},
	} {
		got, err := parsePorts(tc.in)
		if (err != nil) != tc.err {
			t.Errorf("parsePorts(%q) error %v, want error %v", tc.in, err, tc.err)
			continue
		}
		if fmt.Sprint(got) != fmt.Sprint(tc.want) && !tc.err {
			t.Errorf("parsePorts(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestResourcesArithmetic(t *testing.T) {
	agent := newResources(4, 4096, 10240, []portRange{{31000, 32000}})
	task, err := parseResources([]mesos.Resource{
		scalar("cpus", 0.1), scalar("cpus", 0.2), scalar("mem", 128),
		{Name: "ports", Type: mesos.RANGES.Enum(), Ranges: &mesos.Value_Ranges{Range: []mesos.Value_Range{{Begin: 31000, End: 31000}, {Begin: 31500, End: 31501}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !agent.contains(task) {
		t.Fatal("agent does not contain the task")
	}
	left := agent.sub(task)
	if got := left.scalar("cpus"); got != 3.7 {
		t.Errorf("cpus left %v, want exactly 3.7 (fixed point)", got)
	}
	if fmt.Sprint(left.ports) != fmt.Sprint([]portRange{{31001, 31499}, {31502, 32000}}) {
		t.Errorf("ports left %v", left.ports)
	}
	if left.contains(task) {
		t.Error("used ports still contained")
	}
	if back := left.add(task); fmt.Sprint(back.ports) != fmt.Sprint(agent.ports) || back.scalar("cpus") != 4 {
		t.Errorf("add back: %v", back)
	}
	for _, bad := range [][]mesos.Resource{
		{scalar("cpus", -1)},
		{{Name: "cpus", Type: mesos.SCALAR.Enum()}},
		{{Name: "ports", Type: mesos.RANGES.Enum(), Ranges: &mesos.Value_Ranges{Range: []mesos.Value_Range{{Begin: 5, End: 1}}}}},
		{{Name: "ports", Type: mesos.RANGES.Enum(), Ranges: &mesos.Value_Ranges{Range: []mesos.Value_Range{{Begin: 1, End: 5}, {Begin: 3, End: 4}}}}},
		{{Name: "disks", Type: mesos.SET.Enum()}},
	} {
		if _, err := parseResources(bad); err == nil {
			t.Errorf("parseResources(%v) accepted", bad)
		}
	}
	gpus, _ := parseResources([]mesos.Resource{scalar("gpus", 1)})
	if agent.contains(gpus) {
		t.Error("agent without gpus contains a gpu")
	}
}

func TestStoutDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		5 * time.Second: "5secs", 15 * time.Minute: "15mins", 2 * time.Second: "2secs",
		1500 * time.Millisecond: "1.5secs", 250 * time.Millisecond: "250ms", 3 * time.Hour: "3hrs", 10: "10ns",
	} {
		got := stoutDuration(d)
		if got != want {
			t.Errorf("stoutDuration(%v) = %q, want %q", d, got, want)
		}
		if back, err := mesostime.ParseDuration(got); err != nil || back != d {
			t.Errorf("mesos-go parses %q as %v, %v; want %v", got, back, err, d)
		}
	}
}

func TestNegotiate(t *testing.T) {
	for _, tc := range []struct {
		accept, messageAccept string
		want                  string
		ok                    bool
	}{
		{"", "", "application/json", true},
		{"application/json", "", "application/json", true},
		{"application/x-protobuf", "", "application/x-protobuf", true},
		{"*/*", "", "application/json", true},
		{"application/*", "", "application/json", true},
		{"application/json;q=0, application/x-protobuf", "", "application/x-protobuf", true},
		{"application/recordio", "application/x-protobuf", "application/x-protobuf", true},
		{"text/html", "", "", false},
	} {
		h := http.Header{}
		if tc.accept != "" {
			h.Set("Accept", tc.accept)
		}
		if tc.messageAccept != "" {
			h.Set("Message-Accept", tc.messageAccept)
		}
		codec, ok := negotiate(h)
		if ok != tc.ok || (ok && string(codec.Type) != tc.want) {
			t.Errorf("negotiate(Accept %q, Message-Accept %q) = %q %v, want %q %v", tc.accept, tc.messageAccept, codec.Type, ok, tc.want, tc.ok)
		}
	}
}

// Big OFFERS events are split so every record stays under 4 MiB in JSON.
func TestOffersSplitUnderRecordCap(t *testing.T) {
	fw := &framework{id: "fw", stream: newEventStream()}
	big := newResources(4, 4096, 10240, nil)
	for p := uint64(1); p < 20000; p += 2 {
		big.ports = append(big.ports, portRange{p, p})
	}
	one := mesos.Offer{ID: mesos.OfferID{Value: "o"}, FrameworkID: mesos.FrameworkID{Value: "fw"}, AgentID: mesos.AgentID{Value: "a"}, Hostname: "h", Resources: big.toProto("*")}
	var offers []mesos.Offer
	for i := 0; i < 200; i++ {
		offers = append(offers, one)
	}
	sendOffers(fw, offers)
	fw.stream.mu.Lock()
	events := fw.stream.queue
	fw.stream.mu.Unlock()
	if len(events) < 2 {
		t.Fatalf("%d OFFERS events for %d offers of %d bytes each: want a split", len(events), len(offers), one.Size())
	}
	total := 0
	for _, m := range events {
		ev := m.(*scheduler.Event)
		total += len(ev.Offers.Offers)
		b, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) >= maxRecordSize {
			t.Errorf("OFFERS record of %d bytes exceeds the 4 MiB cap", len(b))
		}
	}
	if total != len(offers) {
		t.Errorf("split lost offers: %d of %d", total, len(offers))
	}
}

func TestConfigFlagsAndDefaults(t *testing.T) {
	t.Setenv("MRR_MESOS_AGENTS", "5")
	var cfg Config
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	if err := fs.Parse([]string{"--listen", "127.0.0.1:0", "--cpus", "2", "--ports", "1000-1010"}); err != nil {
		t.Fatal(err)
	}
	full, err := cfg.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if full.Agents != 5 || full.CPUs != 2 || full.MemMB != 4096 || len(full.AgentIPs) != 5 || full.AgentIPs[4] != "127.0.0.6" {
		t.Errorf("config %+v", full)
	}
	for _, bad := range []Config{{Agents: -1}, {Ports: "x"}, {Agents: 2, AgentIPs: []string{"127.0.0.2"}}, {CPUs: -1}} {
		if _, err := bad.withDefaults(); err == nil {
			t.Errorf("config %+v accepted", bad)
		}
	}
}

func TestHealthAndState(t *testing.T) {
	c := startCluster(t, nil)
	res, err := http.Get(c.URL() + "/health")
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("/health: %v %v", res, err)
	}
	res.Body.Close()
	st := getState(t, c)
	if len(st.Slaves) != 2 || st.ActivatedSlaves != 2 || st.Slaves[0].Resources["cpus"] != 4.0 || st.Slaves[0].Resources["ports"] != "[31000-32000]" {
		t.Errorf("/state slaves %+v", st.Slaves)
	}
}
