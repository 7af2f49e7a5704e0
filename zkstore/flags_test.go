package zkstore

import (
	"flag"
	"slices"
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
