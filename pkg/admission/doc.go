// Package admission is the API server's one admission chain: the plugins
// that complete (mutating phase) and then check (validating phase) every
// write, in upstream kube-apiserver's order. Each plugin is a small
// package under pkg/admission/<name> built on k8s.io/apiserver's
// admission interfaces; it reads other objects through informers on the
// server's loopback client, never through storage.
package admission
