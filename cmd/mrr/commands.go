package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"time"

	"github.com/mrredis/mrredis/client"
	"github.com/mrredis/mrredis/internal/model"
)

// action is what a command does once its command line is valid.
type action func(ctx context.Context, c *cli, pos []string) error

func commands() []command {
	return []command{
		{name: "create", args: "NAME", nargs: 1, flags: createCmd,
			summary: "create an instance: one master and --replicas replicas of --memory MB each",
			details: "The scheduler answers at once; the instance is RUNNING a few seconds later\n(use --wait, or 'mrr wait NAME'). Applications reach its master at\nlocalhost:PORT on every host running mrr-localproxy, PORT being the proxy port shown."},
		{name: "list", nargs: 0, flags: listCmd, summary: "list the instances"},
		{name: "status", args: "NAME", nargs: 1, flags: statusCmd,
			summary: "show an instance: state, members and failover history"},
		{name: "scale", args: "NAME", nargs: 1, flags: scaleCmd,
			summary: "change the number of replicas of an instance"},
		{name: "resize", args: "NAME", nargs: 1, flags: resizeCmd,
			summary: "change the memory of each member of an instance"},
		{name: "failover", args: "NAME", nargs: 1, flags: failoverCmd,
			summary: "switch over: promote the most up-to-date replica to master"},
		{name: "delete", args: "NAME", nargs: 1, flags: deleteCmd,
			summary: "delete an instance and all its data (asks first unless --yes)"},
		{name: "wait", args: "NAME", nargs: 1, flags: waitCmd,
			summary: "wait until an instance is RUNNING with all replicas in sync, showing progress"},
	}
}

