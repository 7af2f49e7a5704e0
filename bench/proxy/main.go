// Command proxy benchmarks the mrredis local proxy against redis-server
// directly and against HAProxy in TCP mode, with redis-benchmark, in one
// run:
//
//	go run ./bench/proxy [-n 200000] [-c 50] [-rounds 1] [-P 1,16] [-latency=true] [-dedicated=true] [-threads 1] [-cpuprofile proxy.pprof]
//
// It starts a redis-server, the localproxy.Proxy in this process and
// haproxy (config written to a temp dir), runs `redis-benchmark -t set,get
// -c 50 -n 200000 -P 1` and `-P 16` against each, and prints requests per
// second, p50 latency and the ratios proxy/direct and proxy/haproxy. With
// -rounds > 1 every figure is the median of the rounds. With -dedicated, a
// second proxy that gives every client a backend connection of its own
// (localproxy.Options.Dedicated) is measured too, as "dedicated". The
// proxies run with -threads threads, as mrr-localproxy with --threads.
package main

import (
	"context"
	"encoding/csv"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/mrredis/mrredis/localproxy"
)

type result struct {
	rps   float64
	p50ms float64
}

func main() {
	n := flag.Int("n", 200000, "requests per redis-benchmark run")
	clients := flag.Int("c", 50, "parallel connections")
	rounds := flag.Int("rounds", 1, "runs per figure; the median is shown")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of this process (the proxy) to this file")
	pipelines := flag.String("P", "1,16", "comma-separated pipeline depths to run")
	latency := flag.Bool("latency", true, "also measure the single-client latency")
	dedicated := flag.Bool("dedicated", true, "also measure the proxy with one backend connection per client")
	threads := flag.Int("threads", 1, "threads running the proxy (GOMAXPROCS; mrr-localproxy --threads, default 1); 0: one per CPU")
	flag.Parse()
	var pls []int
	for _, f := range strings.Split(*pipelines, ",") {
		pl, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || pl < 1 {
			fmt.Fprintf(os.Stderr, "bench/proxy: -P %q: want comma-separated positive integers\n", *pipelines)
			os.Exit(2)
		}
		pls = append(pls, pl)
	}
	if *threads > 0 {
		runtime.GOMAXPROCS(*threads)
	}
	if err := run(*n, *clients, *rounds, pls, *latency, *dedicated, *cpuprofile); err != nil {
		fmt.Fprintln(os.Stderr, "bench/proxy:", err)
		os.Exit(1)
	}
}

