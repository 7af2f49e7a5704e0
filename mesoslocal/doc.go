// Package mesoslocal is a Mesos master and agents in one process, speaking
// the Mesos 1.10 v1 HTTP scheduler and executor APIs, for laptops and tests.
package mesoslocal
