package executor

import (
	"bufio"
	"strings"
	"testing"

	"github.com/mrredis/mrredis/internal/model"
)

const masterInfo = "# Server\r\nredis_version:7.0.15\r\nrun_id:abc123\r\n\r\n# Clients\r\nconnected_clients:3\r\n\r\n" +
	"# Memory\r\nused_memory:1048576\r\n\r\n# Stats\r\ninstantaneous_ops_per_sec:42\r\n\r\n" +
	"# Replication\r\nrole:master\r\nconnected_slaves:2\r\n" +
	"slave0:ip=127.0.0.3,port=6381,state=online,offset=900,lag=0\r\n" +
	"slave1:ip=127.0.0.4,port=6382,state=online,offset=1000,lag=1\r\n" +
	"master_repl_offset:1000\r\n"

const replicaInfo = "# Server\r\nrun_id:def456\r\n# Replication\r\nrole:slave\r\nmaster_host:127.0.0.2\r\nmaster_port:6380\r\n" +
	"master_link_status:up\r\nslave_repl_offset:990\r\nmaster_repl_offset:990\r\n"

func TestStatsFromInfo(t *testing.T) {
	m := StatsFromInfo(ParseInfo(masterInfo))
	if m.Role != model.RoleMaster || m.RunID != "abc123" || m.ReplOffset != 1000 || m.LagBytes != 100 ||
		m.UsedMemory != 1048576 || m.ConnectedClients != 3 || m.OpsPerSec != 42 {
		t.Errorf("master stats wrong: %+v", m)
	}
	r := StatsFromInfo(ParseInfo(replicaInfo))
	if r.Role != model.RoleReplica || r.RunID != "def456" || r.ReplOffset != 990 || !r.LinkUp {
		t.Errorf("replica stats wrong: %+v", r)
	}
	down := StatsFromInfo(ParseInfo(strings.Replace(replicaInfo, "master_link_status:up", "master_link_status:down", 1)))
	if down.LinkUp {
		t.Errorf("link down reported up: %+v", down)
	}
}

func TestReadReply(t *testing.T) {
	tests := []struct {
		in      string
		want    any
		wantErr string
	}{
		{"+OK\r\n", "OK", ""},
		{"-NOPERM no\r\n", nil, "NOPERM no"},
		{":12\r\n", int64(12), ""},
		{"$3\r\nabc\r\n", "abc", ""},
		{"$-1\r\n", nil, ""},
		{"*2\r\n+a\r\n:1\r\n", []any{"a", int64(1)}, ""},
		{"$x\r\n", nil, "malformed RESP bulk length"},
		{"?\r\n", nil, "unknown RESP type"},
		{"+OK\n", nil, "malformed RESP line"},
	}
	for _, tt := range tests {
		got, err := readReply(bufio.NewReader(strings.NewReader(tt.in)))
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("readReply(%q) error %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("readReply(%q): %v", tt.in, err)
			continue
		}
		if !equalReply(got, tt.want) {
			t.Errorf("readReply(%q) = %#v, want %#v", tt.in, got, tt.want)
		}
	}
}

func equalReply(a, b any) bool {
	as, aok := a.([]any)
	bs, bok := b.([]any)
	if aok != bok {
		return false
	}
	if !aok {
		return a == b
	}
	if len(as) != len(bs) {
		return false
	}
	for i := range as {
		if !equalReply(as[i], bs[i]) {
			return false
		}
	}
	return true
}

func FuzzReadReply(f *testing.F) {
	for _, s := range []string{"+OK\r\n", "*2\r\n$1\r\na\r\n:5\r\n", "$-1\r\n", "-ERR x\r\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		_, _ = readReply(bufio.NewReader(strings.NewReader(in)))
	})
}

func TestRedact(t *testing.T) {
	got := redact(`>>> 'user default on ">pw1" ~*' masterauth "adm"`, "pw1", "", "adm")
	if strings.Contains(got, "pw1") || strings.Contains(got, "adm\"") || !strings.Contains(got, "<redacted>") {
		t.Errorf("redact left a secret: %s", got)
	}
}
