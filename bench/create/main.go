// Command create measures instance creation on the local cluster: from the
// REST call to every member RUNNING and every replica in sync, over a
// number of creates, printed as p50/p99.
//
//	go run ./bench/create --bin bin --creates 20 --replicas 2
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/mrredis/mrredis/bench/internal/benchenv"
	"github.com/mrredis/mrredis/client"
	"github.com/mrredis/mrredis/internal/model"
)

func main() {
	bin := flag.String("bin", "bin", "directory with the built binaries")
	creates := flag.Int("creates", 20, "how many instances to create, one after another")
	replicas := flag.Int("replicas", 2, "replicas per instance")
	flag.Parse()
	if err := run(*bin, *creates, *replicas); err != nil {
		fmt.Fprintln(os.Stderr, "bench/create:", err)
		os.Exit(1)
	}
}

func run(bin string, creates, replicas int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	env, err := benchenv.Start(ctx, bin, replicas+1)
	if err != nil {
		return err
	}
	defer env.Close()
	api := env.Cluster.API
	var took []time.Duration
	for i := 0; i < creates; i++ {
		name := fmt.Sprintf("bench-%d", i)
		start := time.Now()
		if _, err := api.Create(ctx, model.Spec{Name: name, MemoryMB: 32, Replicas: replicas}); err != nil {
			return fmt.Errorf("create %s: %w", name, err)
		}
		if err := waitInSync(ctx, api, name); err != nil {
			return err
		}
		took = append(took, time.Since(start))
		fmt.Printf("create %2d: %v\n", i+1, took[i].Round(time.Millisecond))
		// Delete so that every create places on the same idle agents.
		if err := api.Delete(ctx, name); err != nil {
			return fmt.Errorf("delete %s: %w", name, err)
		}
		if err := waitGone(ctx, api, name); err != nil {
			return err
		}
	}
	fmt.Printf("\ninstance create (1 master + %d replicas, REST call -> all RUNNING and in sync), %d creates:\n", replicas, creates)
	fmt.Printf("  p50 %v   p99 %v   (target: p50 < 1s)\n",
		benchenv.Percentile(took, 50).Round(time.Millisecond), benchenv.Percentile(took, 99).Round(time.Millisecond))
	return nil
}

func waitInSync(ctx context.Context, api *client.Client, name string) error {
	for {
		v, err := api.Get(ctx, name)
		if err == nil && v.State == model.StateRunning && v.ReplicasInSync == v.Replicas && v.Master != "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not RUNNING in sync: %w (last %v, %v)", name, ctx.Err(), v.State, err)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func waitGone(ctx context.Context, api *client.Client, name string) error {
	for {
		_, err := api.Get(ctx, name)
		if client.IsNotFound(err) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not deleted: %w", name, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}
