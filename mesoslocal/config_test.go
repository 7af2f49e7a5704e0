package mesoslocal

import (
	"flag"
	"strings"
	"testing"
)

func TestConfigEnvironment(t *testing.T) {
	tests := []struct {
		env, val string
		check    func(Config) bool
		wantErr  string // empty: no error
	}{
		{"MRR_MESOS_CPUS", "2.5", func(c Config) bool { return c.CPUs == 2.5 }, ""},
		{"MRR_MESOS_LISTEN", "", func(c Config) bool { return c.Listen == "127.0.0.1:5050" }, ""},
		{"MRR_MESOS_AGENTS", "three", func(c Config) bool { return c.Agents == 3 },
			`environment MRR_MESOS_AGENTS="three": invalid integer for -agents`},
		{"MRR_MESOS_MEM", "4G", func(c Config) bool { return c.MemMB == 4096 },
			`environment MRR_MESOS_MEM="4G": invalid number for -mem`},
	}
	for _, tt := range tests {
		t.Run(tt.env+"="+tt.val, func(t *testing.T) {
			t.Setenv(tt.env, tt.val)
			var c Config
			fs := flag.NewFlagSet("x", flag.ContinueOnError)
			c.RegisterFlags(fs)
			if err := fs.Parse(nil); err != nil {
				t.Fatal(err)
			}
			if !tt.check(c) {
				t.Errorf("config %+v", c)
			}
			_, err := c.withDefaults()
			for name, got := range map[string]error{"EnvErr": c.EnvErr(), "withDefaults": err} {
				if tt.wantErr == "" && got != nil || tt.wantErr != "" && (got == nil || !strings.Contains(got.Error(), tt.wantErr)) {
					t.Errorf("%s() = %v, want %q", name, got, tt.wantErr)
				}
			}
			if u := fs.Lookup("agents").Usage; !strings.HasSuffix(u, "(env MRR_MESOS_AGENTS)") {
				t.Errorf("-agents usage %q does not name MRR_MESOS_AGENTS", u)
			}
		})
	}
}
