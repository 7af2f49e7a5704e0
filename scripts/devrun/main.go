// Command devrun is `make run`: it starts a private ZooKeeper, mrr-sched on
// an embedded local Mesos cluster and one mrr-localproxy, prints where the
// dashboard is, and stops everything on Ctrl-C.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

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
	sched, err := start(ctx, filepath.Join(bin, "mrr-sched"), filepath.Join(logs, "mrr-sched.log"),
		"--zk", zkConnect, "--master", fmt.Sprintf("local:%d", c.agents), "--listen", c.listen,
		"--executor-path", filepath.Join(bin, "mrr-executor"), "--mesos-work-dir", filepath.Join(dir, "mesos"))
	if err != nil {
		return err
	}
	defer terminate(sched)

	say("starting mrr-localproxy ...")
	proxy, err := start(ctx, filepath.Join(bin, "mrr-localproxy"), filepath.Join(logs, "mrr-localproxy.log"),
		"--zk", zkConnect, "--admin", c.proxyAdm)
	if err != nil {
		return err
	}
	defer terminate(proxy)

	base := "http://" + c.listen
	if err := waitHTTP(ctx, base+"/readyz", 60*time.Second, sched); err != nil {
		return fmt.Errorf("mrr-sched did not become ready (see %s): %w", filepath.Join(logs, "mrr-sched.log"), err)
	}
	fmt.Printf(`
mrredis is running.
  dashboard:  %s/
  REST API:   %s/api/v1/instances
  logs:       %s
Try:
  bin/mrr create demo --memory 64 --replicas 1 --wait
  redis-cli -p $(bin/mrr status demo --output json | sed -n 's/.*"proxy_port": *\([0-9]*\).*/\1/p') PING
Press Ctrl-C to stop everything.
`, base, base, logs)

	select {
	case <-ctx.Done():
	case <-exited(sched):
		return fmt.Errorf("mrr-sched exited; see %s", filepath.Join(logs, "mrr-sched.log"))
	case <-exited(proxy):
		return fmt.Errorf("mrr-localproxy exited; see %s", filepath.Join(logs, "mrr-localproxy.log"))
	}
	say("stopping ...")
	return nil
}

type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
}

func start(ctx context.Context, path, logPath string, args ...string) (*proc, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("%s is missing: run `make build` first: %w", path, err)
	}
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// SIGTERM, not SIGKILL, if devrun dies: mrr-sched then stops its
	// embedded Mesos, which stops every executor and redis-server.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", filepath.Base(path), err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); logf.Close(); close(p.done) }()
	return p, nil
}

func exited(p *proc) <-chan struct{} { return p.done }

// terminate asks the process group to stop, then kills what is left so
// that no redis-server outlives `make run`.
func terminate(p *proc) {
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
}

func waitHTTP(ctx context.Context, url string, timeout time.Duration, p *proc) error {
	deadline := time.Now().Add(timeout)
	last := time.Now()
	for {
		resp, err := http.Get(url)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("%s answered %s", url, resp.Status)
		}
		if time.Now().After(deadline) {
			return err
		}
		if time.Since(last) > 5*time.Second {
			say("waiting for the scheduler: %v", err)
			last = time.Now()
		}
		select {
		case <-ctx.Done():
			return errors.New("interrupted")
		case <-p.done:
			return errors.New("it exited")
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func say(format string, args ...any) {
	slog.Info(fmt.Sprintf(format, args...))
}
