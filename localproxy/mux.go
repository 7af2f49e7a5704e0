package localproxy

import (
	"bytes"
	"runtime"
	"sync"
	"sync/atomic"
)

// muxMaxPending bounds the commands queued for a shared connection; a
// client that finds the queue full waits for the write in progress.
const muxMaxPending = 1 << 20

// muxConn is a backend connection to the master shared by the client
// connections of an instance that have only sent shareable commands (see
// shareable): single-reply commands that neither block nor depend on the
// connection they are sent on.
//
// Sharing is what makes the relay cheap. Redis then reads the commands of
// many clients with one read(2) and answers them with one write(2),
// instead of a read, a write and an epoll round per client and command;
// on a small host the CPU saved there pays for the proxy's own work.
//
// Commands are appended to pending with their owner; whichever client
// finds no write in progress writes the queue, so that commands from
// clients served at the same time leave in one write (no writer
// goroutine to wake). The reader (run) splits the replies by owner and
// hands each client its part without ever blocking on a client (see
// clientConn.send), so a slow client cannot stall the others.
type muxConn struct {
	in    *instance
	route *route
	be    *backend
	slot  *atomic.Pointer[muxConn] // where the instance keeps it
	// dead is set when the connection failed or was dropped for a route
	// change: new commands go to a new one.
	dead atomic.Bool

	mu       sync.Mutex
	cond     *sync.Cond // signalled when a write ends and on close (L is &mu)
	pending  []byte     // commands not written yet
	spare    []byte     // the other buffer, written last time
	writing  bool       // a sender is writing pending
	owners   []muxOwner // replies expected, in order; owners[head:] are live
	head     int
	closed   bool
	switched bool // dropped for a route change: errors say "master changed"
}

// muxOwner is a run of consecutive commands of one client.
type muxOwner struct {
	c *clientConn
	n int
}

// muxPart is one owner's share of a read from Redis.
type muxPart struct {
	c        *clientConn
	from, to int
	n        int
}

func newMuxConn(in *instance, r *route, be *backend, slot *atomic.Pointer[muxConn]) *muxConn {
	m := &muxConn{in: in, route: r, be: be, slot: slot}
	m.cond = sync.NewCond(&m.mu)
	return m
}

// send queues b, holding n commands of c, and writes the queue unless
// another sender is writing it. It returns false if the connection is
// closed: nothing was queued.
func (m *muxConn) send(c *clientConn, b []byte, n int) bool {
	m.mu.Lock()
	for len(m.pending) >= muxMaxPending && !m.closed {
		m.cond.Wait()
	}
	if m.closed || m.dead.Load() {
		// Dropped for a route change: new commands go to the new master.
		m.mu.Unlock()
		return false
	}
	m.pending = append(m.pending, b...)
	if k := len(m.owners); k > m.head && m.owners[k-1].c == c {
		m.owners[k-1].n += n
	} else {
		m.owners = append(m.owners, muxOwner{c: c, n: n})
	}
	if m.writing {
		m.mu.Unlock()
		return true
	}
	m.writing = true
	// Let the other clients that the same poller round woke append their
	// commands first: they then leave in one write, and Redis reads them
	// with one read.
	m.mu.Unlock()
	runtime.Gosched()
	m.mu.Lock()
	for len(m.pending) > 0 && !m.closed {
		buf := m.pending
		m.pending = m.spare[:0]
		m.mu.Unlock()
		_, err := m.be.w.Write(buf)
		m.mu.Lock()
		m.spare = buf[:0]
		m.cond.Broadcast()
		if err != nil {
			// run sees the broken connection and fails what is queued.
			closeAsync(m.be.conn)
			break
		}
	}
	m.writing = false
	m.mu.Unlock()
	return true
}

// run reads replies and hands them to their clients until the connection
// ends, then fails what is still in flight.
func (m *muxConn) run() {
	buf := make([]byte, bufSize)
	var rs replyScanner
	var parts []muxPart
	// drain: a short read does not prove that the connection is still
	// open (see readLoop), and a close missed here would leave every
	// client's commands in flight unanswered.
	_ = readLoop(m.be.conn, true, func() []byte { return buf }, func(n int) bool {
		parts = parts[:0]
		ok := true
		m.mu.Lock()
		for from := 0; from < n; {
			if m.head == len(m.owners) {
				m.in.log.Error("master sent a reply to no command on a shared connection; closing it")
				ok = false
				break
			}
			o := &m.owners[m.head]
			k, done, err := rs.scan(buf[from:n], o.n)
			if err != nil {
				m.in.log.Error("master sent something that is not RESP on a shared connection; closing it", "err", err)
				ok = false
				break
			}
			parts = append(parts, muxPart{c: o.c, from: from, to: from + k, n: done})
			from += k
			if o.n -= done; o.n == 0 {
				m.head++
			}
		}
		if m.head == len(m.owners) {
			m.owners, m.head = m.owners[:0], 0
		} else if m.head > 1024 && m.head > len(m.owners)/2 {
			m.owners = m.owners[:copy(m.owners, m.owners[m.head:])]
			m.head = 0
		}
		m.mu.Unlock()
		// The replies before a bad one are good: their owners are no
		// longer listed for fail to answer.
		for _, p := range parts {
			p.c.send(buf[p.from:p.to], uint64(p.n))
		}
		return ok
	})
	m.fail(&rs)
}

// fail closes the connection and answers every command still in flight
// with an error; a client whose reply was cut in half is closed.
func (m *muxConn) fail(rs *replyScanner) {
	m.dead.Store(true)
	m.mu.Lock()
	m.closed = true
	m.cond.Broadcast()
	owners := m.owners[m.head:]
	m.owners, m.head = nil, 0
	switched := m.switched
	m.mu.Unlock()
	m.be.conn.Close()
	m.slot.CompareAndSwap(m, nil)
	msg, ctr := errBackendLost, m.in.m.errBackend
	if switched {
		msg, ctr = errMasterChanged, m.in.m.errMasterChanged
	}
	for i, o := range owners {
		if i == 0 && rs.midReply() {
			o.c.close()
			o.c.answeredShared(uint64(o.n))
			continue
		}
		ctr.Add(float64(o.n))
		o.c.send(bytes.Repeat(msg, o.n), uint64(o.n))
	}
}

// drop closes the connection for a route change; run fails what is in
// flight with "master changed" (unless it failed already).
func (m *muxConn) drop() {
	m.mu.Lock()
	if !m.closed {
		m.switched = true
	}
	m.mu.Unlock()
	m.dead.Store(true)
	closeAsync(m.be.conn)
}
