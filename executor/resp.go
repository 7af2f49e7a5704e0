package executor

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// respConn is a minimal, synchronous RESP2 client: just what the executor
// needs to authenticate and run a handful of admin commands. It is not safe
// for concurrent use; each caller dials its own. A full client with pools
// and retries would hide the very failures the executor has to report.
type respConn struct {
	c       net.Conn
	r       *bufio.Reader
	timeout time.Duration
}

// RedisError is an error reply from redis-server ("-ERR ...", "-NOPERM ...").
type RedisError string

func (e RedisError) Error() string { return string(e) }

// dialRedis connects to addr and authenticates as user (when pass or user
// is set). timeout bounds the dial and every later command.
func dialRedis(addr, user, pass string, timeout time.Duration) (*respConn, error) {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, fmt.Errorf("connect to redis %s: %w", addr, err)
	}
	rc := &respConn{c: c, r: bufio.NewReader(c), timeout: timeout}
	if pass != "" {
		args := []string{"AUTH", pass}
		if user != "" {
			args = []string{"AUTH", user, pass}
		}
		if _, err := rc.do(args...); err != nil {
			c.Close()
			return nil, fmt.Errorf("authenticate to redis %s as %q: %w", addr, user, err)
		}
	}
	return rc, nil
}

func (rc *respConn) Close() error { return rc.c.Close() }

// do sends one command and reads its reply: a string for simple and bulk
// strings, int64 for integers, []any for arrays, nil for a null reply, and
// a RedisError (as error) for an error reply.
func (rc *respConn) do(args ...string) (any, error) {
	if err := rc.c.SetDeadline(time.Now().Add(rc.timeout)); err != nil {
		return nil, err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := io.WriteString(rc.c, b.String()); err != nil {
		return nil, fmt.Errorf("send %s: %w", args[0], err)
	}
	v, err := readReply(rc.r)
	if err != nil {
		var re RedisError
		if errors.As(err, &re) {
			return nil, err
		}
		return nil, fmt.Errorf("read reply to %s: %w", args[0], err)
	}
	return v, nil
}

// doString runs a command whose reply is a (simple or bulk) string.
func (rc *respConn) doString(args ...string) (string, error) {
	v, err := rc.do(args...)
	if err != nil {
		return "", err
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("%s: unexpected reply %T", args[0], v)
	}
	return s, nil
}

// maxBulk bounds a bulk reply so a garbled stream cannot make us allocate
// gigabytes; INFO is a few KB.
const maxBulk = 64 << 20

func readReply(r *bufio.Reader) (any, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	if len(line) < 3 || line[len(line)-2] != '\r' {
		return nil, fmt.Errorf("malformed RESP line %q", line)
	}
	kind, body := line[0], line[1:len(line)-2]
	switch kind {
	case '+':
		return body, nil
	case '-':
		return nil, RedisError(body)
	case ':':
		n, err := strconv.ParseInt(body, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("malformed RESP integer %q", body)
		}
		return n, nil
	case '$':
		n, err := strconv.Atoi(body)
		if err != nil || n < -1 || n > maxBulk {
			return nil, fmt.Errorf("malformed RESP bulk length %q", body)
		}
		if n == -1 {
			return nil, nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, err
		}
		return string(buf[:n]), nil
	case '*':
		n, err := strconv.Atoi(body)
		if err != nil || n < -1 || n > 1<<20 {
			return nil, fmt.Errorf("malformed RESP array length %q", body)
		}
		if n == -1 {
			return nil, nil
		}
		out := make([]any, 0, min(n, 64))
		for i := 0; i < n; i++ {
			v, err := readReply(r)
			var re RedisError
			if err != nil && !errors.As(err, &re) {
				return nil, err
			}
			if err != nil {
				v = re
			}
			out = append(out, v)
		}
		return out, nil
	}
	return nil, fmt.Errorf("unknown RESP type %q", kind)
}
