package localproxy

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/mrredis/mrredis/internal/testenv"
)

// BenchmarkRoundTrip measures one PING round trip on one connection,
// directly and through the proxy: the difference is the latency the
// proxy adds. Pipelined runs 16 PINGs per round trip.
func BenchmarkRoundTrip(b *testing.B) {
	rs := testenv.StartRedis(b)
	p := New(context.Background(), Options{PortLo: 1, PortHi: 65535, Logger: testLogger(nopWriter{})})
	defer p.Close()
	port := testenv.FreePort(b)
	if err := p.Add("bench", port, ""); err != nil {
		b.Fatal(err)
	}
	_ = p.SetMaster("bench", rs.Addr)
	if err := testenv.WaitTCP(addrOf(port), 10*time.Second); err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name, addr string
		pipeline   int
	}{
		{"direct", rs.Addr, 1}, {"proxy", addrOf(port), 1},
		{"direct-P16", rs.Addr, 16}, {"proxy-P16", addrOf(port), 16},
	} {
		b.Run(tc.name, func(b *testing.B) {
			c, err := net.Dial("tcp", tc.addr)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			var req []byte
			for i := 0; i < tc.pipeline; i++ {
				req = append(req, "*1\r\n$4\r\nPING\r\n"...)
			}
			want := 7 * tc.pipeline // "+PONG\r\n"
			b.ReportAllocs()
			buf := make([]byte, 4096)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := c.Write(req); err != nil {
					b.Fatal(err)
				}
				for got := 0; got < want; {
					n, err := c.Read(buf)
					if err != nil {
						b.Fatal(err)
					}
					got += n
				}
			}
		})
	}
}
