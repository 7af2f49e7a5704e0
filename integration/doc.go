// Package integration holds end-to-end tests that run the real binaries
// against a real ZooKeeper, real redis-server processes and the local
// Mesos cluster.
package integration
