package marathon

import (
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path"
	"strings"
	"testing"

	"github.com/mrredis/mrredis/localproxy"
	"github.com/mrredis/mrredis/sched"
)

// newFlagSet returns the real flag set of binary, registered by the
// binary's own Config.RegisterFlags, so that a flag the binary does not
// know fails the tests. The error also reports environment values the
// binary refuses (it exits 2 on them, as cmd/<binary> calls EnvErr).
func newFlagSet(binary string) (*flag.FlagSet, error) {
	fs := flag.NewFlagSet(binary, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var envErr error
	switch binary {
	case "mrr-sched":
		// As cmd/mrr-sched does: RegisterFlags takes its defaults from
		// sched.DefaultConfig and the environment.
		c := sched.DefaultConfig()
		c.RegisterFlags(fs)
		envErr = c.EnvErr()
	case "mrr-localproxy":
		// As cmd/mrr-localproxy does: RegisterFlags takes c's values as
		// defaults, overridden by the environment.
		c := localproxy.DefaultConfig()
		c.RegisterFlags(fs)
		envErr = c.EnvErr()
	default:
		return nil, fmt.Errorf("binary %q: the app definitions start only mrr-sched and mrr-localproxy", binary)
	}
	if envErr != nil {
		return fs, fmt.Errorf("%s refuses its environment: %w", binary, envErr)
	}
	return fs, nil
}

// commandLine is an app's cmd split as sh would, parsed with the real
// flags of the binary it starts.
type commandLine struct {
	binary string
	words  []string
	fs     *flag.FlagSet
}

func (c commandLine) get(name string) string {
	f := c.fs.Lookup(name)
	if f == nil {
		return ""
	}
	return f.Value.String()
}

func parseCommandLine(t *testing.T, d appDoc, a app) commandLine {
	t.Helper()
	if a.Cmd == "" {
		t.Fatalf("%s: no cmd", d.name)
	}
	words, err := shellWords(a.Cmd, marathonEnv(a))
	if err != nil {
		t.Fatalf("%s: cmd %q: %v", d.name, a.Cmd, err)
	}
	if len(words) > 0 && words[0] == "exec" {
		words = words[1:]
	}
	if len(words) == 0 {
		t.Fatalf("%s: cmd is empty", d.name)
	}
	binary := path.Base(words[0])
	// The binary must be one the Mesos fetcher put into the sandbox.
	fetched := false
	for _, f := range a.Fetch {
		if path.Base(f.URI) == binary {
			fetched = true
			if !f.Executable {
				t.Errorf("%s: %s is fetched without executable: true", d.name, f.URI)
			}
		}
	}
	if !fetched {
		t.Errorf("%s: cmd runs %s, but no fetch URI provides it", d.name, words[0])
	}
	if !strings.HasPrefix(words[0], "./") && !strings.HasPrefix(words[0], "/var/lib/mesos/slave/sandbox/") {
		t.Errorf("%s: cmd runs %q: run the fetched binary from the sandbox (./%s)", d.name, words[0], binary)
	}
	// The binary sees the app's env (and Marathon's) when it registers
	// its flags; a value it refuses makes it exit.
	for k, v := range a.Env {
		t.Setenv(k, v)
	}
	fs, err := newFlagSet(binary)
	if err != nil {
		t.Fatalf("%s: %v", d.name, err)
	}
	if err := fs.Parse(words[1:]); err != nil {
		t.Fatalf("%s: %s does not accept its command line %q: %v", d.name, binary, words[1:], err)
	}
	if fs.NArg() != 0 {
		t.Errorf("%s: %s has stray arguments %q", d.name, binary, fs.Args())
	}
	return commandLine{binary: binary, words: words, fs: fs}
}

func TestCommandLinesParseWithTheRealFlags(t *testing.T) {
	for _, d := range allApps(t) {
		a := d.decode(t)
		cl := parseCommandLine(t, d, a)
		env := marathonEnv(a)
		switch cl.binary {
		case "mrr-sched":
			if got, want := cl.get("listen"), ":"+env["PORT0"]; got != want {
				t.Errorf("%s: --listen %q, want %q (the port Marathon assigned)", d.name, got, want)
			}
			adv, err := url.Parse(cl.get("advertise-url"))
			if err != nil || adv.Host != env["HOST"]+":"+env["PORT0"] {
				t.Errorf("%s: --advertise-url %q must be http://$HOST:$PORT0", d.name, cl.get("advertise-url"))
			}
			if got := cl.get("failover-timeout"); got == "" || got == "0s" {
				t.Errorf("%s: --failover-timeout %q: Mesos would kill every task as soon as the scheduler disconnects", d.name, got)
			}
		case "mrr-localproxy":
			if host, _, err := net.SplitHostPort(cl.get("admin")); err != nil || !net.ParseIP(host).IsLoopback() {
				t.Errorf("%s: --admin %q must be a loopback address", d.name, cl.get("admin"))
			}
			if ip := net.ParseIP(cl.get("bind")); ip == nil || !ip.IsLoopback() {
				t.Errorf("%s: --bind %q must be loopback: the proxy answers AUTH itself", d.name, cl.get("bind"))
			}
		default:
			t.Errorf("%s: starts %s", d.name, cl.binary)
		}
	}
}

func TestUnknownFlagFails(t *testing.T) {
	// The check above is only worth something if the flag sets refuse
	// what they do not know.
	for _, bin := range []string{"mrr-sched", "mrr-localproxy"} {
		fs, err := newFlagSet(bin)
		if err != nil {
			t.Fatal(err)
		}
		if err := fs.Parse([]string{"--no-such-flag-in-mrredis", "1"}); err == nil {
			t.Errorf("%s accepted an unknown flag", bin)
		}
	}
}

// TestEnvVarsAreRead checks that every environment variable an app sets is
// one the binary reads: set alone, it must change the default of one of
// the binary's flags (RegisterFlags reads the environment at
// registration).
func TestEnvVarsAreRead(t *testing.T) {
	for _, d := range allApps(t) {
		a := d.decode(t)
		words, err := shellWords(a.Cmd, marathonEnv(a))
		if err != nil || len(words) == 0 {
			t.Fatalf("%s: cmd: %v", d.name, err)
		}
		binary := path.Base(words[0])
		for name, value := range a.Env {
			base := defaultsWithout(t, binary, a.Env)
			t.Setenv(name, value)
			with := defaults(t, binary)
			changed := false
			for flagName, def := range with {
				if base[flagName] != def {
					changed = true
				}
			}
			if !changed {
				t.Errorf("%s: env %s=%q changes no flag default of %s: the binary does not read it", d.name, name, value, binary)
			}
		}
	}
}

// defaultsWithout returns the flag defaults of binary with none of env's
// variables set.
func defaultsWithout(t *testing.T, binary string, env map[string]string) map[string]string {
	t.Helper()
	for name := range env {
		t.Setenv(name, "")
		os.Unsetenv(name)
	}
	return defaults(t, binary)
}

func defaults(t *testing.T, binary string) map[string]string {
	t.Helper()
	fs, err := newFlagSet(binary)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	fs.VisitAll(func(f *flag.Flag) { out[f.Name] = f.DefValue })
	return out
}

// TestAppsAgree checks what must be equal across the apps: the ZooKeeper
// root, the port range, and the proxy's admin port in its flags, its port
// reservations and its health check.
func TestAppsAgree(t *testing.T) {
	static := staticApps(t)
	sa, pa := static[0].decode(t), static[1].decode(t)
	s := parseCommandLine(t, static[0], sa)
	p := parseCommandLine(t, static[1], pa)
	if sa.Env["MRR_ZK"] == "" || sa.Env["MRR_ZK"] != pa.Env["MRR_ZK"] {
		t.Errorf("MRR_ZK differs: scheduler %q, proxy %q", sa.Env["MRR_ZK"], pa.Env["MRR_ZK"])
	}
	if s.get("port-range") != p.get("port-range") {
		t.Errorf("--port-range differs: scheduler %q, proxy %q", s.get("port-range"), p.get("port-range"))
	}
	var lo, hi int
	if _, err := fmt.Sscanf(p.get("port-range"), "%d-%d", &lo, &hi); err != nil {
		t.Fatalf("proxy --port-range %q: %v", p.get("port-range"), err)
	}
	reserved := map[int]bool{}
	for _, pd := range pa.PortDefinitions {
		reserved[pd.Port] = true
	}
	for port := lo; port <= hi; port++ {
		if !reserved[port] {
			t.Errorf("proxy port %d of --port-range is not in portDefinitions", port)
		}
	}
	_, adminPort, err := net.SplitHostPort(p.get("admin"))
	if err != nil {
		t.Fatalf("proxy --admin %q: %v", p.get("admin"), err)
	}
	var ap int
	fmt.Sscan(adminPort, &ap)
	if !reserved[ap] {
		t.Errorf("proxy admin port %d is not in portDefinitions", ap)
	}
	for _, hc := range pa.HealthChecks {
		if hc.Command == nil {
			continue
		}
		words, err := shellWords(hc.Command.Value, marathonEnv(pa))
		if err != nil {
			t.Fatalf("health check %q: %v", hc.Command.Value, err)
		}
		found := false
		for _, w := range words {
			if u, err := url.Parse(w); err == nil && u.Scheme == "http" {
				found = true
				if u.Host != p.get("admin") || u.Path != "/healthz" {
					t.Errorf("health check %q probes %s%s, want the admin address %s and /healthz", hc.Command.Value, u.Host, u.Path, p.get("admin"))
				}
			}
		}
		if !found {
			t.Errorf("health check %q names no http:// URL", hc.Command.Value)
		}
	}
	// The Universe package's defaults must match the plain app files.
	defaults := configDefaults(t)
	if v, _ := lookupPath(defaults, "mrredis.port_range"); v != s.get("port-range") {
		t.Errorf("config.json port_range default %v, mrr-sched.json uses %q", v, s.get("port-range"))
	}
	if v, _ := lookupPath(defaults, "mrredis.zk"); v != sa.Env["MRR_ZK"] {
		t.Errorf("config.json zk default %v, mrr-sched.json uses %q", v, sa.Env["MRR_ZK"])
	}
}
