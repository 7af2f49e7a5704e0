package localproxy

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// bufSize is the read buffer of each direction of a connection. Pipelined
// commands that arrive together are forwarded with one write, and the
// replies that arrive together go back with one write.
const bufSize = 16 * 1024

var (
	errMasterChanged = []byte("-ERR mrredis: master changed, command not executed or result unknown; retry\r\n")
	errBackendLost   = []byte("-ERR mrredis: connection to the master was lost, command not executed or result unknown; retry\r\n")
	errReplicaLost   = []byte("-ERR mrredis: connection to the replica was lost, read not answered; retry\r\n")
	replyOK          = []byte("+OK\r\n")
	// Clients ask for maintenance push notifications (go-redis does on
	// every RESP3 connection); the proxy hides master changes instead.
	errNoMaintNotifications = []byte("-ERR mrredis: CLIENT MAINT_NOTIFICATIONS is not supported: the proxy follows master changes itself\r\n")
)

// clientConn relays one local client connection to the instance's master:
// over the shared connection (muxConn) until a command pins it, then over
// a backend connection of its own, which is the simplest way to be
// transparent for everything that keeps server-side state: MULTI/EXEC,
// WATCH, blocking commands, SELECT, pub/sub.
//
// Goroutines move bytes: serve reads commands from the client and writes
// them to a backend; pump (one per backend connection of its own) and the
// shared connection's reader write the replies to the client. All pass
// raw bytes through and only count command and reply boundaries, so that
// the connection knows what is in flight where: to keep replies in order,
// and to answer what was in flight when the master changes.
//
// AUTH from a client is answered +OK locally and never forwarded: the
// proxy authenticates to Redis itself with the instance password it reads
// from ZooKeeper. Local clients thus need no password (and one configured
// for the old MrRedis keeps working, even across a password rotation).
// This is safe because listeners bind to 127.0.0.1 only: whoever can
// connect already runs on this host, where the password in ZooKeeper is
// readable too. Binding to another address would need real AUTH checks.
type clientConn struct {
	in     *instance
	client net.Conn
	cw     *rawWriter // writes to client, under wmu or by flush

	// Writes to the client, see send and sendWait.
	wmu      sync.Mutex
	flushed  *sync.Cond // signalled when flush ends (L is &wmu)
	flushing bool       // a flush goroutine owns cw: new output is queued
	outq     []byte     // output queued for flush
	wfailed  bool       // writing to the client failed

	mu sync.Mutex
	be *backend // nil: connect on the next command
	// rbe is the connection to a replica for reads, when the instance
	// sends reads to replicas (see forwardReplica).
	rbe *backend
	// retired is a replica connection that left the list with reads in
	// flight; a new one is made only once they are answered, so there is
	// at most one.
	retired *backend
	sent    uint64 // commands written (even partly) to backends
	recv    uint64 // commands answered to the client
	// rsent and rrecv count the part of sent and recv that went to
	// replica backends, ssent and srecv the part on shared connections.
	rsent, rrecv uint64
	ssent, srecv uint64
	// cond is signalled on every answer and on close (L is &mu): serve
	// and the master's pump wait on it to keep replies in order.
	cond     *sync.Cond
	closed   bool
	multi    bool // inside MULTI
	watching bool // WATCH is active
	opaque   bool // state we cannot recreate: a SELECT or HELLO we could not follow
	resp3    bool // HELLO 3 was sent
	db       int
	raw      atomic.Bool // pub/sub, MONITOR, ...: no counting, never moved
	// usedSide is set once a command went to a replica or a shared
	// connection; until then the master's pump needs no ordering check.
	usedSide atomic.Bool
	// resumable is false when the last backend was lost while it held
	// state that cannot be recreated on another one.
	resumable bool

	// Owned by serve.
	sc cmdScanner
	// pinned is set by the first command that must not go over a shared
	// connection: from then on everything goes to the connection's own
	// backends, as the commands after it may depend on its state.
	pinned       bool
	shared       *muxConn  // the shared connection used last
	partialSent  bool      // the current command was partly written already
	syncNext     bool      // the next segment for the master starts with WAIT
	replicaStale bool      // a SELECT, HELLO or RESET went to the master since the replica connection was made
	noReplica    time.Time // a replica dial failed: reads go to the master until then
}

// replicaRetry is how long reads go to the master after a replica could
// not be reached, so that a dead replica does not cost every read a dial.
const replicaRetry = 5 * time.Second

