package envflag

import (
	"flag"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
)

// testFlags is a flag set with one flag of each kind Apply must handle.
type testFlags struct {
	fs    *flag.FlagSet
	str   string
	dur   time.Duration
	n     int
	x     float64
	b     bool
	list  listFlag
	envOf map[string]string
}

func newTestFlags() *testFlags {
	t := &testFlags{fs: flag.NewFlagSet("t", flag.ContinueOnError)}
	t.fs.SetOutput(io.Discard)
	t.fs.StringVar(&t.str, "str", "def", "a string")
	t.fs.DurationVar(&t.dur, "dur", time.Second, "a duration (env MRR_T_DUR)")
	t.fs.IntVar(&t.n, "n", 3, "an int; see MRR_T_N_EXTRA")
	t.fs.Float64Var(&t.x, "x", 0.5, "a float")
	t.fs.BoolVar(&t.b, "b", true, "a bool")
	t.fs.Var(&t.list, "list", "KEY=VALUE, repeatable")
	t.envOf = map[string]string{"str": "MRR_T_STR", "dur": "MRR_T_DUR", "n": "MRR_T_N", "x": "MRR_T_X", "b": "MRR_T_B"}
	return t
}

type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, " ") }

func (l *listFlag) Set(s string) error {
	if !strings.Contains(s, "=") {
		return fmt.Errorf("%q is not KEY=VALUE", s)
	}
	*l = append(*l, s)
	return nil
}

func TestApply(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		check   func(*testFlags) bool
		wantErr []string // substrings; empty: no error
	}{
		{"unset keeps defaults", nil,
			func(f *testFlags) bool {
				return f.str == "def" && f.dur == time.Second && f.n == 3 && f.x == 0.5 && f.b
			}, nil},
		{"empty counts as unset", map[string]string{"MRR_T_STR": "", "MRR_T_DUR": ""},
			func(f *testFlags) bool { return f.str == "def" && f.dur == time.Second }, nil},
		{"good values set", map[string]string{"MRR_T_STR": "s", "MRR_T_DUR": "90s", "MRR_T_N": "7", "MRR_T_X": "2.5", "MRR_T_B": "false"},
			func(f *testFlags) bool {
				return f.str == "s" && f.dur == 90*time.Second && f.n == 7 && f.x == 2.5 && !f.b
			}, nil},
		{"bad duration", map[string]string{"MRR_T_DUR": "abc"},
			func(f *testFlags) bool { return f.dur == time.Second },
			[]string{`environment MRR_T_DUR="abc": invalid duration for -dur`}},
		{"bad int", map[string]string{"MRR_T_N": "three"}, nil,
			[]string{`environment MRR_T_N="three": invalid integer for -n`}},
		{"bad float", map[string]string{"MRR_T_X": "half"}, nil,
			[]string{`environment MRR_T_X="half": invalid number for -x`}},
		{"bad bool", map[string]string{"MRR_T_B": "yes"}, nil,
			[]string{`environment MRR_T_B="yes": invalid boolean for -b`}},
		{"all errors reported, good values still set", map[string]string{"MRR_T_N": "x", "MRR_T_DUR": "y", "MRR_T_STR": "ok"},
			func(f *testFlags) bool { return f.str == "ok" },
			[]string{`MRR_T_N="x"`, `MRR_T_DUR="y"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, name := range []string{"MRR_T_STR", "MRR_T_DUR", "MRR_T_N", "MRR_T_X", "MRR_T_B"} {
				t.Setenv(name, tt.env[name])
			}
			f := newTestFlags()
			err := Apply(f.fs, f.envOf)
			if len(tt.wantErr) == 0 && err != nil {
				t.Fatalf("Apply: %v", err)
			}
			for _, want := range tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("Apply error %v, want it to contain %q", err, want)
				}
			}
			if tt.check != nil && !tt.check(f) {
				t.Errorf("values after Apply: %+v", *f)
			}
		})
	}
}

func TestApplyHelp(t *testing.T) {
	t.Setenv("MRR_T_DUR", "90s")
	t.Setenv("MRR_T_STR", "")
	f := newTestFlags()
	if err := Apply(f.fs, f.envOf); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ flag, usage, def string }{
		{"str", "a string (env MRR_T_STR)", "def"},
		{"dur", "a duration (env MRR_T_DUR)", "1m30s"},        // mentioned already; default from env
		{"n", "an int; see MRR_T_N_EXTRA (env MRR_T_N)", "3"}, // MRR_T_N_EXTRA is another variable
	}
	for _, tt := range tests {
		fl := f.fs.Lookup(tt.flag)
		if fl.Usage != tt.usage || fl.DefValue != tt.def {
			t.Errorf("-%s: usage %q default %q, want %q %q", tt.flag, fl.Usage, fl.DefValue, tt.usage, tt.def)
		}
	}
	// The environment gives a default, not the final word.
	if err := f.fs.Parse([]string{"-dur", "2s"}); err != nil || f.dur != 2*time.Second {
		t.Errorf("command line after environment: %v, %s", err, f.dur)
	}
}

func TestApplyList(t *testing.T) {
	tests := []struct {
		val     string
		want    string
		wantErr string
	}{
		{"", "", ""},
		{"A=1  B=2", "A=1 B=2", ""},
		{"A=1 nope", "A=1", `environment MRR_T_LIST="nope": "nope" is not KEY=VALUE`},
	}
	for _, tt := range tests {
		t.Run(tt.val, func(t *testing.T) {
			t.Setenv("MRR_T_LIST", tt.val)
			f := newTestFlags()
			err := ApplyList(f.fs, "list", "MRR_T_LIST")
			if (err == nil) != (tt.wantErr == "") || err != nil && !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("ApplyList error %v, want %q", err, tt.wantErr)
			}
			if got := f.list.String(); got != tt.want {
				t.Errorf("list %q, want %q", got, tt.want)
			}
			if fl := f.fs.Lookup("list"); fl.DefValue != tt.want || !strings.HasSuffix(fl.Usage, "(env MRR_T_LIST)") {
				t.Errorf("-list default %q usage %q", fl.DefValue, fl.Usage)
			}
		})
	}
}

func TestApplyUnknownFlagPanics(t *testing.T) {
	defer func() {
		if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "MRR_T_NONE") {
			t.Errorf("recover() = %v, want a panic naming the variable", r)
		}
	}()
	_ = Apply(newTestFlags().fs, map[string]string{"none": "MRR_T_NONE"})
}
