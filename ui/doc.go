// Package ui is the web dashboard served by mrr-sched: static files
// embedded in the binary, fed by the REST API and its event stream.
package ui