// backend is one connection to a master, read by its own pump goroutine.
type backend struct {
	conn    net.Conn
	w       *rawWriter // written by serve only
	route   *route
	replica bool // a read-only connection to a replica
	// Guarded by clientConn.mu.
	sent, recv uint64 // commands written to / answered from this backend
	movable    bool   // the client's state could move when it was detached
	retiring   bool   // replica left the list: close once nothing is in flight
	synced     bool   // a syncWrite was sent (see forward)
	// detached is set when the backend is no longer the client's: replies
	// read after that are dropped (their commands get an error instead).
	detached atomic.Bool
	// skipAt is, once skip is set, how many replies pump passes on before
	// the one it drops: the syncWrite's.
	skip   atomic.Bool
	skipAt atomic.Uint64
}

// syncWrite is a write that replicates and that nobody sees (PUBLISH to a
// channel nobody listens to). Redis' WAIT waits for the writes made on
// the connection it is sent on; sent before the first WAIT on a client's
// own connection, it makes WAIT cover what the client wrote over a shared
// connection before.
var syncWrite = appendCommand(nil, "PUBLISH", "__mrredis__:wait", "")

func (be *backend) role() string {
	if be.replica {
		return "replica"
	}
	return "master"
}

// closeAsync closes nc without waiting. A connection read by readLoop
// cannot be closed synchronously from code that its own read callback
// might be waiting for (Close waits for the callback to return); the
// close evicts the reader at once either way.
func closeAsync(nc net.Conn) { go nc.Close() }

func newClientConn(in *instance, nc net.Conn) *clientConn {
	// Without sharing, a connection is pinned from the start.
	c := &clientConn{in: in, client: nc, cw: newRawWriter(nc), resumable: true, pinned: !in.sharing}
	c.cond = sync.NewCond(&c.mu)
	c.flushed = sync.NewCond(&c.wmu)
	return c
}

// close ends the connection; the goroutines exit on their read errors.
func (c *clientConn) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closeLocked()
}

func (c *clientConn) closeLocked() {
	if c.closed {
		return
	}
	c.closed = true
	closeAsync(c.client)
	if c.be != nil {
		c.be.detached.Store(true)
		closeAsync(c.be.conn)
		c.be = nil
	}
	c.dropReplicaLocked()
	if c.retired != nil {
		closeAsync(c.retired.conn)
		c.retired = nil
	}
	c.cond.Broadcast()
}

// movableLocked reports whether the connection's server-side state can
// be recreated on another master (only the database is).
func (c *clientConn) movableLocked() bool {
	return !c.multi && !c.watching && !c.opaque && !c.raw.Load()
}

// routeChanged is called when the instance's master or password changes.
// The backend is closed at once (a blocked BLPOP must not wait on the old
// master); pump then fails the commands in flight or closes the client if
// its state cannot move. An idle connection simply reconnects to the new
// master on its next command.
func (c *clientConn) routeChanged() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.be != nil {
		c.detachLocked()
	}
	// A replica connection stays unless the password changed.
	if c.rbe != nil && c.rbe.route.password != c.in.route.Load().password {
		c.dropReplicaLocked()
	}
}

// replicasChanged retires the replica connection if its replica is no
// longer listed as in sync: no new reads go there, and it closes once the
// reads in flight are answered (a promoted or scaled-down replica still
// answers them; a dead one makes its pump fail them).
func (c *clientConn) replicasChanged(addrs []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	be := c.rbe
	if be == nil || slices.Contains(addrs, be.route.addr) {
		return
	}
	if be.sent == be.recv {
		c.dropReplicaLocked()
		return
	}
	be.retiring = true
	c.rbe, c.retired = nil, be
}

// dropReplicaLocked closes the replica connection; its pump answers what
// was in flight on it.
func (c *clientConn) dropReplicaLocked() {
	if c.rbe == nil {
		return
	}
	c.rbe.detached.Store(true)
	closeAsync(c.rbe.conn)
	c.rbe = nil
}

// detachLocked closes the current backend for a route change.
func (c *clientConn) detachLocked() {
	c.be.movable = c.movableLocked()
	c.resumable = c.be.movable
	c.be.detached.Store(true)
	closeAsync(c.be.conn)
	c.be = nil
}