func findCommand(name string) (command, bool) {
	for _, c := range commands() {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

// checkName validates an instance name before anything is sent.
func checkName(name string) error {
	if err := model.ValidateName(name); err != nil {
		return usagef("%s", err)
	}
	return nil
}

// waitFlags registers --wait (unless always) and --timeout.
type waitFlags struct {
	wait    *bool
	timeout *durationFlag
}

func addWaitFlags(fs *flag.FlagSet, what string) waitFlags {
	return waitFlags{
		wait:    fs.Bool("wait", false, "wait until "+what),
		timeout: newDurationFlag(fs, "timeout", 2*time.Minute, "how long --wait waits, a `duration` such as 90s or 5m"),
	}
}

func createCmd(fs *flag.FlagSet) action {
	memory := newIntFlag(fs, "memory", "MB", 0, "memory of each member in `MB` (required)")
	replicas := newIntFlag(fs, "replicas", "replicas", 1, "`N` replicas besides the master")
	persistence := fs.String("persistence", "none", "how members keep data on disk (`mode`: none, aof or rdb)")
	password := fs.String("password", "", "password clients must AUTH with (default: none)")
	// Set at create only: the scheduler's PATCH does not take it.
	readReplicas := fs.Bool("read-from-replicas", false, "local proxies send read-only commands to in-sync replicas (reads may be slightly stale)")
	wf := addWaitFlags(fs, "the instance is RUNNING with all replicas in sync")
	return func(ctx context.Context, c *cli, pos []string) error {
		spec := model.Spec{Name: pos[0], MemoryMB: memory.value, Replicas: replicas.value,
			Password: *password, Persistence: model.Persistence(*persistence), ReadFromReplicas: *readReplicas}
		if err := checkName(spec.Name); err != nil {
			return err
		}
		if !memory.set {
			return usagef("--memory is required: the memory of each member in MB, e.g. --memory 512")
		}
		if spec.MemoryMB <= 0 {
			return usagef("--memory %d is invalid: use a positive number of MB", spec.MemoryMB)
		}
		if spec.Replicas < 0 {
			return usagef("--replicas %d is invalid: use 0 or more", spec.Replicas)
		}
		// The scheduler owns the limits; check locally only what is wrong
		// under any limits (password characters, persistence mode).
		anyLimits := model.Limits{MinMemoryMB: 1, MaxMemoryMB: math.MaxInt, MaxReplicas: math.MaxInt}
		if err := anyLimits.Validate(spec); err != nil {
			return usagef("%s", err)
		}
		v, err := c.client.Create(ctx, spec)
		if err != nil {
			return err
		}
		if !*wf.wait {
			if c.output == "json" {
				return c.writeJSON(v)
			}
			fmt.Fprintf(c.stdout, "Instance %s accepted: %s, %d MB, 1 master + %d replicas, proxy port %d.\n",
				spec.Name, orDash(string(v.State)), spec.MemoryMB, spec.Replicas, v.ProxyPort)
			fmt.Fprintf(c.stdout, "Run 'mrr wait %s' to follow it until it is RUNNING.\n", spec.Name)
			return nil
		}
		if c.output == "table" {
			fmt.Fprintf(c.stdout, "Instance %s accepted, proxy port %d; waiting until it is RUNNING...\n", spec.Name, v.ProxyPort)
		}
		return c.waitAndReport(ctx, spec.Name, wf.timeout.value)
	}
}

func listCmd(fs *flag.FlagSet) action {
	return func(ctx context.Context, c *cli, _ []string) error {
		vs, err := c.client.List(ctx)
		if err != nil {
			return err
		}
		if c.output == "json" {
			if vs == nil {
				vs = []model.InstanceView{}
			}
			return c.writeJSON(vs)
		}
		writeList(c.stdout, vs)
		return nil
	}
}

func statusCmd(fs *flag.FlagSet) action {
	return func(ctx context.Context, c *cli, pos []string) error {
		if err := checkName(pos[0]); err != nil {
			return err
		}
		v, err := c.client.Get(ctx, pos[0])
		if err != nil {
			return err
		}
		if c.output == "json" {
			return c.writeJSON(v)
		}
		writeStatus(c.stdout, v, time.Now())
		return nil
	}
}

func scaleCmd(fs *flag.FlagSet) action {
	replicas := newIntFlag(fs, "replicas", "replicas", 0, "new number `N` of replicas besides the master (required)")
	wf := addWaitFlags(fs, "the instance is RUNNING with all replicas in sync")
	return func(ctx context.Context, c *cli, pos []string) error {
		if err := checkName(pos[0]); err != nil {
			return err
		}
		if !replicas.set {
			return usagef("--replicas is required: the new number of replicas, e.g. --replicas 2")
		}
		if replicas.value < 0 {
			return usagef("--replicas %d is invalid: use 0 or more", replicas.value)
		}
		v, err := c.client.Scale(ctx, pos[0], replicas.value)
		if err != nil {
			return err
		}
		return c.accepted(ctx, v, fmt.Sprintf("Scaling %s to %d replicas: accepted.", pos[0], replicas.value), pos[0], wf)
	}
}

func resizeCmd(fs *flag.FlagSet) action {
	memory := newIntFlag(fs, "memory", "MB", 0, "new memory of each member in `MB` (required)")
	wf := addWaitFlags(fs, "the instance is RUNNING with all replicas in sync")
	return func(ctx context.Context, c *cli, pos []string) error {
		if err := checkName(pos[0]); err != nil {
			return err
		}
		if !memory.set {
			return usagef("--memory is required: the new memory of each member in MB, e.g. --memory 1024")
		}
		if memory.value <= 0 {
			return usagef("--memory %d is invalid: use a positive number of MB", memory.value)
		}
		v, err := c.client.Resize(ctx, pos[0], memory.value)
		if err != nil {
			return err
		}
		return c.accepted(ctx, v, fmt.Sprintf("Resizing %s to %d MB per member: accepted.", pos[0], memory.value), pos[0], wf)
	}
}

func failoverCmd(fs *flag.FlagSet) action {
	wf := addWaitFlags(fs, "the instance is RUNNING again with all replicas in sync")
	return func(ctx context.Context, c *cli, pos []string) error {
		if err := checkName(pos[0]); err != nil {
			return err
		}
		v, err := c.client.Failover(ctx, pos[0])
		if err != nil {
			return err
		}
		return c.accepted(ctx, v, fmt.Sprintf("Switchover of %s: accepted; 'mrr status %s' shows the new master.", pos[0], pos[0]), pos[0], wf)
	}
}

// accepted reports a 202 answer and waits if asked to.
func (c *cli) accepted(ctx context.Context, v model.InstanceView, msg, name string, wf waitFlags) error {
	if *wf.wait {
		if c.output == "table" {
			fmt.Fprintln(c.stdout, msg)
		}
		return c.waitAndReport(ctx, name, wf.timeout.value)
	}
	if c.output == "json" {
		return c.writeJSON(v)
	}
	fmt.Fprintln(c.stdout, msg)
	return nil
}

func deleteCmd(fs *flag.FlagSet) action {
	yes := fs.Bool("yes", false, "do not ask for confirmation")
	wf := addWaitFlags(fs, "the instance and all its members are gone")
	return func(ctx context.Context, c *cli, pos []string) error {
		name := pos[0]
		if err := checkName(name); err != nil {
			return err
		}
		if !*yes {
			v, err := c.client.Get(ctx, name)
			if err != nil {
				return err
			}
			fmt.Fprintf(c.stderr, "Delete instance %s (%s, %d MB, %d replicas, proxy port %d) and all its data?\nType its name to confirm: ",
				name, v.State, v.MemoryMB, v.Replicas, v.ProxyPort)
			line, err := bufio.NewReader(c.stdin).ReadString('\n')
			if !isTerminal(c.stdin) {
				fmt.Fprintln(c.stderr) // a terminal echoes the typed newline
			}
			answer := strings.TrimSpace(line)
			if answer == "" && err != nil {
				return errors.New("not deleted: no confirmation was typed; pass --yes to delete without asking")
			}
			if answer != name {
				return fmt.Errorf("not deleted: %q is not the instance's name", answer)
			}
		}
		if err := c.client.Delete(ctx, name); err != nil {
			return err
		}
		if !*wf.wait {
			if c.output == "json" {
				return c.writeJSON(map[string]string{"deleted": name, "state": "accepted"})
			}
			fmt.Fprintf(c.stdout, "Deleting %s: accepted.\n", name)
			return nil
		}
		if c.output == "table" {
			fmt.Fprintf(c.stdout, "Deleting %s: accepted; waiting until it is gone...\n", name)
		}
		if err := c.waitGone(ctx, name, wf.timeout.value); err != nil {
			return err
		}
		if c.output == "json" {
			return c.writeJSON(map[string]string{"deleted": name, "state": "gone"})
		}
		fmt.Fprintf(c.stdout, "%s is deleted.\n", name)
		return nil
	}
}

func waitCmd(fs *flag.FlagSet) action {
	timeout := newDurationFlag(fs, "timeout", 2*time.Minute, "how long to wait, a `duration` such as 90s or 5m")
	return func(ctx context.Context, c *cli, pos []string) error {
		if err := checkName(pos[0]); err != nil {
			return err
		}
		return c.waitAndReport(ctx, pos[0], timeout.value)
	}
}

// waitAndReport waits for the instance to be ready, printing a line per
// change of its progress (on stderr with --output json, so that stdout
// holds only the final JSON).
func (c *cli) waitAndReport(ctx context.Context, name string, timeout time.Duration) error {
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	w := c.stdout
	if c.output == "json" {
		w = c.stderr
	}
	last := ""
	v, err := c.client.Wait(wctx, name, func(v model.InstanceView) {
		if line := progressLine(v); line != last {
			fmt.Fprintf(w, "%s  %s\n", time.Now().Format("15:04:05"), line)
			last = line
		}
	})
	if err != nil {
		var nr *client.NotReadyError
		if errors.As(err, &nr) && errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			return fmt.Errorf("gave up after %s: %w", timeout, err)
		}
		if errors.As(err, &nr) && errors.Is(err, context.Canceled) {
			return fmt.Errorf("interrupted: %w", err)
		}
		return err
	}
	if c.output == "json" {
		return c.writeJSON(v)
	}
	fmt.Fprintf(c.stdout, "%s is RUNNING: master %s, %d of %d replicas in sync; applications use localhost:%d.\n",
		name, orDash(v.Master), v.ReplicasInSync, v.Replicas, v.ProxyPort)
	return nil
}

// waitGone waits until the scheduler no longer knows the instance. It
// asks every 250 ms: deletion takes as long as stopping the members.
func (c *cli) waitGone(ctx context.Context, name string, timeout time.Duration) error {
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		_, err := c.client.Get(wctx, name)
		switch {
		case client.IsNotFound(err):
			return nil
		case wctx.Err() != nil && ctx.Err() == nil:
			return fmt.Errorf("gave up after %s: instance %s still exists: %w", timeout, name, context.DeadlineExceeded)
		case err != nil && !client.IsUnreachable(err):
			return err
		}
		select {
		case <-tick.C:
		case <-wctx.Done():
		}
	}
}

// progressLine is one line of wait progress, e.g.
// "cache CREATING, 2/3 members running, 0/2 replicas in sync: placing replicas".
func progressLine(v model.InstanceView) string {
	running := 0
	for _, m := range v.Members {
		if m.State == "TASK_RUNNING" {
			running++
		}
	}
	sync := fmt.Sprintf("%d/%d replicas in sync", v.ReplicasInSync, v.Replicas)
	line := fmt.Sprintf("%s %s, %d/%d members running, %s", v.Name, v.State, running, v.Replicas+1, sync)
	// The scheduler's reason often starts with what the line already says.
	reason := strings.TrimPrefix(v.Reason, fmt.Sprintf("%d of %d replicas in sync", v.ReplicasInSync, v.Replicas))
	if reason = strings.TrimLeft(reason, "; "); reason != "" {
		line += ": " + reason
	}
	return line
}

// isTerminal reports whether r is an interactive terminal.
func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
