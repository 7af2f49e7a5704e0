package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/mrredis/mrredis/client"
)

// Exit codes scripts can rely on; `mrr help` documents them.
const (
	exitOK          = 0 // done
	exitFailed      = 1 // the scheduler refused or failed the request, or the user declined
	exitUsage       = 2 // bad command line: nothing was sent
	exitUnreachable = 3 // no scheduler answered, or it cannot serve now (HTTP 503)
	exitNotFound    = 4 // the instance does not exist
	exitNotReady    = 5 // wait/--wait: the instance did not become RUNNING (timeout, FAILED, deleted)
)

// usageError is a mistake on the command line, found before any request.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// cli holds one invocation's I/O and global options.
type cli struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	scheduler      string
	output         string // "table" or "json"
	client         *client.Client
}

// command is one subcommand: its flags, its positional arguments and what
// it does.
type command struct {
	name    string
	args    string // positional arguments for the usage line, e.g. "NAME"
	nargs   int    // how many positional arguments it takes
	summary string
	details string
	flags   func(fs *flag.FlagSet) action
}

// run is the whole CLI: it parses args (without the program name), talks to
// the scheduler and writes to stdout/stderr. It returns the exit code.
// Confirmation prompts read os.Stdin; tests use runIO.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return runIO(ctx, args, os.Stdin, stdout, stderr)
}

func runIO(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := &cli{stdin: stdin, stdout: stdout, stderr: stderr}
	c.scheduler = client.DefaultBaseURL
	if s := os.Getenv("MRR_SCHEDULER"); s != "" {
		c.scheduler = s
	}
	c.output = "table"
	if s := os.Getenv("MRR_OUTPUT"); s != "" {
		c.output = s
	}

	global := flag.NewFlagSet("mrr", flag.ContinueOnError)
	global.SetOutput(io.Discard)
	c.registerGlobal(global)
	if err := global.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			writeHelp(stdout)
			return exitOK
		}
		fmt.Fprintf(stderr, "mrr: %s\nRun 'mrr help' for usage.\n", flagMessage(err))
		return exitUsage
	}
	rest := global.Args()
	if len(rest) == 0 {
		writeHelp(stderr)
		return exitUsage
	}
	name, rest := rest[0], rest[1:]
	if name == "help" {
		return c.help(rest)
	}
	cmd, ok := findCommand(name)
	if !ok {
		fmt.Fprintf(stderr, "mrr: unknown command %q\nRun 'mrr help' for the list of commands.\n", name)
		return exitUsage
	}

	fs := flag.NewFlagSet("mrr "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c.registerGlobal(fs)
	action := cmd.flags(fs)
	pos, err := parseInterspersed(fs, rest)
	if err == nil {
		err = c.checkArgs(cmd, pos)
	}
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			writeCommandHelp(stdout, cmd)
			return exitOK
		}
		fmt.Fprintf(stderr, "mrr %s: %s\nRun 'mrr help %s' for usage.\n", name, flagMessage(err), name)
		return exitUsage
	}
	c.client = client.New(c.scheduler, client.WithUserAgent("mrr"))

	if err := action(ctx, c, pos); err != nil {
		var ue *usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(stderr, "mrr %s: %s\nRun 'mrr help %s' for usage.\n", name, ue.msg, name)
			return exitUsage
		}
		fmt.Fprintf(stderr, "mrr %s: %s\n", name, err)
		return exitCode(err)
	}
	return exitOK
}

func (c *cli) registerGlobal(fs *flag.FlagSet) {
	fs.StringVar(&c.scheduler, "scheduler", c.scheduler, "`URL` of mrr-sched (env MRR_SCHEDULER)")
	fs.StringVar(&c.output, "output", c.output, "output `format`: table or json (env MRR_OUTPUT)")
}

// checkArgs validates what every command shares: the global options and
// the number of positional arguments.
func (c *cli) checkArgs(cmd command, pos []string) error {
	if c.output != "table" && c.output != "json" {
		return usagef("--output %q is invalid: use table or json", c.output)
	}
	if _, err := client.ParseBaseURL(c.scheduler); err != nil {
		return usagef("--scheduler: %s", err)
	}
	switch {
	case len(pos) < cmd.nargs:
		return usagef("missing %s", strings.ToLower(strings.Fields(cmd.args)[len(pos)])+" argument")
	case len(pos) > cmd.nargs:
		return usagef("unexpected argument %q", pos[cmd.nargs])
	}
	return nil
}

// parseInterspersed parses flags that may come before, between or after
// the positional arguments ("mrr create cache --memory 64"), which the
// flag package alone stops at. A "--" ends the flags.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		// fs.Parse consumed a "--" if the argument before rest was one.
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// flagMessage turns the flag package's errors into our sentences.
func flagMessage(err error) string {
	var ue *usageError
	if errors.As(err, &ue) {
		return ue.msg
	}
	msg := err.Error()
	if after, ok := strings.CutPrefix(msg, "flag provided but not defined: "); ok {
		return fmt.Sprintf("unknown flag %s", after)
	}
	if after, ok := strings.CutPrefix(msg, "flag needs an argument: "); ok {
		return fmt.Sprintf("flag %s needs a value", after)
	}
	// Our flag types' own sentences, without the flag package's wrapping.
	if strings.HasPrefix(msg, "invalid value ") {
		if _, inner, ok := strings.Cut(msg, ": --"); ok {
			return "--" + inner
		}
	}
	return msg
}