// serve reads client commands until the client or the instance goes away.
func (c *clientConn) serve() {
	defer c.close()
	buf := make([]byte, bufSize)
	start, end := 0, 0 // buf[start:end] is read but not yet forwarded
	err := readLoop(c.client, false, func() []byte { return buf[end:] }, func(n int) bool {
		if c.raw.Load() {
			if !c.forward(buf[:end+n], 0, toMaster) {
				return false
			}
			start, end = 0, 0
			return true
		}
		scan := end
		end += n
		var ok bool
		if start, ok = c.process(buf, start, scan, end); !ok {
			return false
		}
		switch {
		case start == end:
			start, end = 0, 0
		case start > 0:
			end = copy(buf, buf[start:end])
			start = 0
		case end == len(buf):
			// One command bigger than the buffer: stream it.
			// A shared connection takes whole commands only.
			cnt := 1
			if c.partialSent {
				cnt = 0
			}
			c.pin()
			if !c.forward(buf[:end], cnt, toMaster) {
				return false
			}
			c.partialSent = true
			start, end = 0, 0
		}
		return true
	})
	if err == errStopped {
		// QUIT, a protocol error or a backend lost with state: what is
		// queued for the client goes out first, as from Redis.
		c.finish()
	}
}

// process scans buf[scan:end], forwards complete commands from buf[start:]
// and returns the new start: the beginning of an incomplete command, or
// end. It returns false when the connection must close.
func (c *clientConn) process(buf []byte, start, scan, end int) (int, bool) {
	cmds := 0
	lastDone := start // end of the last complete command
	reads := c.readsToReplicas()
	to := toMaster // where buf[start:lastDone] goes
	for scan < end {
		k, done, err := c.sc.next(buf[scan:end])
		scan += k
		if err != nil {
			if !c.forward(buf[start:lastDone], cmds, to) {
				return 0, false
			}
			c.in.m.errProto.Inc()
			// Redis' own wording, so clients recognize it.
			msg := strings.TrimPrefix(err.Error(), errProtocol.Error()+": ")
			c.localReply([]byte("-ERR Protocol error: " + msg + "\r\n"))
			return 0, false
		}
		if !done {
			break
		}
		cmdStart := lastDone
		lastDone = scan
		counted := 1
		if c.partialSent {
			counted, c.partialSent = 0, false
		}
		kind := classify(c.sc.name(), c.sc.arg1())
		// The commands before a change of target are sent first, to
		// their own.
		target := c.dest(kind, counted == 0, reads)
		if target != to {
			if cmdStart > start {
				if !c.forward(buf[start:cmdStart], cmds, to) {
					return 0, false
				}
				start, cmds = cmdStart, 0
			}
			to = target
		}
		if kind == cmdWait && to == toMaster && c.shared != nil && counted == 1 && !c.multi {
			// A WAIT after shared commands starts its own segment, so
			// that forward can put a syncWrite before it (not inside a
			// transaction, whose EXEC would answer it too).
			if !c.forward(buf[start:cmdStart], cmds, to) {
				return 0, false
			}
			start, cmds = cmdStart, 0
			c.syncNext = true
		}
		if kind == cmdPlain || kind == cmdWait || counted == 0 {
			cmds += counted
			continue
		}
		switch kind {
		case cmdLocalOK, cmdRefused:
			// Forward what came before, answer after its replies.
			if !c.forward(buf[start:cmdStart], cmds, to) {
				return 0, false
			}
			reply := replyOK
			if kind == cmdRefused {
				reply = errNoMaintNotifications
			}
			if !c.localReply(reply) {
				return 0, false
			}
			start, cmds = scan, 0
			continue
		case cmdQuit:
			if c.forward(buf[start:cmdStart], cmds, to) {
				c.localReply(replyOK)
			}
			return 0, false
		case cmdRaw:
			c.raw.Store(true)
			return end, c.forward(buf[start:end], cmds+1, toMaster)
		case cmdSelect, cmdHello, cmdReset:
			c.replicaStale = true
		}
		c.mu.Lock()
		switch kind {
		case cmdSelect:
			if db, ok := parseDB(c.sc.arg1()); ok && !c.multi {
				c.db = db
			} else {
				c.opaque = true
			}
		case cmdMulti:
			c.multi = true
		case cmdExec:
			c.multi, c.watching = false, false
		case cmdWatch:
			c.watching = true
		case cmdUnwatch:
			if !c.multi {
				c.watching = false
			}
		case cmdReset:
			c.multi, c.watching, c.opaque, c.db, c.resp3 = false, false, false, 0, false
		case cmdHello:
			// HELLO 2|3 alone is followed; AUTH or SETNAME options are not.
			switch v := c.sc.arg1(); {
			case c.sc.nargs > 2 || c.multi:
				c.opaque = true
			case eqFold(v, "3"):
				c.resp3 = true
			case eqFold(v, "2"):
				c.resp3 = false
			case len(v) > 0:
				c.opaque = true
			}
		}
		c.mu.Unlock()
		cmds++
	}
	// Forward complete commands, keep an incomplete one for the next read.
	boundary := end
	if c.sc.midCommand() && !c.partialSent {
		boundary = lastDone
	}
	if boundary > start || cmds > 0 {
		if !c.forward(buf[start:boundary], cmds, to) {
			return 0, false
		}
	}
	return boundary, true
}

