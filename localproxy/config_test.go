package localproxy

import (
	"flag"
	"strings"
	"testing"
)

func TestParsePortRange(t *testing.T) {
	tests := []struct {
		in     string
		lo, hi int
		ok     bool
	}{
		{"6100-6300", 6100, 6300, true},
		{" 7000 - 7000 ", 7000, 7000, true},
		{"1-65535", 1, 65535, true},
		{"6300-6100", 0, 0, false},
		{"0-10", 0, 0, false},
		{"10-70000", 0, 0, false},
		{"6100", 0, 0, false},
		{"a-b", 0, 0, false},
		{"", 0, 0, false},
	}
	for _, tt := range tests {
		lo, hi, err := ParsePortRange(tt.in)
		if (err == nil) != tt.ok || lo != tt.lo || hi != tt.hi {
			t.Errorf("ParsePortRange(%q) = %d, %d, %v", tt.in, lo, hi, err)
		}
		if err != nil && !strings.Contains(err.Error(), "is invalid") {
			t.Errorf("ParsePortRange(%q) error %q does not say what is wrong", tt.in, err)
		}
	}
}

func TestConfigFlags(t *testing.T) {
	t.Setenv("MRR_ZK", "zk1:2181,zk2/custom")
	t.Setenv("MRR_PORT_RANGE", "7000-7100")
	t.Setenv("MRR_DEDICATED_BACKENDS", "true")
	t.Setenv("MRR_THREADS", "4")
	cfg := DefaultConfig()
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	if err := fs.Parse([]string{"--bind", "127.0.0.2", "--admin", "127.0.0.1:9"}); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.PortRange != "7000-7100" || cfg.Bind != "127.0.0.2" || cfg.Admin != "127.0.0.1:9" || !cfg.DedicatedBackends || cfg.Threads != 4 ||
		strings.Join(cfg.ZK.Servers, ",") != "zk1:2181,zk2:2181" || cfg.ZK.Root != "/custom" {
		t.Fatalf("config from env and flags: %+v", cfg)
	}

	bad := []struct {
		args []string
		want string
	}{
		{[]string{"--bind", "localhost"}, "is not an IP address"},
		{[]string{"--bind", "0.0.0.0"}, "is not a loopback address"},
		{[]string{"--admin", "nope"}, "admin address"},
		{[]string{"--listen-retry", "0s"}, "listen retry"},
		{[]string{"--port-range", "9-1"}, "port range"},
		{[]string{"--threads", "-1"}, "threads -1 must be 0"},
	}
	for _, b := range bad {
		cfg := DefaultConfig()
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		cfg.RegisterFlags(fs)
		if err := fs.Parse(b.args); err != nil {
			t.Fatal(err)
		}
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("%v: Validate() = %v, want %q", b.args, err, b.want)
		}
	}
	badEnv := []struct{ env, val, want string }{
		{"MRR_DIAL_TIMEOUT", "soon", `environment MRR_DIAL_TIMEOUT="soon": invalid duration for -dial-timeout`},
		{"MRR_ZK", "zk1/", `environment MRR_ZK="zk1/"`},
		{"MRR_DEDICATED_BACKENDS", "sometimes", `environment MRR_DEDICATED_BACKENDS="sometimes"`},
	}
	for _, b := range badEnv {
		t.Run(b.env, func(t *testing.T) {
			t.Setenv(b.env, b.val)
			cfg := DefaultConfig()
			cfg.RegisterFlags(flag.NewFlagSet("t", flag.ContinueOnError))
			if err := cfg.EnvErr(); err == nil || !strings.Contains(err.Error(), b.want) {
				t.Errorf("EnvErr() = %v, want %q", err, b.want)
			}
			if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), b.env) {
				t.Errorf("bad environment value: Validate() = %v", err)
			}
		})
	}
}
