package executor

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mrredis/mrredis/internal/execproto"
	"github.com/mrredis/mrredis/internal/model"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func validConfig() MemberConfig {
	return MemberConfig{
		TaskID: "cache-1.m",
		Data: execproto.TaskData{
			Instance: "cache", Role: model.RoleMaster, MaxMemoryMB: 64, Port: 6380,
			Password: "s3cret pass", AdminPass: `adm"in\x`, Persistence: model.PersistenceNone,
		},
		Dir:  "/sandbox/cache-1.m",
		Bind: "127.0.0.2",
	}
}

func TestRenderConfigGolden(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*MemberConfig)
	}{
		{"master-none", func(*MemberConfig) {}},
		{"replica-aof", func(c *MemberConfig) {
			c.Data.Role, c.Data.MasterHost, c.Data.MasterPort = model.RoleReplica, "127.0.0.3", 6381
			c.Data.Persistence = model.PersistenceAOF
		}},
		{"master-rdb-nopass", func(c *MemberConfig) {
			c.Data.Password, c.Data.AdminPass, c.Data.Persistence = "", "", model.PersistenceRDB
			c.MaxMemoryPolicy = "allkeys-lru"
		}},
		{"replica-no-admin-pass", func(c *MemberConfig) {
			c.Data.Role, c.Data.MasterHost, c.Data.MasterPort = model.RoleReplica, "master.example", 7000
			c.Data.AdminPass, c.Data.Persistence = "", ""
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.mod(&c)
			got, err := RenderConfig(c)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", tt.name+".conf")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("rendered config differs from %s:\n--- got\n%s\n--- want\n%s", path, got, want)
			}
		})
	}
}

func TestRenderConfigRejectsBadInput(t *testing.T) {
	tests := []struct {
		name, wantErr string
		mod           func(*MemberConfig)
	}{
		{"no task id", "task id is required", func(c *MemberConfig) { c.TaskID = "" }},
		{"bad instance", "name", func(c *MemberConfig) { c.Data.Instance = "Bad Name" }},
		{"bad role", `role "boss" is invalid`, func(c *MemberConfig) { c.Data.Role = "boss" }},
		{"replica without master", "a replica needs master_host", func(c *MemberConfig) { c.Data.Role = model.RoleReplica }},
		{"port zero", "port 0 is out of range", func(c *MemberConfig) { c.Data.Port = 0 }},
		{"port too big", "port 70000 is out of range", func(c *MemberConfig) { c.Data.Port = 70000 }},
		{"no memory", "maxmemory_mb 0 must be positive", func(c *MemberConfig) { c.Data.MaxMemoryMB = 0 }},
		{"bad persistence", `persistence "disk" is invalid`, func(c *MemberConfig) { c.Data.Persistence = "disk" }},
		{"relative dir", "must be an absolute path", func(c *MemberConfig) { c.Dir = "sandbox/x" }},
		{"bind not IP", `bind address "localhost" is not an IP address`, func(c *MemberConfig) { c.Bind = "localhost" }},
		{"bad policy", `maxmemory policy "lru" is unknown`, func(c *MemberConfig) { c.MaxMemoryPolicy = "lru" }},
		{"newline in password", "password must not contain control characters", func(c *MemberConfig) { c.Data.Password = "a\nreplicaof evil 1" }},
		{"newline in admin password", "admin_password must not contain control characters", func(c *MemberConfig) { c.Data.AdminPass = "a\r\nb" }},
		{"space in master host", `master_host "a b" is not a host name`, func(c *MemberConfig) {
			c.Data.Role, c.Data.MasterHost, c.Data.MasterPort = model.RoleReplica, "a b", 1
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.mod(&c)
			got, err := RenderConfig(c)
			if err == nil {
				t.Fatalf("rendered a config, want an error containing %q:\n%s", tt.wantErr, got)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestStartMemberBadConfigStartsNothing(t *testing.T) {
	c := validConfig()
	c.Dir = filepath.Join(t.TempDir(), "member")
	c.Data.Port = -1
	m, err := StartMember(c)
	if err == nil {
		m.Kill()
		t.Fatal("StartMember accepted port -1")
	}
	if !strings.Contains(err.Error(), "port -1 is out of range") {
		t.Errorf("error %q does not name the bad port", err)
	}
	if _, err := os.Stat(c.Dir); !os.IsNotExist(err) {
		t.Errorf("member directory was created for a rejected config (stat: %v)", err)
	}
}

func TestQuote(t *testing.T) {
	tests := map[string]string{
		"plain":        `"plain"`,
		"with space":   `"with space"`,
		`q"uote`:       `"q\"uote"`,
		`back\slash`:   `"back\\slash"`,
		"":             `""`,
		"ünïcode pass": `"ünïcode pass"`,
	}
	for in, want := range tests {
		if got := quote(in); got != want {
			t.Errorf("quote(%q) = %s, want %s", in, got, want)
		}
	}
}
