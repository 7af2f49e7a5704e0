// Package sched is the mrredis Mesos framework: a pure state machine that
// turns Mesos events, REST requests and timer ticks into Mesos calls and
// ZooKeeper writes, and the adapters around it that do that I/O.
//
// The core (core.go, state.go, placement.go, lifecycle.go, failover.go) does
// no I/O: Core methods take an event and the time and return Actions. After
// every event a level-triggered pass compares each instance's spec with its
// members and emits what closes the gap, so a missed or repeated event does
// no harm and a restart is one more reconcile.
//
// Around it: leader.go runs the core on one goroutine while this process
// leads (ZooKeeper election, run.go) and executes its actions, store writes
// first (store.go, compare-and-set, nothing acted on that is not stored);
// mesos.go speaks the Mesos v1 scheduler API with mesos-go's httpsched and
// controller (heartbeat watchdog, framework id kept in ZooKeeper);
// pinger.go PINGs masters; api.go, compat.go and events.go serve the REST
// API, the MrRedis v1 routes and the event stream; metrics.go the
// Prometheus metrics.
//
// Entry points: New(Config) and (*Scheduler).Run(ctx); Config.RegisterFlags
// registers the mrr-sched flags.
package sched
