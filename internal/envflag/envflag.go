// Package envflag owns one rule of every mrredis binary: a flag's default
// may come from an MRR_* environment variable, and a bad value there is an
// error, never quietly replaced by the built-in default.
//
// Register the flags as usual with their built-in defaults, then call Apply
// with the flag-to-variable table. For each variable that is set and not
// empty, Apply sets the flag through fs.Set, so the flag's own parser checks
// the value exactly as it checks a command-line argument. A value from the
// environment stays a default: -help shows it, and a command-line flag
// still overrides it. (Because it goes through fs.Set, fs.Visit lists a flag
// set from the environment as set.)
package envflag

import (
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"time"
)

// Apply sets each flag of envOf (flag name -> environment variable) from its
// variable when the variable is set and not empty. An empty variable counts
// as unset, so `MRR_X=` in a unit file or shell means "use the default".
//
// For every flag of envOf, Apply also makes -help honest: the usage ends in
// "(env MRR_X)" unless it already mentions the variable, and DefValue is the
// value the environment gave.
//
// The error names each bad variable, its value and what is wrong, e.g.
// `environment MRR_PING_INTERVAL="abc": invalid duration for -ping-interval
// (use e.g. 500ms or 2m)`; all bad variables are reported, joined. Flags of
// good variables are set even when others are bad.
//
// Apply panics when envOf names a flag fs does not have: that is a
// programming error, like defining a flag twice.
func Apply(fs *flag.FlagSet, envOf map[string]string) error {
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(envOf)) {
		env := envOf[name]
		f := flagOf(fs, name, env)
		v, ok := os.LookupEnv(env)
		if !ok || v == "" {
			continue
		}
		old := f.Value.String()
		if err := fs.Set(name, v); err != nil {
			errs = append(errs, envError(env, v, f, err))
			// The standard flag types store their zero value when parsing
			// fails; bad input must leave the default as it was.
			if isScalar(f.Value) {
				_ = f.Value.Set(old)
			}
			continue
		}
		f.DefValue = f.Value.String()
	}
	return errors.Join(errs...)
}

// ApplyList is Apply for one repeatable flag whose variable holds a space
// separated list: each word is set as if given once on the command line,
// so `MRR_EXECUTOR_ENV="A=1 B=2"` means `-executor-env A=1 -executor-env B=2`.
// Words that are bad are each reported.
func ApplyList(fs *flag.FlagSet, name, env string) error {
	f := flagOf(fs, name, env)
	v, ok := os.LookupEnv(env)
	if !ok || strings.TrimSpace(v) == "" {
		return nil
	}
	var errs []error
	for _, word := range strings.Fields(v) {
		if err := fs.Set(name, word); err != nil {
			errs = append(errs, envError(env, word, f, err))
		}
	}
	f.DefValue = f.Value.String()
	return errors.Join(errs...)
}

// flagOf returns fs's flag name, with its usage naming env.
func flagOf(fs *flag.FlagSet, name, env string) *flag.Flag {
	f := fs.Lookup(name)
	if f == nil {
		panic(fmt.Sprintf("envflag: environment variable %s is for flag -%s, which is not defined", env, name))
	}
	if !mentions(f.Usage, env) {
		f.Usage += " (env " + env + ")"
	}
	return f
}

// mentions reports whether usage names env as a whole word, so that
// MRR_ZK_DIGEST does not count as a mention of MRR_ZK.
func mentions(usage, env string) bool {
	for i := 0; ; {
		j := strings.Index(usage[i:], env)
		if j < 0 {
			return false
		}
		end := i + j + len(env)
		if end == len(usage) || !isNameByte(usage[end]) {
			return true
		}
		i = end
	}
}

func isNameByte(b byte) bool {
	return b == '_' || '0' <= b && b <= '9' || 'A' <= b && b <= 'Z' || 'a' <= b && b <= 'z'
}

// isScalar reports whether v is one of the standard flag types, whose Set
// replaces the value and whose String parses back to it.
func isScalar(v flag.Value) bool {
	g, ok := v.(flag.Getter)
	if !ok {
		return false
	}
	switch g.Get().(type) {
	case string, time.Duration, bool, int, int64, uint, uint64, float64:
		return true
	}
	return false
}

// envError says what is wrong with value. The standard flag types answer
// only "parse error", so for them the error says what the value should be.
func envError(env, value string, f *flag.Flag, err error) error {
	prefix := fmt.Sprintf("environment %s=%q", env, value)
	if g, ok := f.Value.(flag.Getter); ok {
		switch g.Get().(type) {
		case time.Duration:
			return fmt.Errorf("%s: invalid duration for -%s (use e.g. 500ms or 2m)", prefix, f.Name)
		case bool:
			return fmt.Errorf("%s: invalid boolean for -%s (use true or false)", prefix, f.Name)
		case int, int64, uint, uint64:
			return fmt.Errorf("%s: invalid integer for -%s", prefix, f.Name)
		case float64:
			return fmt.Errorf("%s: invalid number for -%s", prefix, f.Name)
		}
	}
	return fmt.Errorf("%s: %w", prefix, err)
}
