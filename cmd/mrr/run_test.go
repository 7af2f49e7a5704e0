package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mrredis/mrredis/internal/model"
)

// closedScheduler is the URL of a loopback port where nothing listens.
func closedScheduler(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := "http://" + l.Addr().String()
	l.Close()
	return u
}

func runCLI(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code = runIO(ctx, args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func TestUsageErrors(t *testing.T) {
	// Every case would fail to connect if it sent anything: the exit code
	// 2 (not 3) proves nothing was sent.
	sched := closedScheduler(t)
	t.Setenv("MRR_SCHEDULER", sched)
	t.Setenv("MRR_OUTPUT", "")
	tests := []struct {
		args []string
		want string // in stderr
	}{
		{nil, "Usage: mrr"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"--bogus", "list"}, "mrr: unknown flag -bogus"},
		{[]string{"list", "--bogus"}, "mrr list: unknown flag -bogus"},
		{[]string{"list", "extra"}, `mrr list: unexpected argument "extra"`},
		{[]string{"create"}, "mrr create: missing name argument"},
		{[]string{"create", "cache"}, "--memory is required"},
		{[]string{"create", "cache", "--memory", "abc"}, `--memory "abc" is not a whole number of MB`},
		{[]string{"create", "cache", "--memory", "1.5"}, `--memory "1.5" is not a whole number of MB`},
		{[]string{"create", "cache", "--memory", "0"}, "--memory 0 is invalid: use a positive number of MB"},
		{[]string{"create", "cache", "--memory", "-5"}, "--memory -5 is invalid"},
		{[]string{"create", "cache", "--memory", "64", "--replicas", "two"}, `--replicas "two" is not a whole number of replicas`},
		{[]string{"create", "cache", "--memory", "64", "--replicas", "-1"}, "--replicas -1 is invalid: use 0 or more"},
		{[]string{"create", "cache", "--memory", "64", "--persistence", "always"}, `persistence "always" is invalid: use none, aof or rdb`},
		{[]string{"create", "cache", "--memory", "64", "--password", "has space"}, "password must not contain spaces"},
		{[]string{"create", "cache", "--memory", "64", "--read-from-replicas=maybe"}, "invalid boolean value"},
		{[]string{"create", "Cache_1", "--memory", "64"}, `name "Cache_1" is invalid`},
		{[]string{"create", "cache", "--memory"}, "flag -memory needs a value"},
		{[]string{"create", "cache", "--memory", "64", "--wait", "--timeout", "soon"}, `--timeout "soon" is not a positive duration`},
		{[]string{"create", "cache", "--memory", "64", "--timeout", "-1s"}, `--timeout "-1s" is not a positive duration`},
		{[]string{"create", "a", "b", "--memory", "64"}, `unexpected argument "b"`},
		{[]string{"status"}, "mrr status: missing name argument"},
		{[]string{"status", "UPPER"}, `name "UPPER" is invalid`},
		{[]string{"scale", "cache"}, "--replicas is required"},
		{[]string{"scale", "cache", "--replicas", "x"}, `--replicas "x" is not a whole number`},
		{[]string{"scale", "cache", "--replicas", "-2"}, "--replicas -2 is invalid"},
		{[]string{"resize", "cache"}, "--memory is required"},
		{[]string{"resize", "cache", "--memory", "0"}, "--memory 0 is invalid"},
		{[]string{"failover"}, "missing name argument"},
		{[]string{"delete"}, "missing name argument"},
		{[]string{"delete", "cache", "--yes=maybe"}, "invalid boolean value"},
		{[]string{"wait", "cache", "--timeout", "0s"}, `--timeout "0s" is not a positive duration`},
		{[]string{"--output", "yaml", "list"}, `--output "yaml" is invalid: use table or json`},
		{[]string{"list", "--scheduler", "ftp://x"}, `has scheme "ftp"`},
		{[]string{"list", "--scheduler", ""}, "scheduler address is empty"},
		{[]string{"help", "nope"}, `unknown command "nope"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, stdout, stderr := runCLI(t, "", tt.args...)
			if code != exitUsage {
				t.Errorf("exit code = %d, want %d; stderr:\n%s", code, exitUsage, stderr)
			}
			if !strings.Contains(stderr, tt.want) {
				t.Errorf("stderr = %q, want containing %q", stderr, tt.want)
			}
			if stdout != "" {
				t.Errorf("stdout = %q, want nothing", stdout)
			}
			if strings.Contains(stderr, "cannot reach") {
				t.Errorf("a bad command line was sent to the scheduler: %s", stderr)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"-h"}, {"--help"}} {
		code, stdout, _ := runCLI(t, "", args...)
		if code != exitOK {
			t.Errorf("%v: exit code %d", args, code)
		}
		for _, want := range []string{"Exit codes:", "3  the scheduler is unreachable", "create NAME", "MRR_SCHEDULER", "wait NAME"} {
			if !strings.Contains(stdout, want) {
				t.Errorf("%v: help lacks %q", args, want)
			}
		}
	}
	// Create-only options must be discoverable in create's help.
	if _, stdout, _ := runCLI(t, "", "help", "create"); !strings.Contains(stdout, "-read-from-replicas\n    \tlocal proxies send read-only commands to in-sync replicas (reads may be slightly stale)") {
		t.Errorf("create help lacks --read-from-replicas:\n%s", stdout)
	}
	for _, c := range commands() {
		for _, args := range [][]string{{"help", c.name}, {c.name, "-h"}} {
			code, stdout, _ := runCLI(t, "", args...)
			if code != exitOK || !strings.HasPrefix(stdout, "Usage: mrr "+c.name) || !strings.Contains(stdout, "-scheduler") {
				t.Errorf("%v: exit %d, help:\n%s", args, code, stdout)
			}
		}
	}
}

func TestUnreachableScheduler(t *testing.T) {
	sched := closedScheduler(t)
	cmds := [][]string{
		{"list"},
		{"status", "cache"},
		{"create", "cache", "--memory", "64"},
		{"create", "cache", "--memory", "64", "--wait"},
		{"scale", "cache", "--replicas", "2"},
		{"resize", "cache", "--memory", "128"},
		{"failover", "cache"},
		{"delete", "cache", "--yes"},
		{"delete", "cache"},
		{"wait", "cache", "--timeout", "5s"},
		{"--output", "json", "list"},
	}
	for _, args := range cmds {
		// Both ways of naming the scheduler: the flag and the environment.
		code, stdout, stderr := runCLI(t, "", append([]string{"--scheduler", sched}, args...)...)
		want := "cannot reach the scheduler at " + sched + ": connection refused"
		if code != exitUnreachable || !strings.Contains(stderr, want) || stdout != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit %d and %q", args, code, stdout, stderr, exitUnreachable, want)
		}
		t.Setenv("MRR_SCHEDULER", strings.TrimPrefix(sched, "http://"))
		code, _, stderr = runCLI(t, "", args...)
		if code != exitUnreachable || !strings.Contains(stderr, want) {
			t.Errorf("%v with MRR_SCHEDULER: exit %d, stderr %q", args, code, stderr)
		}
	}
}

func TestParseInterspersed(t *testing.T) {
	tests := []struct {
		args []string
		pos  string
		mem  int
	}{
		{[]string{"cache", "--memory", "64"}, "cache", 64},
		{[]string{"--memory", "64", "cache"}, "cache", 64},
		{[]string{"--memory=64", "a", "b"}, "a b", 64},
		{[]string{"--memory", "64", "--", "-dash"}, "-dash", 64},
		{[]string{"a", "--", "--memory", "9"}, "a --memory 9", 0},
	}
	for _, tt := range tests {
		c := &cli{}
		fs := newFlagSetForTest(c)
		mem := newIntFlag(fs, "memory", "MB", 0, "")
		pos, err := parseInterspersed(fs, tt.args)
		if err != nil {
			t.Errorf("%v: %v", tt.args, err)
			continue
		}
		if strings.Join(pos, " ") != tt.pos || mem.value != tt.mem {
			t.Errorf("%v: pos %q memory %d, want %q %d", tt.args, pos, mem.value, tt.pos, tt.mem)
		}
	}
}

func TestWriteStatus(t *testing.T) {
	now := time.Date(2026, 11, 23, 18, 10, 0, 0, time.UTC)
	v := model.InstanceView{
		Instance: model.Instance{
			Spec:      model.Spec{Name: "cache", MemoryMB: 512, Replicas: 2, Persistence: model.PersistenceAOF, Password: "********"},
			ProxyPort: 6101, State: model.StateDegraded, Reason: "1 of 2 replicas is not in sync",
			MasterTask: "cache-2", Failovers: 1, Created: now.Add(-5 * time.Minute),
		},
		Master: "127.0.0.3:31002",
		Members: []model.Member{
			{TaskID: "cache-3", Host: "127.0.0.4", Port: 31003, Role: model.RoleReplica, State: "TASK_STAGING", LagBytes: 2048},
			{TaskID: "cache-2", Host: "127.0.0.3", Port: 31002, Role: model.RoleMaster, State: "TASK_RUNNING", ReplOffset: 9000, UsedMemory: 3 << 20, OpsPerSec: 1500, ConnectedClients: 12, LastSeen: now.Add(-time.Second)},
			{TaskID: "cache-4", Host: "127.0.0.2", Port: 31004, Role: model.RoleReplica, State: "TASK_RUNNING", ReplOffset: 8990, LinkUp: true, LagBytes: 10, UsedMemory: 3 << 20, OpsPerSec: 3},
		},
		ReplicasInSync: 1,
		History: []model.Failover{{At: now.Add(-time.Minute), Cause: "task TASK_FAILED", OldMaster: "cache-1", NewMaster: "cache-2",
			OldAddr: "127.0.0.2:31001", NewAddr: "127.0.0.3:31002", DetectMS: 12, TotalMS: 85, LostBytes: 0}},
	}
	var b bytes.Buffer
	writeStatus(&b, v, now)
	out := b.String()
	for _, want := range []string{
		"State:        DEGRADED", "Reason:       1 of 2 replicas is not in sync",
		"Master:       127.0.0.3:31002 (task cache-2)", "Proxy:        localhost:6101",
		"Memory:       3.0 MB used of 512 MB", "Replicas:     1 of 2 in sync", "Persistence:  aof",
		"Reads:        master only",
		"Password:     set", "Created:      2026-11-23 18:05:00 UTC (5m ago)",
		"TASK     HOST:PORT        ROLE     STATE         OFFSET  LAG",
		"cache-2  127.0.0.3:31002  master   TASK_RUNNING  9000    -",
		"cache-3  127.0.0.4:31003  replica  TASK_STAGING  0       2.0 KB (link down)",
		"cache-4  127.0.0.2:31004  replica  TASK_RUNNING  8990    10 B",
		"task TASK_FAILED  cache-1 (127.0.0.2:31001)  cache-2 (127.0.0.3:31002)  12 ms   85 ms",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	// The master comes first.
	if strings.Index(out, "cache-2  127") > strings.Index(out, "cache-3  127") {
		t.Errorf("master is not listed first:\n%s", out)
	}

	b.Reset()
	v.ReadFromReplicas = true
	writeStatus(&b, v, now)
	if want := "Reads:        replicas too (eventually consistent)"; !strings.Contains(b.String(), want) {
		t.Errorf("status with read_from_replicas lacks %q:\n%s", want, b.String())
	}

	b.Reset()
	writeList(&b, []model.InstanceView{v, {Instance: model.Instance{Spec: model.Spec{Name: "a", MemoryMB: 64}, ProxyPort: 6100, State: model.StateCreating}}})
	list := b.String()
	for _, want := range []string{
		"NAME   STATE",
		"a      CREATING",
		"cache  DEGRADED (1 of 2 replicas is not in sync)  3.0 MB / 512 MB  1/2               6101        127.0.0.3:31002  1500   1",
	} {
		if !strings.Contains(list, want) {
			t.Errorf("list lacks %q:\n%s", want, list)
		}
	}
	b.Reset()
	writeList(&b, nil)
	if !strings.Contains(b.String(), "No instances") {
		t.Errorf("empty list: %q", b.String())
	}
}

// TestCreateReadFromReplicas checks what `mrr create` sends for
// --read-from-replicas and that --output json shows the field back.
func TestCreateReadFromReplicas(t *testing.T) {
	var got map[string]any // the last create body
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/api/v1/instances" {
			http.Error(w, `{"error":"unexpected request"}`, http.StatusNotFound)
			return
		}
		got = nil
		var spec model.Spec
		b, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(b, &got)
		_ = json.Unmarshal(b, &spec)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		_ = json.NewEncoder(w).Encode(model.InstanceView{Instance: model.Instance{Spec: spec, ProxyPort: 6100, State: model.StateCreating}})
	}))
	defer srv.Close()
	t.Setenv("MRR_SCHEDULER", srv.URL)
	t.Setenv("MRR_OUTPUT", "")
	tests := []struct {
		args []string
		sent any // read_from_replicas in the body; nil: not sent (false is the default)
	}{
		{[]string{"create", "cache", "--memory", "64"}, nil},
		{[]string{"create", "cache", "--memory", "64", "--read-from-replicas"}, true},
		{[]string{"create", "cache", "--read-from-replicas=true", "--memory", "64"}, true},
		{[]string{"create", "cache", "--memory", "64", "--read-from-replicas=false"}, nil},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, stdout, stderr := runCLI(t, "", append([]string{"--output", "json"}, tt.args...)...)
			if code != exitOK {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			if got == nil {
				t.Fatal("no create request reached the scheduler")
			}
			if got["read_from_replicas"] != tt.sent {
				t.Errorf("sent read_from_replicas %v, want %v (body %v)", got["read_from_replicas"], tt.sent, got)
			}
			var v model.InstanceView
			if err := json.Unmarshal([]byte(stdout), &v); err != nil {
				t.Fatalf("--output json is not a view: %v\n%s", err, stdout)
			}
			if v.ReadFromReplicas != (tt.sent == true) {
				t.Errorf("--output json: read_from_replicas %v, want %v\n%s", v.ReadFromReplicas, tt.sent == true, stdout)
			}
		})
	}
}

func TestProgressLine(t *testing.T) {
	v := model.InstanceView{Instance: model.Instance{Spec: model.Spec{Name: "c", Replicas: 2}, State: model.StateCreating, Reason: "waiting for offers"},
		Members: []model.Member{{State: "TASK_RUNNING"}, {State: "TASK_STAGING"}}}
	want := "c CREATING, 1/3 members running, 0/2 replicas in sync: waiting for offers"
	if got := progressLine(v); got != want {
		t.Errorf("progressLine = %q, want %q", got, want)
	}
	v.Reason = "0 of 2 replicas in sync; waiting: no agent without a member of this instance (anti-affinity)"
	want = "c CREATING, 1/3 members running, 0/2 replicas in sync: waiting: no agent without a member of this instance (anti-affinity)"
	if got := progressLine(v); got != want {
		t.Errorf("progressLine = %q, want %q", got, want)
	}
	v.Reason = "0 of 2 replicas in sync"
	if got, want := progressLine(v), "c CREATING, 1/3 members running, 0/2 replicas in sync"; got != want {
		t.Errorf("progressLine = %q, want %q", got, want)
	}
}

func TestHumanBytes(t *testing.T) {
	tests := map[int64]string{0: "0 B", 1023: "1023 B", 1536: "1.5 KB", 5 << 20: "5.0 MB", 3 << 30: "3.00 GB"}
	for in, want := range tests {
		if got := humanBytes(in); got != want {
			t.Errorf("humanBytes(%d) = %q, want %q", in, got, want)
		}
	}
}

func newFlagSetForTest(c *cli) *flag.FlagSet {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c.registerGlobal(fs)
	return fs
}