// dest is where forward sends commands.
type dest uint8

const (
	toMaster  dest = iota // the connection's own backend on the master
	toReplica             // its backend on a replica, for reads
	toShared2             // the instance's shared RESP2 connection to the master
	toShared3             // the instance's shared RESP3 connection to the master
)

// dest picks where the command just scanned goes, of the given kind and
// the continuation of a command streamed in pieces if cont, and pins the
// connection if that is not a shared connection. reads: reads may go to a
// replica now.
//
// Reads outside transactions may go to a replica. Until the connection is
// pinned, shareable commands go to the shared connection of its protocol,
// and so does HELLO with nothing but a protocol version: on a connection
// already speaking that version it changes nothing.
func (c *clientConn) dest(kind cmdKind, cont, reads bool) dest {
	switch {
	case cont:
		return toMaster // pinned when its first piece was streamed
	case reads && kind == cmdPlain && !c.multi && !c.watching && !c.opaque && readOnly(c.sc.name()):
		c.pin()
		return toReplica
	case kind == cmdLocalOK || kind == cmdRefused || kind == cmdQuit:
		return toMaster // answered here; no need to pin
	case c.pinned || !c.in.sharing:
		return toMaster
	case c.sc.isInline:
		// Redis splits inline commands with quote rules the scanner does
		// not check, and closes the connection on unbalanced quotes: that
		// must not take the shared connection down.
	case kind == cmdPlain && shareable(c.sc.name()):
		return sharedDest(c.resp3)
	case kind == cmdHello && c.sc.nargs == 1:
		return sharedDest(c.resp3)
	case kind == cmdHello && c.sc.nargs == 2 && (eqFold(c.sc.arg1(), "2") || eqFold(c.sc.arg1(), "3")):
		return sharedDest(eqFold(c.sc.arg1(), "3"))
	}
	c.pin()
	return toMaster
}

// pin makes the connection use backends of its own from now on.
func (c *clientConn) pin() {
	if !c.pinned && c.in.sharing {
		c.in.m.pinned.Inc()
	}
	c.pinned = true
}

func sharedDest(resp3 bool) dest {
	if resp3 {
		return toShared3
	}
	return toShared2
}

// forward writes b, holding cmds new commands, to the backend that to
// names, connecting first if needed. It returns false when the connection
// must close.
func (c *clientConn) forward(b []byte, cmds int, to dest) bool {
	if cmds == 0 && (len(b) == 0 || !c.pinned) {
		// Nothing, or only empty lines and empty arrays, which Redis
		// ignores: no reason to connect a client not pinned.
		return true
	}
	switch to {
	case toShared2, toShared3:
		return c.forwardShared(b, cmds, to == toShared3)
	case toReplica:
		if ok, sent := c.forwardReplica(b, cmds); !ok || sent {
			return ok
		}
		// No replica reachable: the master answers.
	}
	r := c.in.route.Load()
	c.mu.Lock()
	be := c.be
	if be != nil && be.route != r {
		// A route change that routeChanged has not applied yet.
		c.detachLocked()
		be = nil
	}
	if be == nil {
		if c.partialSent || c.closed || !c.resumable {
			// The first part of a command, a transaction, watched keys
			// or a pub/sub session are on a backend that is gone:
			// nothing sensible can follow on another one.
			c.mu.Unlock()
			return false
		}
		c.mu.Unlock()
		if !c.waitDrained() {
			return false
		}
		nb, err := c.dial(r)
		if err != nil {
			c.in.log.Warn("cannot connect to master", "master", r.addr, "err", err)
			return c.failCommands(cmds, err)
		}
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			nb.conn.Close()
			return false
		}
		c.be, be = nb, nb
		go c.pump(nb)
	}
	if c.syncNext && !be.synced {
		be.synced = true
		be.skipAt.Store(be.sent)
		be.skip.Store(true)
		b = append(slices.Clip(syncWrite), b...)
	}
	c.syncNext = false
	c.sent += uint64(cmds)
	be.sent += uint64(cmds)
	c.mu.Unlock()
	if cmds > 0 {
		c.in.m.commands.Add(float64(cmds))
	}
	if _, err := be.w.Write(b); err != nil {
		// pump sees the broken connection and fails what is in flight.
		closeAsync(be.conn)
	}
	return true
}

