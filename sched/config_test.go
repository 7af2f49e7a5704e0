package sched

import (
	"flag"
	"io"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestConfigEnvironment(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		check   func(Config) bool
		wantErr string // empty: no error
	}{
		{"good values", map[string]string{
			"MRR_PING_INTERVAL": "50ms", "MRR_PING_MISSES": "5", "MRR_MEMBER_CPUS": "0.5",
			"MRR_ANTI_AFFINITY": "false", "MRR_PORT_RANGE": "7000-7010", "MRR_EXECUTOR_ENV": "A=1 B=2",
		}, func(c Config) bool {
			return c.PingInterval == 50*time.Millisecond && c.PingMisses == 5 && c.MemberCPUs == 0.5 &&
				!c.AntiAffinity && c.PortLo == 7000 && c.PortHi == 7010 && slices.Equal(c.ExecutorEnv, []string{"A=1", "B=2"})
		}, ""},
		{"empty means unset", map[string]string{"MRR_PING_INTERVAL": "", "MRR_MASTER": ""}, func(c Config) bool {
			return c.PingInterval == 200*time.Millisecond && c.Master == "http://127.0.0.1:5050"
		}, ""},
		{"bad duration", map[string]string{"MRR_PING_INTERVAL": "abc"}, func(c Config) bool {
			return c.PingInterval == 200*time.Millisecond
		}, `environment MRR_PING_INTERVAL="abc": invalid duration for -ping-interval`},
		{"bad int", map[string]string{"MRR_PING_MISSES": "many"}, nil, `environment MRR_PING_MISSES="many": invalid integer`},
		{"bad float", map[string]string{"MRR_EXECUTOR_MEM": "32MB"}, nil, `environment MRR_EXECUTOR_MEM="32MB": invalid number`},
		{"bad bool", map[string]string{"MRR_ANTI_AFFINITY": "sometimes"}, nil, `environment MRR_ANTI_AFFINITY="sometimes": invalid boolean`},
		{"bad port range", map[string]string{"MRR_PORT_RANGE": "9-1"}, func(c Config) bool {
			return c.PortLo == 6100 && c.PortHi == 6300
		}, `environment MRR_PORT_RANGE="9-1": port range "9-1" is invalid`},
		{"bad executor env", map[string]string{"MRR_EXECUTOR_ENV": "A=1 nope"}, nil, `environment MRR_EXECUTOR_ENV="nope"`},
		{"bad zk", map[string]string{"MRR_ZK": "h:1/"}, nil, `environment MRR_ZK="h:1/"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for name, v := range tt.env {
				t.Setenv(name, v)
			}
			var c Config
			fs := flag.NewFlagSet("x", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			c.RegisterFlags(fs)
			if err := fs.Parse(nil); err != nil {
				t.Fatal(err)
			}
			err := c.EnvErr()
			if tt.wantErr == "" && err != nil {
				t.Fatalf("EnvErr() = %v", err)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("EnvErr() = %v, want %q", err, tt.wantErr)
				}
				// New refuses the Config too, before it touches anything.
				if _, err := c.withDefaults(); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("withDefaults() = %v, want %q", err, tt.wantErr)
				}
			}
			if tt.check != nil && !tt.check(c) {
				t.Errorf("config: %+v", c)
			}
		})
	}
}

func TestConfigHelpShowsEffectiveDefaults(t *testing.T) {
	t.Setenv("MRR_PING_INTERVAL", "1s")
	var c Config
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	c.RegisterFlags(fs)
	for name, want := range map[string]string{"ping-interval": "1s", "port-range": "6100-6300", "ping-misses": "3"} {
		if got := fs.Lookup(name).DefValue; got != want {
			t.Errorf("-%s default %q, want %q", name, got, want)
		}
	}
	fs.VisitAll(func(f *flag.Flag) {
		if !strings.Contains(f.Usage, "(env MRR_") {
			t.Errorf("-%s usage does not name its environment variable: %q", f.Name, f.Usage)
		}
	})
}
