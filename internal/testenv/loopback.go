package testenv

import (
	"fmt"
	"math/rand/v2"
)

// LoopbackIPs returns n addresses in a random 127.a.b.0/24 block. Local Mesos
// agents bind to them, so that test binaries running in parallel each get
// their own "hosts" and never fight over the agents' port ranges.
func LoopbackIPs(n int) []string {
	a, b := 1+rand.IntN(250), 1+rand.IntN(250)
	ips := make([]string, n)
	for i := range ips {
		ips[i] = fmt.Sprintf("127.%d.%d.%d", a, b, 2+i)
	}
	return ips
}
