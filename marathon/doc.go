// Package marathon holds the Marathon app definitions and the DC/OS
// Universe package that deploy mrr-sched and mrr-localproxy, and the tests
// that validate them against Marathon's schema and the binaries' flags.
package marathon
