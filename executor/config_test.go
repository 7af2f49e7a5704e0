package executor

import (
	"flag"
	"io"
	"strings"
	"testing"
	"time"
)

func TestConfigFlagsAndEnv(t *testing.T) {
	t.Setenv("MRR_READY_TIMEOUT", "7s")
	t.Setenv("MRR_BIND", "127.0.0.9")
	cfg := DefaultConfig()
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	if err := fs.Parse([]string{"--kill-grace", "2s"}); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.ReadyTimeout != 7*time.Second || cfg.Bind != "127.0.0.9" || cfg.KillGrace != 2*time.Second ||
		cfg.StatsInterval != time.Second || cfg.MaxMemoryPolicy != "noeviction" {
		t.Errorf("config %+v", cfg)
	}
}

func TestConfigRejectsBadValues(t *testing.T) {
	tests := []struct {
		env, val, args, wantErr string
	}{
		{"MRR_READY_TIMEOUT", "soon", "", `environment MRR_READY_TIMEOUT="soon"`},
		{"", "", "--stats-interval=0s", "stats interval 0s must be positive"},
		{"", "", "--maxmemory-policy=lru", `maxmemory policy "lru" is unknown`},
		{"", "", "--mesos-codec=xml", `mesos codec "xml" is unknown`},
		{"", "", "--redis-server=", "redis-server path is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.wantErr, func(t *testing.T) {
			if tt.env != "" {
				t.Setenv(tt.env, tt.val)
			}
			cfg := DefaultConfig()
			fs := flag.NewFlagSet("x", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			cfg.RegisterFlags(fs)
			var args []string
			if tt.args != "" {
				args = []string{tt.args}
			}
			if err := fs.Parse(args); err != nil {
				t.Fatal(err)
			}
			err := cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Validate() = %v, want %q", err, tt.wantErr)
			}
		})
	}
}
