// Package mesoslocal is a Mesos master and agents in one process, speaking
// the Mesos 1.10 v1 HTTP scheduler and executor APIs, for laptops and tests.
//
// Any mesos-go v0.0.11 client works against it unchanged, in JSON and
// protobuf: schedulers use URL()+"/api/v1/scheduler"; every agent serves
// /api/v1/executor on its own loopback IP and runs custom executors
// (ExecutorInfo.command) and command tasks (TaskInfo.command) as real child
// processes, each in its own process group and sandbox.
//
// What it owns, by file:
//
//	master.go         Cluster: start, close, ids, master info
//	scheduler_api.go  /api/v1/scheduler: SUBSCRIBE, call checks, frameworks and failover
//	offers.go         allocation, offer filters, ACCEPT/DECLINE and task validation
//	tasks.go          tasks, the agents' status update managers, reconciliation, kills
//	agent.go          agents: start, stop (disconnect or host crash), unreachable, re-registration
//	executor_api.go   /api/v1/executor: executor SUBSCRIBE, UPDATE, MESSAGE
//	containerizer.go  executor processes: environment, launch, exit, shutdown
//	fetcher.go        CommandInfo.uris into the sandbox
//	recordio.go       transport rules (405/400/415/406) and RecordIO event streams
//	resources.go      cpus/mem/disk/ports arithmetic
//	state.go          GET /state
//
// One mutex (Cluster.mu) owns all master and agent state; event streams
// are queues written to the network by the HTTP handler that serves them.
package mesoslocal
