package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"

	"github.com/mrredis/mrredis/internal/model"
)

// APIError is an answer of the scheduler other than 2xx: the HTTP status
// and the API's one-sentence explanation.
type APIError struct {
	Status  int    // HTTP status code, e.g. 404
	Message string // the "error" field of the answer, or a description of the status
	Method  string // the request, for messages
	URL     string
}

func (e *APIError) Error() string { return e.Message }

// NotFound reports whether the instance (or the path) does not exist.
func (e *APIError) NotFound() bool { return e.Status == http.StatusNotFound }

// Conflict reports whether the request clashes with the instance's current
// state (it exists already, it is being deleted, ...).
func (e *APIError) Conflict() bool { return e.Status == http.StatusConflict }

// Unavailable reports whether the scheduler cannot serve requests now (not
// the leader, not connected to ZooKeeper or Mesos).
func (e *APIError) Unavailable() bool { return e.Status == http.StatusServiceUnavailable }

// IsNotFound reports whether err is an APIError with status 404.
func IsNotFound(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.NotFound()
}

// IsConflict reports whether err is an APIError with status 409.
func IsConflict(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Conflict()
}

// IsUnreachable reports whether err means no scheduler answered.
func IsUnreachable(err error) bool {
	var ue *UnreachableError
	return errors.As(err, &ue)
}

func newAPIError(method, u string, resp *http.Response, body []byte) *APIError {
	e := &APIError{Status: resp.StatusCode, Method: method, URL: u}
	var er model.ErrorResponse
	if json.Unmarshal(body, &er) == nil && strings.TrimSpace(er.Error) != "" {
		e.Message = strings.TrimSpace(er.Error)
		return e
	}
	// Not our API's error shape: a proxy, an older scheduler or a wrong URL.
	e.Message = fmt.Sprintf("the scheduler answered %s %s with HTTP %s", method, u, resp.Status)
	if snippet := strings.TrimSpace(string(body)); snippet != "" && len(snippet) <= 200 && !strings.Contains(snippet, "<") {
		e.Message += ": " + snippet
	}
	return e
}

// UnreachableError means the request never got an answer: nothing listens
// at the address, the name does not resolve, the connection broke or timed
// out.
type UnreachableError struct {
	URL string // the scheduler's base URL
	Err error  // the transport error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("cannot reach the scheduler at %s: %s", e.URL, describeNetError(e.Err))
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// transportError turns an error of http.Client.Do into what the caller
// should see: the context's own error if the caller gave up, an
// UnreachableError otherwise.
func (c *Client) transportError(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	return &UnreachableError{URL: c.base.String(), Err: err}
}

// describeNetError reduces a transport error to its cause in a few words,
// e.g. "connection refused" rather than the full dial chain.
func describeNetError(err error) string {
	var dnsErr *net.DNSError
	var ue *url.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "no route to host"
	case errors.As(err, &dnsErr):
		return fmt.Sprintf("host name %q does not resolve", dnsErr.Name)
	case errors.As(err, &ue) && ue.Timeout():
		return "no answer in time"
	case errors.As(err, &ue):
		return ue.Err.Error()
	}
	return err.Error()
}
