// Package localproxy is the per-host proxy: one 127.0.0.1 listener per
// instance on the instance's cluster-wide port, relaying RESP to the
// current master, which it follows through ZooKeeper watches.
//
// The package has two layers:
//
//   - Proxy (proxy.go, conn.go) knows nothing of ZooKeeper. It is told
//     "instance X listens on port P with password W" (Add), "its master is
//     at A" (SetMaster) and "X is gone" (Remove), and does the rest: binds
//     the port (retrying while another program holds it, without affecting
//     the other instances), relays client connections, moves them when the
//     master changes.
//   - Follower (watch.go) drives a Proxy from zkstore: a child watch on
//     /instances opens and closes listeners, a data watch on each
//     /instances/<name>/master routes it (and on /replicas, for instances
//     that read from replicas). Session expiry re-reads every
//     record; during a ZooKeeper outage the last known masters keep being
//     served (see Follower).
//
// Relay. Bytes are passed through unchanged; streaming scanners (resp.go)
// only find where commands and replies end, so the proxy knows how many
// commands are in flight, and read the command name and first argument,
// so it can route commands, follow SELECT, MULTI, WATCH, HELLO and answer
// AUTH. A client connection starts on the instance's shared connection to
// the master (mux.go), which carries the commands of many clients that
// neither block nor depend on connection state (shareable), so that Redis
// reads and answers them in batches. The first command that needs state
// (SELECT, MULTI, WATCH, blocking commands, pub/sub, CLIENT ...) pins the
// client to a backend connection of its own, on which everything is as
// transparent as a direct connection. Pipelined commands read in one read
// are written to Redis in one write, and replies likewise. The hot path
// allocates nothing, and reads go through the raw descriptor so that a
// short read is followed by a wait for the poller rather than by a read
// that fails with EAGAIN (readloop.go), as HAProxy does. SUBSCRIBE,
// PSUBSCRIBE, SSUBSCRIBE, MONITOR, CLIENT REPLY and CLIENT TRACKING switch
// a pinned connection to plain bidirectional copying.
//
// AUTH is answered +OK by the proxy and not forwarded; the proxy
// authenticates to Redis with the instance password from ZooKeeper (see
// clientConn for why this is safe on a loopback listener).
//
// Master change. New commands go to the new master at once. A connection
// idle at the switch loses nothing: its next command goes over a new
// shared connection, or, once pinned, over a new connection of its own
// (AUTH, SELECT and HELLO 3 are replayed). Commands in flight get
// "-ERR mrredis: master changed, command not executed or result unknown;
// retry": the old master may or may not have executed them, so they are
// not retried. Connections whose server-side state cannot be recreated
// (inside MULTI, with WATCHed keys, subscribed, monitoring) are closed;
// clients reconnect and resubscribe as after a Redis restart.
//
// Reads from replicas (SetReplicas; per instance, off by default). A
// connection may have a second backend on one in-sync replica, for
// read-only commands outside transactions. A read goes there only while
// nothing is in flight on the master, and the master's replies wait for
// the replica's answers to earlier reads: replies stay in command order
// without serve ever pausing its reads of the client.
package localproxy
