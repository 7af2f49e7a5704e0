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
	if f := fs.Lookup("ready-timeout"); f.DefValue != "7s" || !strings.HasSuffix(f.Usage, "(env MRR_READY_TIMEOUT)") {
		t.Errorf("-ready-timeout help: default %q, usage %q", f.DefValue, f.Usage)
	}
}

func TestConfigRejectsBadValues(t *testing.T) {
	tests := []struct {
		env, val, args, wantErr string
	}{
		{"MRR_READY_TIMEOUT", "soon", "", `environment MRR_READY_TIMEOUT="soon": invalid duration for -ready-timeout`},
		{"MRR_IDLE_TIMEOUT", "-", "--idle-timeout=1s", `environment MRR_IDLE_TIMEOUT="-": invalid duration`},
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
			if envErr := cfg.EnvErr(); (envErr != nil) != (tt.env != "") {
				t.Errorf("EnvErr() = %v with environment %s=%q", envErr, tt.env, tt.val)
			}
		})
	}
}
