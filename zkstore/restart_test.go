package zkstore

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/mrredis/mrredis/internal/testenv"
)

// TestZooKeeperRestart kills the real server and starts it again. It is
// not parallel: the server is shared by this test binary, and Go runs the
// parallel tests only after the sequential ones are done.
func TestZooKeeperRestart(t *testing.T) {
	zks := testenv.ZooKeeper(t)
	root := testenv.Root(t)
	ctx := testCtx(t)
	mod := func(c *Config) { c.SessionTimeout = 4 * time.Second; c.OpTimeout = time.Second }
	s, direct := openStore(t, root, mod), openStore(t, root, mod)
	if _, err := direct.CreateInstance(ctx, newInstance("db")); err != nil {
		t.Fatal(err)
	}
	if _, err := direct.SetMaster(ctx, "db", "h:1", -1); err != nil {
		t.Fatal(err)
	}
	w := s.WatchMaster(ctx, "db")
	recv(t, w, "initial", func(c MasterChange) bool { return c.Addr == "h:1" })

	zks.Kill()
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			rctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			_ = zks.Restart(rctx)
		}
	})
	start := time.Now()
	_, _, err := s.GetInstance(ctx, "db")
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("get while ZooKeeper is down: %v, want ErrUnavailable", err)
	}
	t.Logf("get while ZooKeeper is down failed after %s: %v", time.Since(start).Round(time.Millisecond), err)
	// The watch stays armed while disconnected (the last value stays
	// valid for its user) and ZooKeeper delivers what changed on reconnect.

	rctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := zks.Restart(rctx); err != nil {
		t.Fatal(err)
	}
	restarted = true
	waitFor(t, "write after restart", func() bool {
		_, err := direct.ForceSetMaster(ctx, "db", "h:2")
		return err == nil
	})
	recv(t, w, "watch after restart", func(c MasterChange) bool { return c.Addr == "h:2" })
}
