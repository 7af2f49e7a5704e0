package localproxy

import (
	"errors"
	"io"
	"net"
	"syscall"
	"unsafe"
)

// errStopped is readLoop's result when its handler asked to stop.
var errStopped = errors.New("stopped by handler")

// readLoop reads from nc into next() and calls handle with the byte count,
// until handle returns false (errStopped) or reading fails (io.EOF at the
// end of the stream).
//
// It reads through the raw file descriptor so that after a read that did
// not fill the buffer, which means the socket is drained, it waits for the
// poller instead of trying another read that would fail with EAGAIN.
// net.Conn.Read always tries first; on a request/response relay that is
// one wasted system call per message and direction, a good share of the
// proxy's cost. The wait cannot miss data: the poller is edge-triggered
// and every arrival after the read raises a new edge, which Go records
// until the wait (only a new RawConn.Read call forgets it, and this loop
// stays inside one).
//
// It can miss the peer's close, though, when the last data and the FIN
// arrive in one edge. A client connection or a connection of its own is
// still closed soon after: the next write to the closed peer draws a
// reset, which raises an edge, and so does a failed keep-alive probe (Go
// enables them, every 15 s). Where that is not enough, drain makes every
// short read followed by reads until EAGAIN.
func readLoop(nc net.Conn, drain bool, next func() []byte, handle func(n int) bool) error {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return plainReadLoop(nc, next, handle)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return plainReadLoop(nc, next, handle)
	}
	var result error
	err = rc.Read(func(fd uintptr) bool {
		for {
			b := next()
			n, err := rawRead(int(fd), b)
			switch {
			case err == syscall.EAGAIN:
				return false
			case err == syscall.EINTR:
				continue
			case err != nil:
				result = err
				return true
			case n == 0:
				result = io.EOF
				return true
			}
			if !handle(n) {
				result = errStopped
				return true
			}
			if n < len(b) && !drain {
				return false
			}
		}
	})
	if err != nil {
		return err
	}
	return result
}

func plainReadLoop(nc net.Conn, next func() []byte, handle func(n int) bool) error {
	for {
		n, err := nc.Read(next())
		if n > 0 && !handle(n) {
			return errStopped
		}
		if err != nil {
			return err
		}
	}
}

// rawRead is read(2) without the runtime's entersyscall/exitsyscall: on a
// non-blocking socket it never blocks, so the scheduler need not hand the
// P to another thread if it takes long (which on a loaded machine costs
// thread wake-ups and context switches).
func rawRead(fd int, b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	n, _, e := syscall.RawSyscall(syscall.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// rawWriter writes to a connection with write(2) directly, for the reason
// rawRead reads that way: a write to a loopback socket runs the receiver's
// TCP processing too and may take long enough for the scheduler to hand
// the P to another thread. A full socket buffer still waits for the
// poller, through RawConn.Write. Not safe for concurrent use: callers
// serialize (serve owns a backend's writes, a shared connection's are
// made by one sender at a time, wmu and flush guard the client's).
type rawWriter struct {
	nc  net.Conn
	rc  syscall.RawConn // nil: plain nc.Write
	buf []byte          // being written, for fn
	n   int
	err error
	fn  func(fd uintptr) bool // w.write, bound once so writes allocate nothing
	// tryFn is w.write once: a full socket ends the call.
	tryFn func(fd uintptr) bool
}

func newRawWriter(nc net.Conn) *rawWriter {
	w := &rawWriter{nc: nc}
	if sc, ok := nc.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			w.rc = rc
		}
	}
	w.fn = w.write
	w.tryFn = func(fd uintptr) bool {
		w.write(fd)
		return true
	}
	return w
}

// TryWrite writes as much of b as the socket takes without waiting.
func (w *rawWriter) TryWrite(b []byte) (int, error) { return w.do(b, w.tryFn) }

// Write writes all of b or fails.
func (w *rawWriter) Write(b []byte) (int, error) { return w.do(b, w.fn) }

func (w *rawWriter) do(b []byte, fn func(fd uintptr) bool) (int, error) {
	if w.rc == nil {
		return w.nc.Write(b)
	}
	w.buf, w.n, w.err = b, 0, nil
	err := w.rc.Write(fn)
	n, werr := w.n, w.err
	w.buf = nil
	if werr == nil {
		werr = err
	}
	return n, werr
}

func (w *rawWriter) write(fd uintptr) bool {
	for w.n < len(w.buf) {
		b := w.buf[w.n:]
		k, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
		switch e {
		case 0:
			w.n += int(k)
		case syscall.EAGAIN:
			return false // wait until writable, then call again
		case syscall.EINTR:
		default:
			w.err = e
			return true
		}
	}
	return true
}
