// Package cri is the node agent's client of a CRI runtime (containerd's
// CRI plugin): one gRPC connection over a unix socket carrying the runtime
// and image services of k8s.io/cri-api.
package cri