// readsToReplicas reports whether reads may go to a replica now.
func (c *clientConn) readsToReplicas() bool {
	return len(*c.in.replicas.Load()) > 0 && (c.noReplica.IsZero() || time.Now().After(c.noReplica))
}

// forwardReplica writes reads to the connection's replica, connecting to
// one of the instance's in-sync replicas first if needed (round robin
// across connections). sent is false when the reads must go to the master
// instead: no replica is reachable, or commands are in flight on another
// backend. ok is false when the connection must close.
//
// Order of replies: reads go to a replica only while nothing else is in
// flight, and the master's pump writes only while no read is (see pump).
// So serve never waits for replies, which a client that writes a whole
// pipeline before reading would deadlock on.
func (c *clientConn) forwardReplica(b []byte, cmds int) (ok, sent bool) {
	if time.Now().Before(c.noReplica) {
		return true, false
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return false, false
	}
	if c.sent-c.recv > c.rsent-c.rrecv {
		c.mu.Unlock()
		return true, false
	}
	if c.replicaStale {
		// The replica connection has an old database or protocol:
		// replace it once its replies are in.
		if c.rsent != c.rrecv {
			c.mu.Unlock()
			return true, false
		}
		c.dropReplicaLocked()
		c.replicaStale = false
	}
	be := c.rbe
	if be == nil {
		// A new replica connection only when nothing at all is in flight,
		// error replies of a lost one included.
		if c.sent != c.recv {
			c.mu.Unlock()
			return true, false
		}
		c.mu.Unlock()
		reps := *c.in.replicas.Load()
		if len(reps) == 0 {
			return true, false
		}
		addr := reps[int(c.in.nextReplica.Add(1)%uint32(len(reps)))]
		nb, err := c.dial(&route{addr: addr, password: c.in.route.Load().password})
		if err != nil {
			c.noReplica = time.Now().Add(replicaRetry)
			c.in.log.Warn("cannot connect to a replica; this connection reads from the master for a while",
				"replica", addr, "err", err, "for", replicaRetry)
			return true, false
		}
		nb.replica = true
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			nb.conn.Close()
			return false, false
		}
		c.rbe, be = nb, nb
		c.usedSide.Store(true)
		go c.pump(nb)
	}
	c.sent += uint64(cmds)
	c.rsent += uint64(cmds)
	be.sent += uint64(cmds)
	c.mu.Unlock()
	if cmds > 0 {
		c.in.m.commands.Add(float64(cmds))
		c.in.m.replicaCommands.Add(float64(cmds))
	}
	if _, err := be.w.Write(b); err != nil {
		closeAsync(be.conn)
	}
	return true, true
}

// forwardShared queues b, holding cmds commands, on the instance's shared
// connection to the master for the protocol, connecting first if needed.
// It returns false when the connection must close.
func (c *clientConn) forwardShared(b []byte, cmds int, resp3 bool) bool {
	n := uint64(cmds)
	for {
		m, err := c.in.sharedConn(c.in.route.Load(), resp3)
		if err != nil {
			c.in.log.Warn("cannot connect to master", "master", c.in.route.Load().addr, "err", err)
			return c.failCommands(cmds, err)
		}
		if m != c.shared {
			// The replies (or errors) from an earlier shared connection
			// come first.
			if !c.waitUntil(func() bool { return c.ssent == c.srecv }) {
				return false
			}
			c.shared = m
			c.usedSide.Store(true)
		}
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return false
		}
		c.sent += n
		c.ssent += n
		c.mu.Unlock()
		if m.send(c, b, cmds) {
			c.in.m.commands.Add(float64(cmds))
			return true
		}
		// Closed meanwhile, without taking them: try the next one.
		c.mu.Lock()
		c.sent -= n
		c.ssent -= n
		c.mu.Unlock()
	}
}

// answeredShared records n replies (or errors) from a shared connection
// handed to the client.
func (c *clientConn) answeredShared(n uint64) {
	c.mu.Lock()
	c.recv += n
	c.srecv += n
	c.cond.Broadcast()
	c.mu.Unlock()
}

