// Command devrun is `make run`: it starts a private ZooKeeper, mrr-sched on
// an embedded local Mesos cluster and one mrr-localproxy, prints where the
// dashboard is, and stops everything on Ctrl-C.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/mrredis/mrredis/internal/devcluster"
	"github.com/mrredis/mrredis/internal/zkserver"
)

type config struct {
	bin      string
	listen   string
	proxyAdm string
	agents   int
	dir      string
}

func main() {
	var c config
	flag.StringVar(&c.bin, "bin", "bin", "directory holding the built binaries")
	flag.StringVar(&c.listen, "listen", "127.0.0.1:5656", "scheduler REST API and dashboard address")
	flag.StringVar(&c.proxyAdm, "proxy-admin", "127.0.0.1:5657", "local proxy health/metrics address")
	flag.IntVar(&c.agents, "agents", 3, "agents of the local Mesos cluster")
	flag.StringVar(&c.dir, "dir", ".run", "directory for logs and sandboxes (emptied at start)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, c); err != nil {
		fmt.Fprintln(os.Stderr, "make run:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, c config) error {
	dir, err := filepath.Abs(c.dir)
	if err != nil {
		return err
	}
	bin, err := filepath.Abs(c.bin)
	if err != nil {
		return err
	}
	_ = os.RemoveAll(dir)
	logs := filepath.Join(dir, "logs")
	if err := os.MkdirAll(logs, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", logs, err)
	}

	say("starting ZooKeeper ...")
	zk, err := zkserver.Start(ctx, zkserver.Options{Dir: filepath.Join(dir, "zk"), TickTime: 500 * time.Millisecond})
	if err != nil {
		return fmt.Errorf("start zookeeper: %w", err)
	}
	defer zk.Stop()
	zkConnect := zk.Addr() + "/mrredis"
	say("ZooKeeper on %s", zk.Addr())

	say("starting mrr-sched with a local Mesos cluster of %d agents ...", c.agents)
	sched, err := start(filepath.Join(bin, "mrr-sched"), filepath.Join(logs, "mrr-sched.log"),
		"--zk", zkConnect, "--master", fmt.Sprintf("local:%d", c.agents), "--listen", c.listen,
		"--executor-path", filepath.Join(bin, "mrr-executor"), "--mesos-work-dir", filepath.Join(dir, "mesos"))
	if err != nil {
		return err
	}
	defer sched.Stop()

	say("starting mrr-localproxy ...")
	proxy, err := start(filepath.Join(bin, "mrr-localproxy"), filepath.Join(logs, "mrr-localproxy.log"),
		"--zk", zkConnect, "--admin", c.proxyAdm)
	if err != nil {
		return err
	}
	defer proxy.Stop()

	base := "http://" + c.listen
	say("waiting for the scheduler to be ready ...")
	if err := sched.WaitHTTP(ctx, base+"/readyz", 60*time.Second); err != nil {
		return fmt.Errorf("mrr-sched did not become ready (see %s): %w", filepath.Join(logs, "mrr-sched.log"), err)
	}
	fmt.Printf(`
mrredis is running.
  dashboard:  %s/
  REST API:   %s/api/v1/instances
  logs:       %s
Try:
  bin/mrr create demo --memory 64 --replicas 1 --wait
  redis-cli -p 6100 PING     # the first instance gets port 6100; bin/mrr list shows every port
Press Ctrl-C to stop everything.
`, base, base, logs)

	select {
	case <-ctx.Done():
	case <-sched.Done():
		return fmt.Errorf("mrr-sched exited; see %s", filepath.Join(logs, "mrr-sched.log"))
	case <-proxy.Done():
		return fmt.Errorf("mrr-localproxy exited; see %s", filepath.Join(logs, "mrr-localproxy.log"))
	}
	say("stopping ...")
	return nil
}

func start(path, logPath string, args ...string) (*devcluster.Proc, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("%s is missing: run `make build` first: %w", path, err)
	}
	return devcluster.StartProc(path, logPath, args...)
}

func say(format string, args ...any) {
	slog.Info(fmt.Sprintf(format, args...))
}
