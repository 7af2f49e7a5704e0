// Package executor is the mrredis custom Mesos executor: it runs one
// redis-server child per task, reports its health and stats, and carries
// out the scheduler's promote/follow/resize commands.
//
// Two layers, in separate files:
//
//   - Redis process control, usable without Mesos (redisconf.go, member.go,
//     info.go, resp.go): RenderConfig turns a MemberConfig into redis.conf;
//     StartMember starts redis-server as a child in its own process group
//     with Pdeathsig SIGKILL (no redis outlives its executor); a Member
//     offers WaitReady, Exited/ExitInfo (from the process Wait, no polling),
//     Stats, Promote, Follow, SetMaxMemory, FailoverTo (Redis FAILOVER: a
//     switchover that loses no acknowledged write; not yet reachable
//     through execproto), Stop (graceful SHUTDOWN, then SIGKILL of the
//     group after the grace period) and Kill.
//   - The Mesos executor (executor.go, updates.go, config.go): Run reads the
//     MESOS_* environment, subscribes to the agent with mesos-go's httpexec,
//     and owns all task state in one goroutine. The wire format to the
//     scheduler is internal/execproto.
//
// Task lifecycle: LAUNCH -> TaskData validated (bad: TASK_FAILED with
// REASON_TASK_INVALID, nothing started) -> redis.conf written to
// $MESOS_SANDBOX/<task-id>/ and redis-server started -> TASK_STARTING ->
// PING answered (replicas: master_link_status up) -> TASK_RUNNING with
// execproto.StatusData; not ready within --ready-timeout -> TASK_FAILED.
// A member that exits -> TASK_FAILED at once with its exit status and the
// last lines of redis.log. KILL -> SHUTDOWN [NO]SAVE within the kill
// policy's grace (default --kill-grace) -> TASK_KILLED. SHUTDOWN -> every
// member stopped, then exit 0. Lost agent -> re-SUBSCRIBE with backoff,
// carrying the unacknowledged tasks and updates, for up to the recovery
// timeout; members keep running meanwhile. No live task and no
// unacknowledged update for --idle-timeout -> exit 0, so executors of
// deleted instances do not keep their resources on the agent.
//
// Choices in the rendered redis.conf:
//
//   - ACL: the default user (clients) gets the instance password (or
//     nopass) and +@all -@admin, so clients cannot CONFIG, REPLICAOF,
//     SHUTDOWN, ACL, ... The user mrr-admin (TaskData.AdminPass; the client
//     password if that is empty) has everything; the executor, the
//     scheduler and replicas (masteruser/masterauth) use it. With no
//     password at all, mrr-admin is nopass and any password authenticates.
//   - protected-mode no: with protected mode on and no client password,
//     redis refuses every non-loopback connection, including its own
//     replicas on other hosts (TestNoPasswordReplicaOnOtherHost); access is
//     governed by the ACL instead.
//   - maxmemory-policy noeviction by default: a full instance refuses writes
//     with an OOM error instead of silently dropping keys, because a service
//     cannot know whether a tenant's data is a cache. --maxmemory-policy
//     allkeys-lru suits pure caches.
//   - persistence none: save "" and appendonly no; aof: appendonly yes,
//     everysec, no RDB snapshots; rdb: the classic save points.
//   - repl-diskless-sync no: after a diskless transfer Redis holds back
//     the write stream until the replica's first acknowledgement, up to a
//     second after the replica reports its link up, and a failover then
//     would lose those writes; through a file the stream starts at once.
//     rdb-del-sync-files removes the file when persistence is off.
//     replica-announce-ip is the bind address, so masters list replicas by
//     their reachable address.
package executor
