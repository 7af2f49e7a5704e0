package sched

// defaultLocalMesos is nil until the embedded Mesos package builds; then
// local.go sets it.
var defaultLocalMesos LocalMesosFunc