// exitCode maps an error from the client to the documented exit codes.
func exitCode(err error) int {
	var ae *client.APIError
	var se *client.StateError
	switch {
	case client.IsUnreachable(err):
		return exitUnreachable
	case errors.As(err, &se), errors.Is(err, context.DeadlineExceeded):
		return exitNotReady
	case errors.As(err, &ae) && ae.NotFound():
		return exitNotFound
	case errors.As(err, &ae) && ae.Unavailable():
		return exitUnreachable
	}
	return exitFailed
}

// intFlag is an integer flag with a clear message for bad values and a
// record of whether it was given.
type intFlag struct {
	name, unit string
	value      int
	set        bool
}

func (f *intFlag) String() string {
	if f == nil {
		return ""
	}
	return strconv.Itoa(f.value)
}

func (f *intFlag) Set(s string) error {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return usagef("--%s %q is not a whole number of %s", f.name, s, f.unit)
	}
	f.value, f.set = n, true
	return nil
}

func newIntFlag(fs *flag.FlagSet, name, unit string, def int, usage string) *intFlag {
	f := &intFlag{name: name, unit: unit, value: def}
	fs.Var(f, name, usage)
	return f
}

// durationFlag is a positive duration flag ("2m", "90s") with a clear
// message for bad values.
type durationFlag struct {
	name  string
	value time.Duration
}

func (f *durationFlag) String() string {
	if f == nil {
		return ""
	}
	return f.value.String()
}

func (f *durationFlag) Set(s string) error {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil || d <= 0 {
		return usagef("--%s %q is not a positive duration such as 90s or 2m", f.name, s)
	}
	f.value = d
	return nil
}

func newDurationFlag(fs *flag.FlagSet, name string, def time.Duration, usage string) *durationFlag {
	f := &durationFlag{name: name, value: def}
	fs.Var(f, name, usage)
	return f
}

func (c *cli) help(topic []string) int {
	if len(topic) == 0 {
		writeHelp(c.stdout)
		return exitOK
	}
	cmd, ok := findCommand(topic[0])
	if !ok {
		fmt.Fprintf(c.stderr, "mrr help: unknown command %q\nRun 'mrr help' for the list of commands.\n", topic[0])
		return exitUsage
	}
	writeCommandHelp(c.stdout, cmd)
	return exitOK
}

func writeHelp(w io.Writer) {
	fmt.Fprint(w, `mrr manages Redis instances of mrredis through the mrr-sched REST API.

Usage: mrr [--scheduler URL] [--output table|json] COMMAND [ARGS] [FLAGS]

Commands:
`)
	for _, cmd := range commands() {
		fmt.Fprintf(w, "  %-28s %s\n", strings.TrimSpace(cmd.name+" "+cmd.args), cmd.summary)
	}
	fmt.Fprint(w, `  help [COMMAND]               show this help or a command's flags

Global flags (before or after the command):
  --scheduler URL   mrr-sched address (env MRR_SCHEDULER, default `+client.DefaultBaseURL+`)
  --output FORMAT   table (default) or json (env MRR_OUTPUT)

Exit codes:
  0  done
  1  the scheduler refused or failed the request (the message says why), or you declined
  2  bad command line (unknown command or flag, missing name, bad number): nothing was sent
  3  the scheduler is unreachable, or cannot serve now (HTTP 503: not the leader, starting)
  4  the instance does not exist
  5  wait or --wait: the instance did not become RUNNING (timeout, FAILED or deleted)

Examples:
  mrr create cache --memory 512 --replicas 2 --wait
  mrr status cache
  mrr scale cache --replicas 3
  mrr --output json list
`)
}

func writeCommandHelp(w io.Writer, cmd command) {
	fmt.Fprintf(w, "Usage: mrr %s [FLAGS]\n\n%s\n", strings.TrimSpace(cmd.name+" "+cmd.args), cmd.summary)
	if cmd.details != "" {
		fmt.Fprintf(w, "\n%s\n", cmd.details)
	}
	fs := flag.NewFlagSet(cmd.name, flag.ContinueOnError)
	cmd.flags(fs)
	fmt.Fprint(w, "\nFlags:\n")
	fs.SetOutput(w)
	fs.PrintDefaults()
	fmt.Fprint(w, "  -scheduler URL\n    \tURL of mrr-sched (env MRR_SCHEDULER, default "+client.DefaultBaseURL+")\n")
	fmt.Fprint(w, "  -output format\n    \ttable or json (env MRR_OUTPUT, default table)\n")
	fmt.Fprint(w, "\nFlags may be written with one or two dashes; run 'mrr help' for the exit codes.\n")
}