// failCommands answers cmds commands that could not be sent with err.
func (c *clientConn) failCommands(cmds int, err error) bool {
	if cmds == 0 {
		return true
	}
	var msg []byte
	if ne, ok := err.(*noMasterError); ok {
		c.in.m.errNoMaster.Add(float64(cmds))
		msg = []byte("-ERR mrredis: instance " + ne.name + " has no master right now; retry\r\n")
	} else {
		c.in.m.errBackend.Add(float64(cmds))
		msg = []byte("-ERR mrredis: master of instance " + c.in.name + " is unreachable, command not executed; retry (" +
			string(bytes.ReplaceAll([]byte(err.Error()), []byte("\r\n"), []byte(" "))) + ")\r\n")
	}
	return c.localReply(bytes.Repeat(msg, cmds))
}

type noMasterError struct{ name string }

func (e *noMasterError) Error() string { return "instance " + e.name + " has no master" }

// dial connects to the route's server and recreates the connection's
// state there: AUTH with the instance password, SELECT of its database,
// HELLO 3.
func (c *clientConn) dial(r *route) (*backend, error) {
	c.mu.Lock()
	db, resp3 := c.db, c.resp3
	c.mu.Unlock()
	return c.in.dial(r, db, resp3)
}

// dial connects to the route's server and sets the connection up: AUTH
// with the instance password, SELECT db, HELLO 3.
func (in *instance) dial(r *route, db int, resp3 bool) (*backend, error) {
	if r.addr == "" {
		return nil, &noMasterError{name: in.name}
	}
	timeout := in.p.opts.DialTimeout
	ctx, cancel := context.WithTimeout(in.ctx, timeout)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", r.addr)
	if err != nil {
		return nil, err
	}
	var hs []byte
	want := 0
	if r.password != "" {
		hs = appendCommand(hs, "AUTH", r.password)
		want++
	}
	if db != 0 {
		hs = appendCommand(hs, "SELECT", strconv.Itoa(db))
		want++
	}
	if resp3 {
		hs = appendCommand(hs, "HELLO", "3")
		want++
	}
	if want > 0 {
		if err := handshake(nc, hs, want, timeout); err != nil {
			nc.Close()
			return nil, fmt.Errorf("%s: %w", r.addr, err)
		}
	}
	return &backend{conn: nc, w: newRawWriter(nc), route: r}, nil
}

// handshake writes cmds and reads want replies, failing on an error reply.
func handshake(nc net.Conn, cmds []byte, want int, timeout time.Duration) error {
	_ = nc.SetDeadline(time.Now().Add(timeout))
	defer nc.SetDeadline(time.Time{})
	if _, err := nc.Write(cmds); err != nil {
		return err
	}
	var rs replyScanner
	var buf [4096]byte
	for want > 0 {
		n, err := nc.Read(buf[:])
		if err != nil {
			return err
		}
		// Byte by byte: the handshake is small and rare, and this way
		// the first byte of every reply is seen.
		for i := 0; i < n; i++ {
			if !rs.midReply() && (buf[i] == '-' || buf[i] == '!') {
				line, _, _ := bytes.Cut(buf[i:n], []byte("\r\n"))
				return fmt.Errorf("redis refused the proxy's handshake: %s", line)
			}
			k, err := rs.feed(buf[i : i+1])
			if err != nil {
				return err
			}
			want -= k
		}
	}
	if want < 0 {
		return fmt.Errorf("redis sent more replies than asked during the handshake")
	}
	return nil
}

func appendCommand(b []byte, args ...string) []byte {
	b = append(b, '*')
	b = strconv.AppendInt(b, int64(len(args)), 10)
	b = append(b, '\r', '\n')
	for _, a := range args {
		b = append(b, '$')
		b = strconv.AppendInt(b, int64(len(a)), 10)
		b = append(b, '\r', '\n')
		b = append(b, a...)
		b = append(b, '\r', '\n')
	}
	return b
}

// waitDrained waits until every command sent so far is answered, so that
// a local reply or a new backend's replies come in order. It returns
// false if the connection closed meanwhile.
func (c *clientConn) waitDrained() bool {
	return c.waitUntil(func() bool { return c.recv == c.sent })
}

// waitSideAnswered waits until nothing is in flight on a replica or a
// shared connection: the replies of the connection's own master backend
// come after theirs.
func (c *clientConn) waitSideAnswered() bool {
	return c.waitUntil(func() bool { return c.rsent == c.rrecv && c.ssent == c.srecv })
}

// waitUntil waits until done (called with c.mu held) is true, woken by
// every answer. It returns false if the connection closed meanwhile.
func (c *clientConn) waitUntil(done func() bool) bool {
	c.mu.Lock()
	for !done() && !c.closed {
		c.cond.Wait()
	}
	closed := c.closed
	c.mu.Unlock()
	return !closed
}

