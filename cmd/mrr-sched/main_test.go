package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mrredis/mrredis/internal/model"
	"github.com/mrredis/mrredis/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// TestBinaryLocal runs the mrr-sched binary with an embedded local Mesos:
// ready, create an instance, see it run, stop with SIGTERM.
func TestBinaryLocal(t *testing.T) {
	zk := testenv.ZooKeeper(t)
	bin := testenv.Binary(t, "github.com/mrredis/mrredis/cmd/mrr-sched")
	execBin := testenv.Binary(t, "github.com/mrredis/mrredis/cmd/mrr-executor")
	port := testenv.FreePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	work := filepath.Join(t.TempDir(), "mesos")
	logf, err := os.Create(filepath.Join(t.TempDir(), "mrr-sched.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(bin, "--zk", zk.Addr()+testenv.Root(t), "--master", "local:2", "--listen", fmt.Sprintf("127.0.0.1:%d", port),
		"--executor-path", execBin, "--mesos-work-dir", work, "--anti-affinity=false")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("mrr-sched log:\n%s", b)
		}
	})
	get := func(path string) (int, string) {
		resp, err := http.Get(base + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	poll := func(what string, cond func() (bool, string)) {
		t.Helper()
		deadline := time.Now().Add(40 * time.Second)
		for {
			ok, last := cond()
			if ok {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: not reached; last: %s", what, last)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	poll("ready", func() (bool, string) { c, b := get("/readyz"); return c == 200, b })
	resp, err := http.Post(base+"/api/v1/instances", "application/json", strings.NewReader(`{"name":"bin","memory_mb":16,"replicas":1}`))
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("create: %v %v", err, resp)
	}
	resp.Body.Close()
	poll("instance running", func() (bool, string) {
		_, b := get("/api/v1/instances/bin")
		var v model.InstanceView
		_ = json.Unmarshal([]byte(b), &v)
		return v.State == model.StateRunning && v.ReplicasInSync == 1, b
	})
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("mrr-sched exit after SIGTERM: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("mrr-sched did not exit after SIGTERM")
	}
	// The embedded Mesos went with it, and its members too.
	poll("no redis-server left", func() (bool, string) {
		n := redisUnder(work)
		return n == 0, fmt.Sprintf("%d redis-server processes under %s", n, work)
	})
}

func redisUnder(dir string) int {
	n := 0
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !strings.Contains(string(cmdline), "redis-server") {
			continue
		}
		if cwd, _ := os.Readlink(filepath.Join("/proc", e.Name(), "cwd")); strings.HasPrefix(cwd, dir) {
			n++
		}
	}
	return n
}
