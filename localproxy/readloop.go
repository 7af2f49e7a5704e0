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
func readLoop(nc net.Conn, next func() []byte, handle func(n int) bool) error {
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
			if n < len(b) {
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
