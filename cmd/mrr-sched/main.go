// Command mrr-sched is the mrredis Mesos framework: REST API, dashboard and
// metrics, and (on the ZooKeeper-elected leader) the scheduler itself.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/mrredis/mrredis/sched"
)

func main() {
	var cfg sched.Config
	fs := flag.NewFlagSet("mrr-sched", flag.ExitOnError)
	cfg.RegisterFlags(fs)
	debug := fs.Bool("debug", os.Getenv("MRR_DEBUG") != "", "log at debug level (env MRR_DEBUG)")
	_ = fs.Parse(os.Args[1:])
	if err := cfg.EnvErr(); err != nil {
		fmt.Fprintln(os.Stderr, "mrr-sched:", err)
		os.Exit(2)
	}

	level := slog.LevelInfo
	if *debug {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	slog.SetDefault(log)
	cfg.Logger = log

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	s, err := sched.New(cfg)
	if err == nil {
		err = s.Run(ctx)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "mrr-sched:", err)
		os.Exit(1)
	}
}
