// Command mrr-mesoslocal runs a Mesos master and agents in one process,
// speaking the Mesos 1.10 v1 HTTP APIs, for laptops and tests.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/mrredis/mrredis/mesoslocal"
)

func main() {
	var cfg mesoslocal.Config
	fs := flag.NewFlagSet("mrr-mesoslocal", flag.ExitOnError)
	cfg.RegisterFlags(fs)
	_ = fs.Parse(os.Args[1:])
	if err := cfg.EnvErr(); err != nil {
		fmt.Fprintln(os.Stderr, "mrr-mesoslocal:", err)
		os.Exit(2)
	}
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "mrr-mesoslocal:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, cfg mesoslocal.Config) error {
	c, err := mesoslocal.Start(ctx, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	fmt.Printf("mesos master listening on %s (scheduler API %s/api/v1/scheduler)\n", c.URL(), c.URL())
	for _, a := range c.Agents() {
		fmt.Printf("agent %s on %s\n", a.ID, a.Endpoint)
	}
	<-ctx.Done()
	return nil
}
