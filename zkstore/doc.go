// Package zkstore is the only code that speaks ZooKeeper: typed records
// for the framework id, instances, members, master pointers, failovers and
// port reservations, with compare-and-set writes, re-arming watches and
// leader election.
//
// Layout under the root (default /mrredis):
//
//	framework/id                      Mesos framework id
//	leader/n_<token>_<seq>            ephemeral sequential election nodes (data: candidate's URL)
//	instances/<name>                  JSON model.Instance
//	instances/<name>/master           "host:port" of the current master (proxies watch it)
//	instances/<name>/members/<task>   JSON model.Member
//	instances/<name>/failovers/f_<seq> JSON model.Failover, newest MaxFailovers kept
//	ports/<port>                      "<name>": the instance's proxy port
//
// Every call is bounded by Config.OpTimeout and fails with ErrUnavailable
// when ZooKeeper does not answer; errors wrap ErrNotFound, ErrExists,
// ErrConflict, ErrUnavailable or ErrNoPorts (test with errors.Is) and name
// the node path. Writes of records are compare-and-set on the node version
// where the API takes a version.
//
// Sessions: while the connection is down but the session lives, watches
// stay armed and fire on reconnect for what changed meanwhile. When the
// session expires, the library connects with a new session; the store then
// signals Resync (ephemeral nodes and server-side watches are gone, so
// callers re-read), and its own watches (WatchInstances, WatchMaster)
// re-arm and send the current value. A Leadership ends (Lost) when its
// session expires, its node is deleted, or the connection has been down
// for more than half the session timeout, since another candidate may
// then take over.
package zkstore
