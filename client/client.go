// Package client is the Go client of the mrr-sched REST API (/api/v1): it
// creates, lists, changes and deletes Redis instances, follows the event
// stream and waits for instances to become RUNNING. The mrr CLI, the
// integration tests and the benchmarks use it.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/mrredis/mrredis/internal/model"
)

// DefaultBaseURL is where mrr-sched listens unless told otherwise.
const DefaultBaseURL = "http://localhost:5656"

// Client talks to one scheduler. It is safe for concurrent use.
type Client struct {
	base    *url.URL // scheme://host[/prefix], without /api/v1
	baseErr error    // why baseURL was unusable; every call returns it
	http    *http.Client
	stream  *http.Client // for the event stream: no overall timeout
	agent   string
	// streamIdle is how long the event stream may stay silent before it
	// is taken for dead.
	streamIdle time.Duration
}

// Option changes how a Client works.
type Option func(*Client)

// WithHTTPClient makes the client send its requests (except the event
// stream) through h, e.g. to set a different timeout or transport.
func WithHTTPClient(h *http.Client) Option {
	return func(c *Client) { c.http = h }
}

// WithTimeout bounds each request other than the event stream.
func WithTimeout(d time.Duration) Option {
	return func(c *Client) { c.http = &http.Client{Timeout: d, Transport: c.http.Transport} }
}

// WithStreamIdleTimeout sets how long the event stream may carry nothing
// (not even the scheduler's keepalive, sent every 15 s) before Events
// closes it as dead. The default is 45 s.
func WithStreamIdleTimeout(d time.Duration) Option {
	return func(c *Client) { c.streamIdle = d }
}

// WithUserAgent sets the User-Agent header of every request.
func WithUserAgent(ua string) Option {
	return func(c *Client) { c.agent = ua }
}

// New returns a client of the scheduler at baseURL, such as
// "http://localhost:5656". A missing scheme means http; a trailing "/" or
// "/api/v1" is ignored. If baseURL is unusable, every call returns an error
// saying why (ParseBaseURL checks it up front).
func New(baseURL string, opts ...Option) *Client {
	c := &Client{
		http:       &http.Client{Timeout: 30 * time.Second},
		stream:     &http.Client{},
		agent:      "mrr-client",
		streamIdle: 45 * time.Second,
	}
	c.base, c.baseErr = ParseBaseURL(baseURL)
	for _, o := range opts {
		o(c)
	}
	c.stream.Transport = c.http.Transport
	return c
}

// ParseBaseURL checks and normalizes a scheduler address: "host:port",
// "http://host:port" and "http://host:port/api/v1" all name the same
// scheduler.
func ParseBaseURL(s string) (*url.URL, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, fmt.Errorf("scheduler address is empty: use a URL such as %s", DefaultBaseURL)
	}
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("scheduler address %q is not a URL: use one such as %s", s, DefaultBaseURL)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("scheduler address %q has scheme %q: use http or https", s, u.Scheme)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("scheduler address %q has no host: use a URL such as %s", s, DefaultBaseURL)
	}
	u.Path = strings.TrimSuffix(strings.TrimRight(u.Path, "/"), "/api/v1")
	u.RawQuery, u.Fragment, u.RawPath = "", "", ""
	return u, nil
}

// BaseURL is the scheduler address the client uses, or "" if it is unusable.
func (c *Client) BaseURL() string {
	if c.base == nil {
		return ""
	}
	return c.base.String()
}

// Create asks for a new instance. The scheduler answers at once (202) with
// the instance in state CREATING; use Wait to see it become RUNNING.
func (c *Client) Create(ctx context.Context, spec model.Spec) (model.InstanceView, error) {
	var v model.InstanceView
	err := c.do(ctx, http.MethodPost, "/instances", spec, &v)
	return v, err
}

// List returns every instance the scheduler knows.
func (c *Client) List(ctx context.Context) ([]model.InstanceView, error) {
	var vs []model.InstanceView
	if err := c.do(ctx, http.MethodGet, "/instances", nil, &vs); err != nil {
		return nil, err
	}
	return vs, nil
}

// Get returns one instance; an *APIError with Status 404 if there is none.
func (c *Client) Get(ctx context.Context, name string) (model.InstanceView, error) {
	var v model.InstanceView
	err := c.do(ctx, http.MethodGet, "/instances/"+url.PathEscape(name), nil, &v)
	return v, err
}

// Patch changes the replica count and/or memory of an instance.
func (c *Client) Patch(ctx context.Context, name string, p model.PatchRequest) (model.InstanceView, error) {
	var v model.InstanceView
	err := c.do(ctx, http.MethodPatch, "/instances/"+url.PathEscape(name), p, &v)
	return v, err
}

// Scale sets the number of replicas of an instance.
func (c *Client) Scale(ctx context.Context, name string, replicas int) (model.InstanceView, error) {
	return c.Patch(ctx, name, model.PatchRequest{Replicas: &replicas})
}

// Resize sets the memory of each member of an instance.
func (c *Client) Resize(ctx context.Context, name string, memoryMB int) (model.InstanceView, error) {
	return c.Patch(ctx, name, model.PatchRequest{MemoryMB: &memoryMB})
}

// Delete asks the scheduler to delete an instance and all its members.
func (c *Client) Delete(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, "/instances/"+url.PathEscape(name), nil, nil)
}

// Failover asks for a switchover: the replica with the highest offset
// becomes master.
func (c *Client) Failover(ctx context.Context, name string) (model.InstanceView, error) {
	var v model.InstanceView
	err := c.do(ctx, http.MethodPost, "/instances/"+url.PathEscape(name)+"/failover", nil, &v)
	return v, err
}

// endpoint is the full URL of an API path such as "/instances".
func (c *Client) endpoint(path string) (string, error) {
	if c.baseErr != nil {
		return "", c.baseErr
	}
	return c.base.String() + "/api/v1" + path, nil
}

// do sends one request and decodes a 2xx JSON answer into out (if not nil
// and the answer has a body). Other answers become an *APIError; transport
// failures an *UnreachableError.
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	u, err := c.endpoint(path)
	if err != nil {
		return err
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encode %s %s request: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return fmt.Errorf("build %s %s request: %w", method, path, err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.agent)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return c.transportError(ctx, err)
	}
	defer resp.Body.Close()
	// Bound what we read: answers are small, a misdirected URL may not be.
	b, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return c.transportError(ctx, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return newAPIError(method, u, resp, b)
	}
	if out == nil || len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("the scheduler at %s answered %s %s with something that is not the expected JSON: %w", c.base, method, path, err)
	}
	return nil
}
