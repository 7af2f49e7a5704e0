// Package benchenv starts what the benchmark programs under bench/ measure:
// a private ZooKeeper and a devcluster deployment of the binaries in a
// bin directory, and offers the statistics they print.
package benchenv

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/mrredis/mrredis/internal/devcluster"
	"github.com/mrredis/mrredis/internal/zkserver"
)

// Env is a running deployment for a benchmark.
type Env struct {
	ZK      *zkserver.Server
	Cluster *devcluster.Cluster
	dir     string
}

// Start starts ZooKeeper and a deployment of the binaries in bin with
// agents agents, and the local proxy.
func Start(ctx context.Context, bin string, agents int) (*Env, error) {
	bin, err := filepath.Abs(bin)
	if err != nil {
		return nil, err
	}
	for _, b := range []string{"mrr-sched", "mrr-localproxy", "mrr-executor"} {
		if _, err := os.Stat(filepath.Join(bin, b)); err != nil {
			return nil, fmt.Errorf("%s missing: run `make build` first: %w", b, err)
		}
	}
	dir, err := os.MkdirTemp("", "mrr-bench-")
	if err != nil {
		return nil, err
	}
	e := &Env{dir: dir}
	if e.ZK, err = zkserver.Start(ctx, zkserver.Options{}); err != nil {
		e.Close()
		return nil, err
	}
	e.Cluster, err = devcluster.Start(ctx, devcluster.Options{
		ZK:       e.ZK.Addr() + "/mrredis",
		SchedBin: filepath.Join(bin, "mrr-sched"),
		ProxyBin: filepath.Join(bin, "mrr-localproxy"),
		ExecBin:  filepath.Join(bin, "mrr-executor"),
		Dir:      dir,
		Agents:   agents,
	})
	if err != nil {
		e.Close()
		return nil, err
	}
	if err := e.Cluster.StartProxy(ctx); err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
}

// Close stops everything and removes the deployment's files.
func (e *Env) Close() {
	if e.Cluster != nil {
		e.Cluster.Close()
	}
	if e.ZK != nil {
		e.ZK.Stop()
	}
	_ = os.RemoveAll(e.dir)
}

// Percentile returns the p-th percentile (0-100) of ds, nearest rank.
func Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(float64(len(s))*p/100+0.5) - 1
	if i < 0 {
		i = 0
	}
	if i >= len(s) {
		i = len(s) - 1
	}
	return s[i]
}
