// Package etcd runs the embedded etcd member that stores the cluster state
// by default, and dials an external etcd cluster when one is configured.
//
// The embedded member listens only on loopback with mutual TLS; the API
// server itself talks to it in-process, without a network hop.
package etcd
