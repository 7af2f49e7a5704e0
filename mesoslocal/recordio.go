package mesoslocal

import (
	"context"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mesos/mesos-go/api/v1/lib/encoding"
	"github.com/mesos/mesos-go/api/v1/lib/encoding/codecs"
	"github.com/mesos/mesos-go/api/v1/lib/encoding/framing"
	"github.com/mesos/mesos-go/api/v1/lib/recordio"
)

// maxRecordSize is mesos-go's cap on one RecordIO record.
const maxRecordSize = 4 << 20

// maxBodySize bounds a call's body.
const maxBodySize = 16 << 20

// httpError is a call rejected with an HTTP status and a one-line reason.
type httpError struct {
	code int
	msg  string
}

func (e *httpError) Error() string { return fmt.Sprintf("%d %s", e.code, e.msg) }

func errorf(code int, format string, args ...any) *httpError {
	return &httpError{code: code, msg: fmt.Sprintf(format, args...)}
}

func writeError(w http.ResponseWriter, e *httpError) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(e.code)
	io.WriteString(w, e.msg)
}

// decodeCall applies the transport rules shared by both endpoints (POST
// only, a supported Content-Type, an acceptable Accept) and decodes the body
// into call. It returns the codec answers must use.
func decodeCall(r *http.Request, call encoding.Unmarshaler) (encoding.Codec, *httpError) {
	if r.Method != http.MethodPost {
		return encoding.Codec{}, errorf(http.StatusMethodNotAllowed, "Expecting one of { 'POST' }, but received '%s'", r.Method)
	}
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return encoding.Codec{}, errorf(http.StatusBadRequest, "Expecting 'Content-Type' to be present")
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		mt = ct
	}
	in, ok := codecs.ByMediaType[encoding.MediaType(mt)]
	if !ok {
		return encoding.Codec{}, errorf(http.StatusUnsupportedMediaType, "Expecting 'Content-Type' of application/json or application/x-protobuf")
	}
	out, ok := negotiate(r.Header)
	if !ok {
		return encoding.Codec{}, errorf(http.StatusNotAcceptable, "Expecting 'Accept' to allow application/json or application/x-protobuf")
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodySize))
	if err != nil {
		return encoding.Codec{}, errorf(http.StatusBadRequest, "Failed to read body: %v", err)
	}
	src := func() framing.Reader {
		done := false
		return framing.ReaderFunc(func() ([]byte, error) {
			if done {
				return nil, io.EOF
			}
			done = true
			return body, nil
		})
	}
	if err := in.NewDecoder(src).Decode(call); err != nil {
		return encoding.Codec{}, errorf(http.StatusBadRequest, "Failed to parse body into Call: %v", err)
	}
	return out, nil
}

// negotiate picks the response codec from Accept (and Message-Accept when
// the client asks for application/recordio). JSON wins ties, as in Mesos.
func negotiate(h http.Header) (encoding.Codec, bool) {
	accept := h.Values("Accept")
	if len(accept) == 0 {
		return codecs.ByMediaType[codecs.MediaTypeJSON], true
	}
	types := parseAccept(strings.Join(accept, ","))
	if q, ok := types["application/recordio"]; ok && q > 0 {
		if ma := h.Values("Message-Accept"); len(ma) > 0 {
			types = parseAccept(strings.Join(ma, ","))
		} else {
			return codecs.ByMediaType[codecs.MediaTypeJSON], true
		}
	}
	for _, mt := range []encoding.MediaType{codecs.MediaTypeJSON, codecs.MediaTypeProtobuf} {
		if acceptsType(types, string(mt)) {
			return codecs.ByMediaType[mt], true
		}
	}
	return encoding.Codec{}, false
}

func parseAccept(s string) map[string]float64 {
	out := map[string]float64{}
	for _, part := range strings.Split(s, ",") {
		fields := strings.Split(part, ";")
		t := strings.ToLower(strings.TrimSpace(fields[0]))
		if t == "" {
			continue
		}
		q := 1.0
		for _, p := range fields[1:] {
			k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
			if strings.TrimSpace(k) == "q" {
				if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
					q = f
				}
			}
		}
		out[t] = q
	}
	return out
}

func acceptsType(types map[string]float64, mt string) bool {
	main, _, _ := strings.Cut(mt, "/")
	for _, cand := range []string{mt, main + "/*", "*/*"} {
		if q, ok := types[cand]; ok {
			return q > 0
		}
	}
	return false
}

// eventStream is one subscriber's outgoing events: an unbounded queue that
// the master fills while holding its lock, and that serve writes to the HTTP
// response without it.
type eventStream struct {
	mu     sync.Mutex
	queue  []encoding.Marshaler
	closed bool
	wake   chan struct{}
	done   chan struct{} // closed when serve returns
}

func newEventStream() *eventStream {
	return &eventStream{wake: make(chan struct{}, 1), done: make(chan struct{})}
}

// send queues m; it reports false once the stream is closed.
func (s *eventStream) send(m encoding.Marshaler) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.queue = append(s.queue, m)
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return true
}

// close makes serve write what is queued and then end the response.
func (s *eventStream) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

// serve writes the stream as a chunked RecordIO response until the stream
// is closed and drained, the client goes away, or ctx ends. heartbeat, when
// not nil, is queued every interval.
func (s *eventStream) serve(ctx context.Context, w http.ResponseWriter, codec encoding.Codec, header http.Header, heartbeat func() encoding.Marshaler, interval time.Duration) error {
	defer close(s.done)
	defer s.close()
	for k, v := range header {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Type", codec.Type.ContentType())
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	if flusher != nil {
		flusher.Flush()
	}
	enc := codec.NewEncoder(func() framing.Writer { return recordio.NewWriter(w) })
	var tick <-chan time.Time
	if heartbeat != nil && interval > 0 {
		t := time.NewTicker(interval)
		defer t.Stop()
		tick = t.C
	}
	for {
		s.mu.Lock()
		batch := s.queue
		s.queue = nil
		closed := s.closed
		s.mu.Unlock()
		for _, m := range batch {
			if err := enc.Encode(m); err != nil {
				return fmt.Errorf("write event: %w", err)
			}
			if flusher != nil {
				flusher.Flush()
			}
		}
		if closed && len(batch) == 0 {
			return nil
		}
		if len(batch) > 0 {
			continue
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.wake:
		case <-tick:
			s.send(heartbeat())
		}
	}
}
