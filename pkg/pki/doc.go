// Package pki creates and loads the cluster's certificate authority, the API
// server's serving certificate and client certificates, and writes the
// kubeconfig files that carry them.
//
// Everything is generated on first start and reused afterwards, so clients
// keep trusting the server across restarts.
package pki
