package zkstore

import (
	"flag"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestRegisterFlags(t *testing.T) {
	t.Setenv("MRR_ZK", "e1:1,e2:2/fromenv")
	t.Setenv("MRR_ZK_SESSION_TIMEOUT", "7s")
	t.Setenv("MRR_ZK_DIGEST", "")

	var c Config
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	c.RegisterFlags(fs)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Servers, []string{"e1:1", "e2:2"}) || c.Root != "/fromenv" || c.SessionTimeout != 7*time.Second {
		t.Fatalf("env defaults: %+v", c)
	}

	var d Config
	fs = flag.NewFlagSet("x", flag.ContinueOnError)
	d.RegisterFlags(fs)
	if err := fs.Parse([]string{"--zk", "f1:3/flag", "--zk-digest", "u:p", "--zk-session-timeout", "3s"}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(d.Servers, []string{"f1:3"}) || d.Root != "/flag" || d.Digest != "u:p" || d.SessionTimeout != 3*time.Second {
		t.Fatalf("flags: %+v", d)
	}

	fs = flag.NewFlagSet("x", flag.ContinueOnError)
	fs.SetOutput(nopWriter{})
	(&Config{}).RegisterFlags(fs)
	if err := fs.Parse([]string{"--zk", "h:1/"}); err == nil {
		t.Fatal("a bad --zk was accepted")
	}
}

type nopWriter struct{}

func (nopWriter) Write(b []byte) (int, error) { return len(b), nil }

func TestRegisterFlagsBadEnvironment(t *testing.T) {
	tests := []struct {
		env, val, want string
	}{
		{"MRR_ZK", "h:1/", `environment MRR_ZK="h:1/"`},
		{"MRR_ZK_SESSION_TIMEOUT", "long", `environment MRR_ZK_SESSION_TIMEOUT="long": invalid duration`},
	}
	for _, tt := range tests {
		t.Run(tt.env, func(t *testing.T) {
			t.Setenv("MRR_ZK", "")
			t.Setenv("MRR_ZK_SESSION_TIMEOUT", "")
			t.Setenv(tt.env, tt.val)
			var c Config
			c.RegisterFlags(flag.NewFlagSet("x", flag.ContinueOnError))
			if err := c.EnvErr(); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("EnvErr() = %v, want %q", err, tt.want)
			}
			// A bad value changes nothing: the built-in defaults stay.
			if !slices.Equal(c.Servers, []string{"127.0.0.1:2181"}) || c.Root != DefaultRoot || c.SessionTimeout != 10*time.Second {
				t.Errorf("config after a bad environment: %+v", c)
			}
		})
	}
}
