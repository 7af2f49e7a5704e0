package sched

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// pinger PINGs every running master each PingInterval, as the mrr-admin
// user, and reports each result to the core. A master that answers
// anything (even an error) is alive; a timeout or a refused connection is
// a miss. This catches a hung master in PingMisses x PingInterval, faster
// than any Mesos signal.
func (l *leaderLoop) pinger(ctx context.Context) {
	interval := l.s.cfg.PingInterval
	clients := map[string]*redis.Client{} // by task id
	defer func() {
		for _, c := range clients {
			_ = c.Close()
		}
	}()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		l.pingMu.Lock()
		targets := l.pingTargets
		l.pingMu.Unlock()
		seen := map[string]bool{}
		var wg sync.WaitGroup
		for _, t := range targets {
			seen[t.TaskID] = true
			c := clients[t.TaskID]
			if c == nil {
				c = redis.NewClient(&redis.Options{
					Addr: t.Addr, Username: "mrr-admin", Password: t.AdminPassword,
					DialTimeout: interval, ReadTimeout: interval, WriteTimeout: interval,
					PoolSize: 1, MaxRetries: -1, DisableIdentity: true,
				})
				clients[t.TaskID] = c
			}
			wg.Add(1)
			go func(t PingTarget, c *redis.Client) {
				defer wg.Done()
				pctx, cancel := context.WithTimeout(ctx, interval)
				defer cancel()
				err := c.Ping(pctx).Err()
				ok := err == nil || isRedisReply(err)
				if ctx.Err() != nil {
					return
				}
				l.submit(ctx, func() { l.exec(context.Background(), l.core.Ping(t.Instance, t.TaskID, ok, time.Now())) })
			}(t, c)
		}
		wg.Wait()
		for id, c := range clients {
			if !seen[id] {
				_ = c.Close()
				delete(clients, id)
			}
		}
	}
}

// isRedisReply reports whether err is an error reply from the server (so
// the server is alive), not a network failure.
func isRedisReply(err error) bool {
	var re redis.Error
	return errors.As(err, &re)
}
