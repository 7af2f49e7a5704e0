// Package zkstore is the only code that speaks ZooKeeper: typed records
// for the framework id, instances, members, master pointers, failovers and
// port reservations, with compare-and-set writes, re-arming watches and
// leader election.
package zkstore
