package localproxy

// cmdKind is what the relay must do about a command besides forwarding it.
type cmdKind uint8

const (
	cmdPlain   cmdKind = iota // forward and count
	cmdAuth                   // answered locally, never forwarded
	cmdSelect                 // forward; remember the database
	cmdMulti                  // forward; a transaction is open
	cmdExec                   // forward; EXEC or DISCARD ends transaction and watches
	cmdWatch                  // forward; keys are watched
	cmdUnwatch                // forward; watches are gone
	cmdReset                  // forward; connection state back to defaults
	cmdRaw                    // forward, then stop counting: pub/sub, MONITOR, HELLO, ...
	cmdQuit                   // answered locally, then the connection closes
	cmdHello                  // forward; may switch the protocol version
)

// classify maps a command name (any case) to its kind. arg1 is the second
// argument, needed for CLIENT. It allocates nothing.
func classify(name, arg1 []byte) cmdKind {
	switch len(name) {
	case 4:
		switch {
		case eqFold(name, "AUTH"):
			return cmdAuth
		case eqFold(name, "EXEC"):
			return cmdExec
		case eqFold(name, "SYNC"):
			return cmdRaw
		case eqFold(name, "QUIT"):
			return cmdQuit
		}
	case 5:
		switch {
		case eqFold(name, "MULTI"):
			return cmdMulti
		case eqFold(name, "WATCH"):
			return cmdWatch
		case eqFold(name, "RESET"):
			return cmdReset
		case eqFold(name, "HELLO"):
			return cmdHello
		case eqFold(name, "PSYNC"):
			return cmdRaw
		}
	case 6:
		switch {
		case eqFold(name, "SELECT"):
			return cmdSelect
		case eqFold(name, "CLIENT"):
			// CLIENT REPLY OFF|SKIP suppresses replies and CLIENT
			// TRACKING may push invalidations: counting would go wrong.
			if eqFold(arg1, "REPLY") || eqFold(arg1, "TRACKING") {
				return cmdRaw
			}
		}
	case 7:
		switch {
		case eqFold(name, "DISCARD"):
			return cmdExec
		case eqFold(name, "UNWATCH"):
			return cmdUnwatch
		case eqFold(name, "MONITOR"):
			return cmdRaw
		}
	case 9:
		if eqFold(name, "SUBSCRIBE") {
			return cmdRaw
		}
	case 10:
		if eqFold(name, "PSUBSCRIBE") || eqFold(name, "SSUBSCRIBE") {
			return cmdRaw
		}
	}
	return cmdPlain
}

// eqFold reports whether b equals the upper-case ASCII word s, ignoring case.
func eqFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

// parseDB parses a SELECT index; ok is false for anything but a small
// non-negative decimal.
func parseDB(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 6 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// readOnly reports whether a command (any case) only reads keys, and so
// may go to a replica. Commands that block, change connection state,
// touch LRU/LFU data or run arbitrary scripts are not on the list: they
// go to the master.
func readOnly(name []byte) bool {
	var up [24]byte
	if len(name) > len(up) {
		return false
	}
	for i, c := range name {
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		up[i] = c
	}
	switch string(up[:len(name)]) {
	case "GET", "MGET", "GETRANGE", "SUBSTR", "STRLEN", "LCS",
		"EXISTS", "TYPE", "TTL", "PTTL", "EXPIRETIME", "PEXPIRETIME", "DBSIZE", "KEYS", "SCAN", "RANDOMKEY", "DUMP",
		"HGET", "HMGET", "HGETALL", "HKEYS", "HVALS", "HLEN", "HEXISTS", "HSTRLEN", "HSCAN", "HRANDFIELD",
		"LRANGE", "LLEN", "LINDEX", "LPOS",
		"SMEMBERS", "SISMEMBER", "SMISMEMBER", "SCARD", "SRANDMEMBER", "SSCAN", "SINTER", "SUNION", "SDIFF", "SINTERCARD",
		"ZRANGE", "ZRANGEBYSCORE", "ZREVRANGE", "ZREVRANGEBYSCORE", "ZRANGEBYLEX", "ZREVRANGEBYLEX", "ZRANK", "ZREVRANK",
		"ZSCORE", "ZMSCORE", "ZCARD", "ZCOUNT", "ZLEXCOUNT", "ZSCAN", "ZRANDMEMBER", "ZINTER", "ZUNION", "ZDIFF", "ZINTERCARD",
		"BITCOUNT", "GETBIT", "BITPOS", "BITFIELD_RO", "PFCOUNT",
		"XRANGE", "XREVRANGE", "XLEN",
		"GEOPOS", "GEODIST", "GEOHASH", "GEOSEARCH", "GEORADIUS_RO", "GEORADIUSBYMEMBER_RO":
		return true
	}
	return false
}
