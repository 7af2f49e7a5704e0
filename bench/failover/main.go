// Command failover measures what a client sees when a master dies: a writer
// pushes numbered entries through mrr-localproxy while the master is killed
// (or hung), over a number of trials. It prints p50/p99 of the write outage
// (first failed write to first successful write after it) and how many
// acknowledged writes were lost.
//
//	go run ./bench/failover --bin bin --trials 20 --mode kill
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/mrredis/mrredis/bench/internal/benchenv"
	"github.com/mrredis/mrredis/client"
	"github.com/mrredis/mrredis/internal/devcluster"
	"github.com/mrredis/mrredis/internal/model"
)

func main() {
	bin := flag.String("bin", "bin", "directory with the built binaries")
	trials := flag.Int("trials", 20, "how many masters to kill")
	mode := flag.String("mode", "kill", "kill: SIGKILL the master's redis-server; hang: SIGSTOP it; switchover: POST /failover")
	flag.Parse()
	if *mode != "kill" && *mode != "hang" && *mode != "switchover" {
		fmt.Fprintf(os.Stderr, "bench/failover: --mode %q is invalid: use kill, hang or switchover\n", *mode)
		os.Exit(2)
	}
	if err := run(*bin, *trials, *mode); err != nil {
		fmt.Fprintln(os.Stderr, "bench/failover:", err)
		os.Exit(1)
	}
}

type trial struct {
	outage time.Duration // first failed write -> first successful write after it
	lost   int           // acknowledged writes missing on the new master
	writes int
}

func run(bin string, trials int, mode string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	env, err := benchenv.Start(ctx, bin, 4)
	if err != nil {
		return err
	}
	defer env.Close()
	api := env.Cluster.API
	if _, err := api.Create(ctx, model.Spec{Name: "fo", MemoryMB: 32, Replicas: 2}); err != nil {
		return err
	}
	var results []trial
	for i := 0; i < trials; i++ {
		v, err := waitHealthy(ctx, api)
		if err != nil {
			return err
		}
		r, err := runTrial(ctx, env, api, v, mode)
		if err != nil {
			return fmt.Errorf("trial %d: %w", i+1, err)
		}
		results = append(results, r)
		fmt.Printf("trial %2d: outage %-10v writes %5d lost %d\n", i+1, r.outage.Round(time.Millisecond), r.writes, r.lost)
	}
	var outages []time.Duration
	lost, writes := 0, 0
	for _, r := range results {
		outages = append(outages, r.outage)
		lost += r.lost
		writes += r.writes
	}
	fmt.Printf("\nfailover by %s, %d trials, writes through mrr-localproxy:\n", mode, trials)
	fmt.Printf("  write outage p50 %v   p99 %v\n", benchenv.Percentile(outages, 50).Round(time.Millisecond), benchenv.Percentile(outages, 99).Round(time.Millisecond))
	fmt.Printf("  acknowledged writes lost: %d of %d\n", lost, writes)
	return nil
}

func runTrial(ctx context.Context, env *benchenv.Env, api *client.Client, v model.InstanceView, mode string) (trial, error) {
	rc := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", v.ProxyPort), MaxRetries: -1,
		DialTimeout: 200 * time.Millisecond, ReadTimeout: 200 * time.Millisecond, WriteTimeout: 200 * time.Millisecond, PoolSize: 1})
	defer rc.Close()
	if err := rc.Del(ctx, "log").Err(); err != nil {
		return trial{}, fmt.Errorf("clear log through the proxy: %w", err)
	}
	pid, err := devcluster.RedisPID(ctx, v.Master, "")
	if err != nil {
		return trial{}, err
	}

	var (
		acked      []int
		firstFail  time.Time
		recovered  time.Time
		killedAt   time.Time
		outageSeen bool
	)
	deadline := time.Now().Add(30 * time.Second)
	for i := 1; time.Now().Before(deadline); i++ {
		if i == 200 && killedAt.IsZero() {
			killedAt = time.Now()
			if err := cause(ctx, api, mode, pid); err != nil {
				return trial{}, err
			}
		}
		err := rc.RPush(ctx, "log", i).Err()
		now := time.Now()
		switch {
		case err == nil:
			acked = append(acked, i)
			if !firstFail.IsZero() && recovered.IsZero() {
				recovered = now
			}
		case firstFail.IsZero():
			firstFail = now
			outageSeen = true
		}
		// Keep writing a while after recovery to see that it holds.
		if !recovered.IsZero() && now.Sub(recovered) > 300*time.Millisecond {
			break
		}
		if !killedAt.IsZero() && !outageSeen && now.Sub(killedAt) > 3*time.Second {
			break // a switchover may cost no failed write at all
		}
		time.Sleep(time.Millisecond)
	}
	if outageSeen && recovered.IsZero() {
		return trial{}, errors.New("writes did not recover within 30s")
	}
	var outage time.Duration
	if outageSeen {
		outage = recovered.Sub(firstFail)
	}
	nv, err := waitNewMaster(ctx, api, v.Master)
	if err != nil {
		return trial{}, err
	}
	vals, err := redis.NewClient(&redis.Options{Addr: nv.Master}).LRange(ctx, "log", 0, -1).Result()
	if err != nil {
		return trial{}, fmt.Errorf("read log on new master %s: %w", nv.Master, err)
	}
	have := make(map[string]bool, len(vals))
	for _, x := range vals {
		have[x] = true
	}
	lost := 0
	for _, i := range acked {
		if !have[strconv.Itoa(i)] {
			lost++
		}
	}
	return trial{outage: outage, lost: lost, writes: len(acked)}, nil
}

func cause(ctx context.Context, api *client.Client, mode string, pid int) error {
	switch mode {
	case "kill":
		return syscall.Kill(pid, syscall.SIGKILL)
	case "hang":
		return syscall.Kill(pid, syscall.SIGSTOP)
	default:
		_, err := api.Failover(ctx, "fo")
		return err
	}
}

func waitHealthy(ctx context.Context, api *client.Client) (model.InstanceView, error) {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		v, err := api.Get(ctx, "fo")
		if err == nil && v.State == model.StateRunning && v.ReplicasInSync == v.Replicas && len(v.Members) == v.Replicas+1 {
			return v, nil
		}
		if time.Now().After(deadline) {
			return v, fmt.Errorf("instance not healthy after 2m: %s %s (%v)", v.State, v.Reason, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func waitNewMaster(ctx context.Context, api *client.Client, old string) (model.InstanceView, error) {
	deadline := time.Now().Add(time.Minute)
	for {
		v, err := api.Get(ctx, "fo")
		if err == nil && v.Master != "" && v.Master != old {
			return v, nil
		}
		if time.Now().After(deadline) {
			return v, fmt.Errorf("no new master after 1m (master %s, %v)", v.Master, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
