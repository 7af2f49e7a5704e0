package localproxy

// cmdKind is what the relay must do about a command besides forwarding it.
type cmdKind uint8

const (
	cmdPlain   cmdKind = iota // forward and count
	cmdLocalOK                // answered +OK locally, never forwarded: AUTH, CLIENT SETINFO
	cmdRefused                // answered with an error locally: CLIENT MAINT_NOTIFICATIONS
	cmdSelect                 // forward; remember the database
	cmdMulti                  // forward; a transaction is open
	cmdExec                   // forward; EXEC or DISCARD ends transaction and watches
	cmdWatch                  // forward; keys are watched
	cmdUnwatch                // forward; watches are gone
	cmdReset                  // forward; connection state back to defaults
	cmdRaw                    // forward, then stop counting: pub/sub, MONITOR, HELLO, ...
	cmdQuit                   // answered locally, then the connection closes
	cmdHello                  // forward; may switch the protocol version
	cmdWait                   // forward and count: WAIT, WAITAOF (see syncWrite)
)

// classify maps a command name (any case) to its kind. arg1 is the second
// argument, needed for CLIENT. It allocates nothing.
func classify(name, arg1 []byte) cmdKind {
	switch len(name) {
	case 4:
		switch {
		case eqFold(name, "AUTH"):
			return cmdLocalOK
		case eqFold(name, "EXEC"):
			return cmdExec
		case eqFold(name, "SYNC"):
			return cmdRaw
		case eqFold(name, "QUIT"):
			return cmdQuit
		case eqFold(name, "WAIT"):
			return cmdWait
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
			// Client libraries announce themselves on every new
			// connection; forwarded, it would pin the connection (see
			// shareable) for a name Redis only shows in CLIENT LIST.
			switch {
			case eqFold(arg1, "SETINFO"):
				return cmdLocalOK
			case eqFold(arg1, "MAINT_NOTIFICATIONS"):
				return cmdRefused
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
		case eqFold(name, "WAITAOF"):
			return cmdWait
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

// upper returns name in upper case in buf, or false if it is longer than
// any command name we look up.
func upper(name []byte, buf *[24]byte) ([]byte, bool) {
	if len(name) > len(buf) {
		return nil, false
	}
	for i, c := range name {
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		buf[i] = c
	}
	return buf[:len(name)], true
}

// readOnly reports whether a command (any case) only reads keys, and so
// may go to a replica. Commands that block, change connection state,
// touch LRU/LFU data or run arbitrary scripts are not on the list: they
// go to the master.
func readOnly(name []byte) bool {
	var buf [24]byte
	up, ok := upper(name, &buf)
	return ok && isReadOnly(string(up))
}

func isReadOnly(up string) bool {
	switch up {
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

// shareable reports whether a command (any case) may go over a backend
// connection shared with other clients: it neither blocks nor reads or
// changes state of the connection it is sent on, and its reply is one
// RESP2 reply. Anything not on the list, the commands of modules
// included, pins the client to a connection of its own.
func shareable(name []byte) bool {
	var buf [24]byte
	up, ok := upper(name, &buf)
	if !ok {
		return false
	}
	if isReadOnly(string(up)) {
		return true
	}
	switch string(up) {
	case "PING", "ECHO", "TIME", "TOUCH", "OBJECT", "MEMORY", "PUBLISH", "SPUBLISH",
		"SET", "SETNX", "SETEX", "PSETEX", "GETSET", "GETDEL", "GETEX", "MSET", "MSETNX", "APPEND", "SETRANGE",
		"INCR", "DECR", "INCRBY", "DECRBY", "INCRBYFLOAT",
		"DEL", "UNLINK", "EXPIRE", "PEXPIRE", "EXPIREAT", "PEXPIREAT", "PERSIST", "RENAME", "RENAMENX", "COPY", "RESTORE",
		"HSET", "HSETNX", "HMSET", "HDEL", "HINCRBY", "HINCRBYFLOAT",
		"LPUSH", "RPUSH", "LPUSHX", "RPUSHX", "LPOP", "RPOP", "LSET", "LREM", "LTRIM", "LINSERT", "LMOVE", "RPOPLPUSH", "LMPOP",
		"SADD", "SREM", "SPOP", "SMOVE", "SINTERSTORE", "SUNIONSTORE", "SDIFFSTORE",
		"ZADD", "ZINCRBY", "ZREM", "ZPOPMIN", "ZPOPMAX", "ZMPOP", "ZREMRANGEBYSCORE", "ZREMRANGEBYRANK", "ZREMRANGEBYLEX",
		"ZUNIONSTORE", "ZINTERSTORE", "ZDIFFSTORE", "ZRANGESTORE",
		"SETBIT", "BITOP", "BITFIELD", "PFADD", "PFMERGE",
		"XADD", "XDEL", "XTRIM", "XACK", "XCLAIM", "XAUTOCLAIM", "XPENDING", "XSETID",
		"GEOADD", "GEORADIUS", "GEORADIUSBYMEMBER", "GEOSEARCHSTORE",
		"EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO", "FCALL", "FCALL_RO":
		return true
	}
	return false
}
