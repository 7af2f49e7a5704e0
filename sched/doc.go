// Package sched is the mrredis Mesos framework: a pure state machine that
// turns Mesos events, REST requests and timer ticks into Mesos calls and
// ZooKeeper writes, and the adapters around it that do that I/O.
package sched