// localReply writes b to the client after the replies of everything sent.
func (c *clientConn) localReply(b []byte) bool {
	return c.waitDrained() && c.send(b, 0)
}

// send writes b, holding the replies to n commands on a shared connection,
// to the client without waiting: what the socket does not take now is
// queued for a flush goroutine, and so is everything after it until the
// queue is empty. Shared connections answer clients this way, so that one
// client that does not read cannot stall the others. It returns false
// once writing to the client failed.
//
// Replies are counted before they are written, under wmu: a client that
// has its reply may send its next command at once, and serve must then
// see nothing in flight (see forwardReplica); whatever serve writes after
// it waits for wmu and so comes after the reply.
func (c *clientConn) send(b []byte, n uint64) bool {
	c.wmu.Lock()
	if n > 0 {
		c.answeredShared(n)
	}
	if c.wfailed {
		c.wmu.Unlock()
		return false
	}
	if !c.flushing {
		k, err := c.cw.TryWrite(b)
		if err != nil {
			c.wfailed = true
			c.wmu.Unlock()
			c.close()
			return false
		}
		if b = b[k:]; len(b) == 0 {
			c.wmu.Unlock()
			return true
		}
		c.flushing = true
		go c.flush()
	}
	c.outq = append(c.outq, b...)
	c.wmu.Unlock()
	return true
}

// sendWait writes b, holding the replies to n commands on be, to the
// client, waiting while its socket is full, so that a client
// that reads slowly slows its own backends down. Replies are counted
// first, as in send. Only the connection's own backends write this way:
// nothing is in flight for the client on a shared connection then (see
// pump), so no shared connection waits for wmu meanwhile.
func (c *clientConn) sendWait(b []byte, be *backend, n uint64) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	for c.flushing && !c.wfailed {
		c.flushed.Wait()
	}
	if n > 0 {
		c.answered(be, n)
	}
	if c.wfailed {
		return net.ErrClosed
	}
	_, err := c.cw.Write(b)
	if err != nil {
		c.wfailed = true
	}
	return err
}

// flush writes the queued output until the queue is empty.
func (c *clientConn) flush() {
	var buf []byte
	for {
		c.wmu.Lock()
		if len(c.outq) == 0 {
			c.flushing = false
			c.outq = buf[:0]
			c.flushed.Broadcast()
			c.wmu.Unlock()
			return
		}
		buf, c.outq = c.outq, buf[:0]
		c.wmu.Unlock()
		if _, err := c.cw.Write(buf); err != nil {
			c.wmu.Lock()
			c.flushing, c.wfailed, c.outq = false, true, nil
			c.flushed.Broadcast()
			c.wmu.Unlock()
			c.close()
			return
		}
	}
}

// finish waits until the output queued for the client is written, reading
// and dropping what the client still sends meanwhile, as Redis does after
// QUIT: a client that writes before it reads would otherwise never read.
// A client that closes its end is not waited for.
func (c *clientConn) finish() {
	c.wmu.Lock()
	flushing := c.flushing && !c.wfailed
	c.wmu.Unlock()
	if !flushing {
		return
	}
	go func() {
		c.waitFlushed()
		_ = c.client.SetReadDeadline(time.Unix(1, 0)) // ends the copy below
	}()
	_, _ = io.Copy(io.Discard, c.client)
}

// waitFlushed waits until the queued output is written (or writing it
// failed).
func (c *clientConn) waitFlushed() {
	c.wmu.Lock()
	for c.flushing && !c.wfailed {
		c.flushed.Wait()
	}
	c.wmu.Unlock()
}

// answered records n more replies from be written to the client.
func (c *clientConn) answered(be *backend, n uint64) {
	c.mu.Lock()
	be.recv += n
	c.recv += n
	if be.replica {
		c.rrecv += n
	}
	if be.retiring && be.sent == be.recv {
		be.detached.Store(true)
		closeAsync(be.conn)
		if c.retired == be {
			c.retired = nil
		}
	}
	c.cond.Broadcast()
	c.mu.Unlock()
}

// pump copies replies from be to the client until be closes.
func (c *clientConn) pump(be *backend) {
	buf := make([]byte, bufSize)
	var rs replyScanner
	var seen uint64 // replies passed on
	_ = readLoop(be.conn, false, func() []byte { return buf }, func(n int) bool {
		if be.detached.Load() {
			return false
		}
		data := buf[:n]
		if be.skip.Load() {
			// The syncWrite's reply is in this read or a later one.
			var ok bool
			if data, ok = c.skipSyncReply(be, &rs, &seen, data); !ok {
				return false
			}
			if len(data) == 0 {
				return true
			}
		}
		k := 0
		// A replica only ever answers reads: its replies are counted in
		// pub/sub mode too, for the master's pump waits on them.
		if !c.raw.Load() || be.replica {
			var perr error
			if k, perr = rs.feed(data); perr != nil {
				c.badReply(be, perr)
				return false
			}
		}
		return c.passOn(be, data, k, &seen)
	})
	c.backendGone(be, &rs)
}

