package executor

import (
	"strconv"
	"strings"

	"github.com/mrredis/mrredis/internal/execproto"
	"github.com/mrredis/mrredis/internal/model"
)

// ParseInfo turns the text of an INFO reply into field -> value. Section
// headers, comments and blank lines are skipped.
func ParseInfo(text string) map[string]string {
	out := make(map[string]string)
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimRight(line, "\r")
		if line == "" || line[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		out[k] = v
	}
	return out
}

func roleOf(info map[string]string) model.Role {
	if info["role"] == "slave" {
		return model.RoleReplica
	}
	return model.RoleMaster
}

// StatsFromInfo picks the member stats out of a parsed INFO. ReplOffset is
// master_repl_offset on a master and slave_repl_offset on a replica.
// LagBytes is, on a master, the largest offset gap to a connected replica;
// a replica cannot see its master's offset, so there it is 0 and the
// scheduler compares offsets across members.
func StatsFromInfo(info map[string]string) execproto.MemberStats {
	num := func(k string) int64 {
		n, _ := strconv.ParseInt(info[k], 10, 64)
		return n
	}
	s := execproto.MemberStats{
		Role:             roleOf(info),
		RunID:            info["run_id"],
		UsedMemory:       num("used_memory"),
		ConnectedClients: num("connected_clients"),
		OpsPerSec:        num("instantaneous_ops_per_sec"),
	}
	if s.Role == model.RoleReplica {
		s.LinkUp = info["master_link_status"] == "up"
		s.ReplOffset = num("slave_repl_offset")
		if _, ok := info["slave_repl_offset"]; !ok {
			s.ReplOffset = num("master_repl_offset")
		}
		return s
	}
	s.ReplOffset = num("master_repl_offset")
	for i := 0; ; i++ {
		v, ok := info["slave"+strconv.Itoa(i)]
		if !ok {
			break
		}
		for _, kv := range strings.Split(v, ",") {
			if off, ok := strings.CutPrefix(kv, "offset="); ok {
				n, err := strconv.ParseInt(off, 10, 64)
				if err == nil && s.ReplOffset-n > s.LagBytes {
					s.LagBytes = s.ReplOffset - n
				}
			}
		}
	}
	return s
}
