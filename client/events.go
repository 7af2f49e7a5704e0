package client

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/mrredis/mrredis/internal/model"
)

// maxEventSize bounds one server-sent event (an instance with all its
// members and failover history is a few KB).
const maxEventSize = 8 << 20

// Events follows GET /api/v1/events. The stream starts with one "instance"
// event per existing instance, then carries every change. The channel is
// closed when ctx is done or the stream ends (the scheduler stopped or lost
// its leadership); call Events again to reconnect, the replay at the start
// brings the caller up to date.
func (c *Client) Events(ctx context.Context) (<-chan model.Event, error) {
	u, err := c.endpoint("/events")
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("build event stream request: %w", err)
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Cache-Control", "no-cache")
	req.Header.Set("User-Agent", c.agent)
	resp, err := c.stream.Do(req)
	if err != nil {
		return nil, c.transportError(ctx, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		return nil, newAPIError(http.MethodGet, u, resp, b)
	}
	ch := make(chan model.Event, 16)
	go func() {
		defer close(ch)
		defer resp.Body.Close()
		// Closing the body is what unblocks a read when ctx ends first, or
		// when the connection went silent: the scheduler writes a
		// keepalive every 15 s, so a stream quiet for much longer is dead
		// (e.g. a network partition that never closed the connection).
		stop := context.AfterFunc(ctx, func() { resp.Body.Close() })
		defer stop()
		idle := time.AfterFunc(c.streamIdle, func() { resp.Body.Close() })
		defer idle.Stop()
		body := &activityReader{r: resp.Body, onRead: func() { idle.Reset(c.streamIdle) }}
		err := readEvents(body, func(data string) bool {
			var ev model.Event
			if err := json.Unmarshal([]byte(data), &ev); err != nil {
				slog.Warn("event stream: skipping an event that is not JSON", "err", err)
				return true
			}
			select {
			case ch <- ev:
				return true
			case <-ctx.Done():
				return false
			}
		})
		if err != nil && ctx.Err() == nil {
			slog.Debug("event stream ended", "url", u, "err", err)
		}
	}()
	return ch, nil
}

// activityReader calls onRead whenever bytes arrive.
type activityReader struct {
	r      io.Reader
	onRead func()
}

func (a *activityReader) Read(p []byte) (int, error) {
	n, err := a.r.Read(p)
	if n > 0 {
		a.onRead()
	}
	return n, err
}

// readEvents parses a text/event-stream body and calls emit with the data
// of each event (several data lines joined by "\n") until emit returns
// false or the stream ends. Comments, ids, event names and retry hints are
// not used by our API and are ignored.
func readEvents(r io.Reader, emit func(data string) bool) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxEventSize)
	var data []string
	for sc.Scan() {
		line := strings.TrimSuffix(sc.Text(), "\r")
		if line == "" {
			if len(data) > 0 {
				if !emit(strings.Join(data, "\n")) {
					return nil
				}
				data = data[:0]
			}
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		if field == "data" {
			data = append(data, value)
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return io.ErrUnexpectedEOF
}
