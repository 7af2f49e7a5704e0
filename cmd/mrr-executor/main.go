// Command mrr-executor is the mrredis custom Mesos executor. The Mesos agent
// starts it with the MESOS_* environment; it runs one redis-server per task.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/mrredis/mrredis/executor"
)

func main() {
	cfg := executor.DefaultConfig()
	fs := flag.NewFlagSet("mrr-executor", flag.ExitOnError)
	cfg.RegisterFlags(fs)
	debug := fs.Bool("debug", os.Getenv("MRR_DEBUG") != "", "log at debug level (env MRR_DEBUG)")
	_ = fs.Parse(os.Args[1:])
	if err := cfg.EnvErr(); err != nil {
		fmt.Fprintln(os.Stderr, "mrr-executor:", err)
		os.Exit(2)
	}

	level := slog.LevelInfo
	if *debug {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	slog.SetDefault(log)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := executor.Run(ctx, cfg, log); err != nil {
		fmt.Fprintln(os.Stderr, "mrr-executor:", err)
		os.Exit(1)
	}
}
