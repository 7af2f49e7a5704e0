// Command mrr-localproxy runs on every application host: it listens on
// 127.0.0.1:<port> for each mrredis instance and relays to the instance's
// current master, which it follows through ZooKeeper watches.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	"github.com/mrredis/mrredis/localproxy"
)

func main() {
	cfg := localproxy.DefaultConfig()
	fs := flag.NewFlagSet("mrr-localproxy", flag.ExitOnError)
	cfg.RegisterFlags(fs)
	debug := fs.Bool("debug", os.Getenv("MRR_DEBUG") != "", "log at debug level (env MRR_DEBUG)")
	_ = fs.Parse(os.Args[1:])
	if err := cfg.EnvErr(); err != nil {
		fmt.Fprintln(os.Stderr, "mrr-localproxy:", err)
		os.Exit(2)
	}
	if cfg.Threads > 0 { // a negative value is refused by Run
		runtime.GOMAXPROCS(cfg.Threads)
	}

	level := slog.LevelInfo
	if *debug {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	slog.SetDefault(log)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := localproxy.Run(ctx, cfg, log); err != nil {
		fmt.Fprintln(os.Stderr, "mrr-localproxy:", err)
		os.Exit(1)
	}
}
