package localproxy

import (
	"io"
	"net"
	"testing"
	"time"
)

// TestReadLoopDrainSeesClose: a peer that writes its last bytes and
// closes at once (Redis after a protocol error, CLIENT KILL, a timeout)
// can deliver data and FIN in one readiness edge; with drain, readLoop
// still sees the close.
func TestReadLoopDrainSeesClose(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	missed := 0
	const rounds = 20
	for range rounds {
		cc, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		sc, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		buf := make([]byte, 16<<10)
		go func() {
			done <- readLoop(cc, true, func() []byte { return buf }, func(int) bool { return true })
		}()
		time.Sleep(20 * time.Millisecond) // reader parked in the poller
		sc.Write([]byte("-ERR bye\r\n"))
		sc.Close()
		select {
		case err := <-done:
			if err != io.EOF {
				t.Fatalf("readLoop ended with %v, want io.EOF", err)
			}
		case <-time.After(time.Second):
			missed++
			cc.Close()
			<-done
		}
		cc.Close()
	}
	if missed > 0 {
		t.Fatalf("readLoop missed the peer's close %d times of %d (waits forever for more data)", missed, rounds)
	}
}
