// Package integration drives a real in-process control plane (embedded
// etcd, API server, controllers) through client-go.
package integration