// passOn writes data, holding k replies from be, to the client, after the
// replies from elsewhere that come first. It returns false when pump must
// stop.
func (c *clientConn) passOn(be *backend, data []byte, k int, seen *uint64) bool {
	if !be.replica && c.usedSide.Load() && (!c.waitSideAnswered() || be.detached.Load()) {
		// Closed, or detached while waiting: as above, replies read
		// after the switch are dropped.
		return false
	}
	if werr := c.sendWait(data, be, uint64(k)); werr != nil {
		c.close()
		return false
	}
	*seen += uint64(k)
	return true
}

// skipSyncReply passes on the replies in data before the syncWrite's,
// drops that one once it is complete, and returns the rest of data. ok is
// false when pump must stop.
func (c *clientConn) skipSyncReply(be *backend, rs *replyScanner, seen *uint64, data []byte) (rest []byte, ok bool) {
	if before := be.skipAt.Load() - *seen; before > 0 {
		k, done, err := rs.scan(data, int(before))
		if err != nil {
			c.badReply(be, err)
			return nil, false
		}
		if !c.passOn(be, data[:k], done, seen) {
			return nil, false
		}
		if data = data[k:]; uint64(done) < before {
			return data, true // data is used up
		}
	}
	k, done, err := rs.scan(data, 1)
	if err != nil {
		c.badReply(be, err)
		return nil, false
	}
	if done == 1 {
		be.skip.Store(false)
	}
	return data[k:], true
}

// badReply closes the client after be sent something that is not RESP.
func (c *clientConn) badReply(be *backend, err error) {
	c.in.log.Error(be.role()+" sent something that is not RESP; closing the client connection", "err", err)
	c.close()
}

// backendGone handles the end of be: a route change (be was detached) or
// the master going away. Commands in flight get an error reply; a client
// whose state cannot move to another backend is closed.
func (c *clientConn) backendGone(be *backend, rs *replyScanner) {
	// The error replies of the master's commands come after the replica's
	// answers to earlier reads, like its replies would have.
	if !be.replica && c.usedSide.Load() && !c.waitSideAnswered() {
		return
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	if be.replica {
		c.replicaGone(be, rs)
		return
	}
	switched := c.be != be
	movable := be.movable
	if !switched {
		c.be = nil
		movable = c.movableLocked()
		c.resumable = movable
	}
	be.detached.Store(true)
	closeAsync(be.conn)
	inFlight := be.sent - be.recv
	if c.raw.Load() {
		inFlight = 0 // not counted in pub/sub mode; the client is closed
	}
	closeClient := !movable || (inFlight > 0 && rs.midReply())
	c.mu.Unlock()
	if inFlight > 0 && !rs.midReply() {
		msg, ctr := errBackendLost, c.in.m.errBackend
		if switched {
			msg, ctr = errMasterChanged, c.in.m.errMasterChanged
		}
		c.failInFlight(be, inFlight, msg, ctr)
	} else {
		c.answered(be, inFlight)
	}
	if closeClient {
		c.close()
	}
}

// replicaGone is backendGone for a replica connection, called with c.mu
// held. Only reads went there, outside transactions: the client can go on
// unless a reply was cut in half.
func (c *clientConn) replicaGone(be *backend, rs *replyScanner) {
	if c.rbe == be {
		c.rbe = nil
	}
	if c.retired == be {
		c.retired = nil
	}
	be.detached.Store(true)
	closeAsync(be.conn)
	inFlight := be.sent - be.recv
	cut := inFlight > 0 && rs.midReply()
	c.mu.Unlock()
	if inFlight > 0 && !cut {
		c.failInFlight(be, inFlight, errReplicaLost, c.in.m.errReplica)
	} else {
		c.answered(be, inFlight)
	}
	if cut {
		c.close()
	}
}

// failInFlight answers the n commands in flight on be, which is lost,
// with msg.
func (c *clientConn) failInFlight(be *backend, n uint64, msg []byte, ctr prometheus.Counter) {
	ctr.Add(float64(n))
	_ = c.sendWait(bytes.Repeat(msg, int(n)), be, n)
}
