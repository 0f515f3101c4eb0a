// Package server wires and runs the control plane of `flotilla server`:
// certificates, etcd (embedded or external), the API server, built-in
// objects and the controllers, started in order and stopped together.
package server
