package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/mrredis/mrredis/internal/model"
)

func (c *cli) writeJSON(v any) error {
	enc := json.NewEncoder(c.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
}

// master returns the member that is master, if any.
func master(v model.InstanceView) (model.Member, bool) {
	for _, m := range v.Members {
		if m.TaskID == v.MasterTask && v.MasterTask != "" {
			return m, true
		}
	}
	for _, m := range v.Members {
		if m.Role == model.RoleMaster {
			return m, true
		}
	}
	return model.Member{}, false
}

// stateText is the state with its reason, e.g. "DEGRADED (replica lost)".
func stateText(v model.InstanceView) string {
	if v.Reason == "" {
		return string(v.State)
	}
	return fmt.Sprintf("%s (%s)", v.State, v.Reason)
}

func writeList(w io.Writer, vs []model.InstanceView) {
	if len(vs) == 0 {
		fmt.Fprintln(w, "No instances. Create one with: mrr create NAME --memory 512 --replicas 1")
		return
	}
	sort.Slice(vs, func(i, j int) bool { return vs[i].Name < vs[j].Name })
	tw := newTable(w)
	fmt.Fprintln(tw, "NAME\tSTATE\tMEMORY\tREPLICAS IN SYNC\tPROXY PORT\tMASTER\tOPS/S\tFAILOVERS")
	for _, v := range vs {
		used, ops := "-", "-"
		if m, ok := master(v); ok {
			used, ops = humanBytes(m.UsedMemory), strconv.FormatInt(m.OpsPerSec, 10)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s / %d MB\t%d/%d\t%d\t%s\t%s\t%d\n",
			v.Name, stateText(v), used, v.MemoryMB, v.ReplicasInSync, v.Replicas,
			v.ProxyPort, orDash(v.Master), ops, v.Failovers)
	}
	tw.Flush()
}

func writeStatus(w io.Writer, v model.InstanceView, now time.Time) {
	tw := newTable(w)
	row := func(k, v string) { fmt.Fprintf(tw, "%s:\t%s\n", k, v) }
	row("Name", v.Name)
	row("State", string(v.State))
	if v.Reason != "" {
		row("Reason", v.Reason)
	}
	if m, ok := master(v); ok {
		row("Master", fmt.Sprintf("%s (task %s)", orDash(v.Master), m.TaskID))
	} else {
		row("Master", orDash(v.Master))
	}
	row("Proxy", fmt.Sprintf("localhost:%d on every application host", v.ProxyPort))
	if m, ok := master(v); ok {
		row("Memory", fmt.Sprintf("%s used of %d MB", humanBytes(m.UsedMemory), v.MemoryMB))
	} else {
		row("Memory", fmt.Sprintf("%d MB", v.MemoryMB))
	}
	row("Replicas", fmt.Sprintf("%d of %d in sync", v.ReplicasInSync, v.Replicas))
	row("Persistence", orDash(string(v.Persistence)))
	row("Reads", readsText(v.ReadFromReplicas))
	if v.Password != "" {
		row("Password", "set")
	} else {
		row("Password", "none")
	}
	row("Failovers", strconv.Itoa(v.Failovers))
	if !v.Created.IsZero() {
		row("Created", fmt.Sprintf("%s (%s ago)", v.Created.UTC().Format("2006-01-02 15:04:05 MST"), ago(now, v.Created)))
	}
	tw.Flush()

	fmt.Fprintln(w, "\nMembers:")
	if len(v.Members) == 0 {
		fmt.Fprintln(w, "  none yet")
	} else {
		members := append([]model.Member(nil), v.Members...)
		sort.SliceStable(members, func(i, j int) bool {
			if (members[i].Role == model.RoleMaster) != (members[j].Role == model.RoleMaster) {
				return members[i].Role == model.RoleMaster
			}
			return members[i].TaskID < members[j].TaskID
		})
		tw = newTable(w)
		fmt.Fprintln(tw, "TASK\tHOST:PORT\tROLE\tSTATE\tOFFSET\tLAG\tMEMORY\tOPS/S\tCLIENTS\tLAST SEEN")
		for _, m := range members {
			lag := "-"
			if m.Role == model.RoleReplica {
				lag = humanBytes(m.LagBytes)
				if !m.LinkUp {
					lag += " (link down)"
				}
			}
			state := m.State
			if m.Reason != "" {
				state += " (" + m.Reason + ")"
			}
			seen := "-"
			if !m.LastSeen.IsZero() {
				seen = ago(now, m.LastSeen) + " ago"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%d\t%d\t%s\n",
				m.TaskID, m.Addr(), m.Role, state, m.ReplOffset, lag, humanBytes(m.UsedMemory),
				m.OpsPerSec, m.ConnectedClients, seen)
		}
		tw.Flush()
	}

	fmt.Fprintln(w, "\nFailover history:")
	if len(v.History) == 0 {
		fmt.Fprintln(w, "  none")
		return
	}
	tw = newTable(w)
	fmt.Fprintln(tw, "AT\tCAUSE\tFROM\tTO\tDETECT\tTOTAL\tLOST\tERROR")
	for _, f := range v.History {
		from, to := f.OldMaster, f.NewMaster
		if f.OldAddr != "" {
			from += " (" + f.OldAddr + ")"
		}
		if f.NewAddr != "" {
			to += " (" + f.NewAddr + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d ms\t%d ms\t%s\t%s\n",
			f.At.UTC().Format("2006-01-02 15:04:05"), f.Cause, orDash(from), orDash(to),
			f.DetectMS, f.TotalMS, humanBytes(f.LostBytes), orDash(f.Error))
	}
	tw.Flush()
}

// readsText says where the local proxies send reads: replicas may lag the
// master, so the text warns of stale reads when they are used.
func readsText(fromReplicas bool) string {
	if fromReplicas {
		return "replicas too (eventually consistent)"
	}
	return "master only"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// humanBytes writes b in B, KB, MB or GB (powers of 1024, as Redis counts).
func humanBytes(b int64) string {
	const k = 1024
	switch {
	case b < k:
		return fmt.Sprintf("%d B", b)
	case b < k*k:
		return fmt.Sprintf("%.1f KB", float64(b)/k)
	case b < k*k*k:
		return fmt.Sprintf("%.1f MB", float64(b)/(k*k))
	}
	return fmt.Sprintf("%.2f GB", float64(b)/(k*k*k))
}

// ago is a short duration such as "3s", "5m" or "2h10m".
func ago(now, t time.Time) string {
	d := now.Sub(t)
	switch {
	case d < 0:
		return "0s"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}
