// Package localproxy is the per-host proxy: one 127.0.0.1 listener per
// instance on the instance's cluster-wide port, relaying RESP to the
// current master, which it follows through ZooKeeper watches.
package localproxy
