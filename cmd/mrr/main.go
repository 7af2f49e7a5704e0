// Command mrr is the command-line client of mrredis: it creates, lists,
// shows, scales, resizes, fails over and deletes Redis instances through
// the REST API of mrr-sched. Run `mrr help` for the commands and exit codes.
package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	// Library logs (e.g. a dropped event stream) only matter when debugging.
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
