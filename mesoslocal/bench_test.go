package mesoslocal

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/gogo/protobuf/proto"
	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
)

// BenchmarkSubscribeOffers100Agents measures the time from sending
// SUBSCRIBE to having decoded the OFFERS event covering 100 agents
// (protobuf). Each iteration tears its framework down so the next one gets
// every agent again.
func BenchmarkSubscribeOffers100Agents(b *testing.B) {
	c, err := Start(context.Background(), Config{
		Listen: "127.0.0.1:0", Agents: 100, WorkDir: b.TempDir(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	url := c.URL() + "/api/v1/scheduler"
	body := protoOf(b, subscribeCall("bench", ""))
	var total time.Duration
	for i := 0; i < b.N; i++ {
		start := time.Now()
		req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/x-protobuf")
		req.Header.Set("Accept", "application/x-protobuf")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		r := bufio.NewReader(res.Body)
		offers, fwID := 0, ""
		for offers < 100 {
			var ev scheduler.Event
			if err := proto.Unmarshal(readRecord(b, r), &ev); err != nil {
				b.Fatal(err)
			}
			switch ev.Type {
			case scheduler.Event_SUBSCRIBED:
				fwID = ev.Subscribed.FrameworkID.Value
			case scheduler.Event_OFFERS:
				offers += len(ev.Offers.Offers)
			}
		}
		total += time.Since(start)
		b.StopTimer()
		td := &scheduler.Call{Type: scheduler.Call_TEARDOWN, FrameworkID: &mesos.FrameworkID{Value: fwID}}
		tres := rawReq{contentType: "application/x-protobuf", streamID: res.Header.Get("Mesos-Stream-Id"), body: protoOf(b, td)}.do(b, url)
		tres.Body.Close()
		if tres.StatusCode != http.StatusAccepted {
			b.Fatalf("TEARDOWN: %s", tres.Status)
		}
		res.Body.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(total.Microseconds())/float64(b.N)/1000, "ms/subscribe-to-offers")
}
