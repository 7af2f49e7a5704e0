// Package executor is the mrredis custom Mesos executor: it runs one
// redis-server child per task, reports its health and stats, and carries
// out the scheduler's promote/follow/resize commands.
package executor
