package integration

import (
	"fmt"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/mrredis/mrredis/client"
	"github.com/mrredis/mrredis/internal/model"
)

// TestInstanceLifecycle walks one instance through its whole life on the
// real binaries: create with 2 replicas, data through the master and the
// local proxy, scale 2 -> 4 -> 1, delete, and nothing left behind.
func TestInstanceLifecycle(t *testing.T) {
	s := newSystem(t, options{agents: 5})
	s.startProxy()
	ctx := s.ctx()

	v := s.create(model.Spec{Name: "cache", MemoryMB: 64, Replicas: 2, Password: "s3cret"})
	if v.ProxyPort < s.portLo || v.ProxyPort > s.portHi {
		t.Fatalf("proxy port %d outside %d-%d", v.ProxyPort, s.portLo, s.portHi)
	}
	hosts := map[string]bool{}
	for _, m := range v.Members {
		hosts[m.Host] = true
	}
	if len(v.Members) != 3 || len(hosts) != 3 {
		t.Fatalf("want 3 members on 3 distinct hosts, got %+v", v.Members)
	}

	// Through the master directly, with the instance password.
	master := redisAt(t, v.Master, "s3cret")
	if err := master.Set(ctx, "k", "v1", 0).Err(); err != nil {
		t.Fatalf("SET on master %s: %v", v.Master, err)
	}
	// Through the local proxy, which authenticates for the client.
	proxy := redisAt(t, fmt.Sprintf("127.0.0.1:%d", v.ProxyPort), "")
	waitRedis(t, func() error {
		got, err := proxy.Get(ctx, "k").Result()
		if err == nil && got != "v1" {
			return fmt.Errorf("GET k = %q, want v1", got)
		}
		return err
	})
	if err := proxy.Set(ctx, "k2", "v2", 0).Err(); err != nil {
		t.Fatalf("SET through proxy: %v", err)
	}
	// Replicas receive the writes.
	for _, m := range v.Members {
		if m.Role != model.RoleReplica {
			continue
		}
		r := redisAt(t, m.Addr(), "s3cret")
		waitRedis(t, func() error {
			got, err := r.Get(ctx, "k2").Result()
			if err == nil && got != "v2" {
				return fmt.Errorf("replica %s: GET k2 = %q", m.Addr(), got)
			}
			return err
		})
	}

	for _, n := range []int{4, 1} {
		if _, err := s.api.Scale(ctx, "cache", n); err != nil {
			t.Fatalf("scale to %d: %v", n, err)
		}
		v = s.waitFor("cache", fmt.Sprintf("RUNNING with %d replicas in sync", n), func(v model.InstanceView) bool {
			return v.State == model.StateRunning && v.Replicas == n && v.ReplicasInSync == n && len(v.Members) == n+1
		})
		if got, err := proxy.Get(ctx, "k").Result(); err != nil || got != "v1" {
			t.Fatalf("after scale to %d: GET k = %q, %v", n, got, err)
		}
	}

	if err := s.api.Delete(ctx, "cache"); err != nil {
		t.Fatalf("delete: %v", err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		_, err := s.api.Get(ctx, "cache")
		if client.IsNotFound(err) && len(redisServersUnder(s.dir)) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after delete: get err %v, redis-servers left %v", err, redisServersUnder(s.dir))
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The port is free again: the next instance gets the same lowest port.
	v2 := s.create(model.Spec{Name: "again", MemoryMB: 32, Replicas: 0})
	if v2.ProxyPort != v.ProxyPort {
		t.Fatalf("port %d not reused after delete: new instance got %d", v.ProxyPort, v2.ProxyPort)
	}
}

// TestBadRequestsChangeNothing sends invalid input to the real scheduler and
// checks each answer and that no instance appeared.
func TestBadRequestsChangeNothing(t *testing.T) {
	s := newSystem(t, options{agents: 1})
	ctx := s.ctx()
	s.create(model.Spec{Name: "taken", MemoryMB: 32})
	tests := []struct {
		spec   model.Spec
		status int
	}{
		{model.Spec{Name: "Bad_Name", MemoryMB: 32}, 400},
		{model.Spec{Name: "zero", MemoryMB: 0}, 400},
		{model.Spec{Name: "huge", MemoryMB: 1 << 30}, 400},
		{model.Spec{Name: "neg", MemoryMB: 32, Replicas: -1}, 400},
		{model.Spec{Name: "many", MemoryMB: 32, Replicas: 1000}, 400},
		{model.Spec{Name: "pers", MemoryMB: 32, Persistence: "tape"}, 400},
		{model.Spec{Name: "taken", MemoryMB: 32}, 409},
	}
	for _, tt := range tests {
		_, err := s.api.Create(ctx, tt.spec)
		apiErr, ok := err.(*client.APIError)
		if !ok || apiErr.Status != tt.status || apiErr.Message == "" {
			t.Errorf("create %+v: got %v, want HTTP %d with a message", tt.spec, err, tt.status)
		}
	}
	if _, err := s.api.Get(ctx, "nope"); !client.IsNotFound(err) {
		t.Errorf("get unknown: %v, want 404", err)
	}
	list, err := s.api.List(ctx)
	if err != nil || len(list) != 1 {
		t.Fatalf("list after bad requests: %d instances, %v; want only 'taken'", len(list), err)
	}
}

// waitRedis retries f for a few seconds: a proxy listener or a replica
// stream may need a moment after the API says RUNNING.
func waitRedis(t *testing.T, f func() error) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestReadFromReplicas checks the whole path of an instance created with
// read_from_replicas: the scheduler lists its in-sync replica in ZooKeeper,
// the proxy follows, and reads through the proxy land on the replica while
// writes land on the master.
func TestReadFromReplicas(t *testing.T) {
	s := newSystem(t, options{agents: 2})
	s.startProxy()
	ctx := s.ctx()
	v := s.create(model.Spec{Name: "reads", MemoryMB: 32, Replicas: 1, Password: "pw", ReadFromReplicas: true})
	var replicaAddr string
	for _, m := range v.Members {
		if m.Role == model.RoleReplica {
			replicaAddr = m.Addr()
		}
	}
	master, replica := redisAt(t, v.Master, "pw"), redisAt(t, replicaAddr, "pw")
	proxy := redisAt(t, fmt.Sprintf("127.0.0.1:%d", v.ProxyPort), "")
	if err := proxy.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET through the proxy: %v", err)
	}
	getCalls := func(c *redis.Client) int {
		info, err := c.Info(ctx, "commandstats").Result()
		if err != nil {
			t.Fatalf("INFO commandstats: %v", err)
		}
		m := regexp.MustCompile(`cmdstat_get:calls=(\d+)`).FindStringSubmatch(info)
		if m == nil {
			return 0
		}
		n, _ := strconv.Atoi(m[1])
		return n
	}
	// The proxy learns the replica from ZooKeeper shortly after RUNNING.
	waitRedis(t, func() error {
		before := getCalls(replica)
		if got, err := proxy.Get(ctx, "k").Result(); err != nil || got != "v" {
			return fmt.Errorf("GET k through the proxy = %q, %v", got, err)
		}
		if getCalls(replica) == before {
			return fmt.Errorf("GET through the proxy did not reach the replica %s", replicaAddr)
		}
		return nil
	})
	m0, r0 := getCalls(master), getCalls(replica)
	for i := 0; i < 20; i++ {
		if got, err := proxy.Get(ctx, "k").Result(); err != nil || got != "v" {
			t.Fatalf("GET %d through the proxy = %q, %v", i, got, err)
		}
	}
	if dm, dr := getCalls(master)-m0, getCalls(replica)-r0; dm != 0 || dr != 20 {
		t.Fatalf("20 GETs through the proxy: %d on the master, %d on the replica; want 0 and 20", dm, dr)
	}
	if err := proxy.Incr(ctx, "n").Err(); err != nil {
		t.Fatalf("INCR through the proxy: %v", err)
	}
	if got, err := master.Get(ctx, "n").Result(); err != nil || got != "1" {
		t.Fatalf("the write did not reach the master: GET n = %q, %v", got, err)
	}
}