func run(n, clients, rounds int, pipelines []int, latency, dedicated bool, cpuprofile string) error {
	for _, bin := range []string{"redis-server", "redis-benchmark", "haproxy"} {
		if _, err := exec.LookPath(bin); err != nil {
			return fmt.Errorf("%s not found in PATH (run scripts/deps.sh): %w", bin, err)
		}
	}
	dir, err := os.MkdirTemp("", "mrr-bench-proxy-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	redisPort, err := freePort()
	if err != nil {
		return err
	}
	stopRedis, err := start(ctx, dir, "redis", "redis-server", "--bind", "127.0.0.1", "--port", strconv.Itoa(redisPort),
		"--save", "", "--appendonly", "no", "--dir", dir)
	if err != nil {
		return err
	}
	defer stopRedis()
	redisAddr := fmt.Sprintf("127.0.0.1:%d", redisPort)

	proxyPort, stopProxy, err := startProxy(ctx, redisAddr, false)
	if err != nil {
		return err
	}
	defer stopProxy()

	haPort, err := freePort()
	if err != nil {
		return err
	}
	// maxconn stays small: haproxy raises its fd limit to 2*maxconn+, which
	// containers often cap.
	cfg := fmt.Sprintf(`global
    maxconn 1000
    nbthread 1
defaults
    mode tcp
    timeout connect 5s
    timeout client 1m
    timeout server 1m
listen redis
    bind 127.0.0.1:%d
    server redis %s
`, haPort, redisAddr)
	cfgPath := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return err
	}
	stopHA, err := start(ctx, dir, "haproxy", "haproxy", "-db", "-f", cfgPath)
	if err != nil {
		return err
	}
	defer stopHA()

	targets := []struct {
		name string
		port int
	}{{"direct", redisPort}, {"localproxy", proxyPort}, {"haproxy", haPort}}
	if dedicated {
		port, stop, err := startProxy(ctx, redisAddr, true)
		if err != nil {
			return err
		}
		defer stop()
		targets = append(targets, struct {
			name string
			port int
		}{"dedicated", port})
	}
	for _, t := range targets {
		if err := waitTCP(fmt.Sprintf("127.0.0.1:%d", t.port), 10*time.Second); err != nil {
			return fmt.Errorf("%s: %w", t.name, err)
		}
	}
	if cpuprofile != "" {
		f, err := os.Create(cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}

	// results[pipeline][target][test]
	results := map[int]map[string]map[string]result{}
	for _, pl := range pipelines {
		results[pl] = map[string]map[string]result{}
		all := map[string]map[string][]result{}
		for r := 0; r < rounds; r++ {
			for _, t := range targets {
				res, err := benchmark(t.port, n, clients, pl)
				if err != nil {
					return fmt.Errorf("redis-benchmark against %s: %w", t.name, err)
				}
				if all[t.name] == nil {
					all[t.name] = map[string][]result{}
				}
				for test, v := range res {
					all[t.name][test] = append(all[t.name][test], v)
				}
			}
		}
		for name, tests := range all {
			results[pl][name] = map[string]result{}
			for test, vs := range tests {
				results[pl][name][test] = median(vs)
			}
		}
	}

	fmt.Printf("redis-benchmark -t set,get -c %d -n %d, median of %d round(s)\n\n", clients, n, rounds)
	fmt.Printf("%-4s %-4s %-11s %12s %9s %14s %15s\n", "-P", "test", "target", "rps", "p50 ms", "proxy/direct", "proxy/haproxy")
	for _, pl := range pipelines {
		for _, test := range []string{"SET", "GET"} {
			d := results[pl]["direct"][test]
			h := results[pl]["haproxy"][test]
			lp := results[pl]["localproxy"][test]
			for _, t := range targets {
				r := results[pl][t.name][test]
				ratioD, ratioH := "", ""
				if t.name == "localproxy" || t.name == "dedicated" {
					ratioD = fmt.Sprintf("%.2f", r.rps/d.rps)
					ratioH = fmt.Sprintf("%.2f", r.rps/h.rps)
				}
				fmt.Printf("%-4d %-4s %-11s %12.0f %9.3f %14s %15s\n", pl, test, t.name, r.rps, r.p50ms, ratioD, ratioH)
			}
			fmt.Printf("%-4d %-4s %-11s %12s %9.3f  (added p50 latency vs direct, ms)\n", pl, test, "", "", lp.p50ms-d.p50ms)
		}
	}

	if !latency {
		return nil
	}
	// Latency without queueing: one client, one command at a time.
	fmt.Printf("\nredis-benchmark -t get -c 1 -n %d -P 1 (latency of one request, no queueing)\n\n", n/10)
	fmt.Printf("%-11s %9s %14s\n", "target", "p50 ms", "added p50 µs")
	lat := map[string]result{}
	for _, t := range targets {
		var vs []result
		for r := 0; r < rounds; r++ {
			res, err := benchmark(t.port, n/10, 1, 1)
			if err != nil {
				return fmt.Errorf("redis-benchmark against %s: %w", t.name, err)
			}
			vs = append(vs, res["GET"])
		}
		lat[t.name] = median(vs)
	}
	for _, t := range targets {
		added := ""
		if t.name != "direct" {
			added = fmt.Sprintf("%.0f", (lat[t.name].p50ms-lat["direct"].p50ms)*1000)
		}
		fmt.Printf("%-11s %9.3f %14s\n", t.name, lat[t.name].p50ms, added)
	}
	return nil
}

// startProxy serves instance "bench" on a free port, routed to addr, with
// a localproxy.Proxy in this process.
func startProxy(ctx context.Context, addr string, dedicated bool) (int, func(), error) {
	port, err := freePort()
	if err != nil {
		return 0, nil, err
	}
	p := localproxy.New(ctx, localproxy.Options{PortLo: 1, PortHi: 65535, Dedicated: dedicated,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := p.Add("bench", port, ""); err != nil {
		p.Close()
		return 0, nil, err
	}
	if err := p.SetMaster("bench", addr); err != nil {
		p.Close()
		return 0, nil, err
	}
	return port, p.Close, nil
}

// benchmark runs redis-benchmark and returns rps and p50 per test.
func benchmark(port, n, clients, pipeline int) (map[string]result, error) {
	tests := "set,get"
	if clients == 1 {
		tests = "get"
	}
	cmd := exec.Command("redis-benchmark", "-h", "127.0.0.1", "-p", strconv.Itoa(port), "-t", tests,
		"-c", strconv.Itoa(clients), "-n", strconv.Itoa(n), "-P", strconv.Itoa(pipeline), "--csv")
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%w: %s", err, out)
	}
	return parseCSV(out)
}

// parseCSV reads redis-benchmark --csv output:
// "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms",...
func parseCSV(out []byte) (map[string]result, error) {
	rows, err := csv.NewReader(strings.NewReader(string(out))).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("parse redis-benchmark output: %w", err)
	}
	if len(rows) < 2 {
		return nil, fmt.Errorf("redis-benchmark printed no results: %q", out)
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	ri, ok1 := col["rps"]
	pi, ok2 := col["p50_latency_ms"]
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("redis-benchmark csv header lacks rps or p50_latency_ms: %v", rows[0])
	}
	res := map[string]result{}
	for _, row := range rows[1:] {
		rps, err1 := strconv.ParseFloat(row[ri], 64)
		p50, err2 := strconv.ParseFloat(row[pi], 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("redis-benchmark csv row %v is not numeric", row)
		}
		res[row[0]] = result{rps: rps, p50ms: p50}
	}
	return res, nil
}

func median(vs []result) result {
	sort.Slice(vs, func(i, j int) bool { return vs[i].rps < vs[j].rps })
	m := vs[len(vs)/2]
	ps := make([]float64, len(vs))
	for i, v := range vs {
		ps[i] = v.p50ms
	}
	sort.Float64s(ps)
	m.p50ms = ps[len(ps)/2]
	return m
}

// start runs a server process whose output goes to dir/name.log and
// returns a function that stops it.
func start(ctx context.Context, dir, name, bin string, args ...string) (func(), error) {
	logf, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(done) }()
	return func() {
		_ = cmd.Process.Kill()
		<-done
	}, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func waitTCP(addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not accepting connections after %s: %w", addr, timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
