//go:build tools

// Package kubeproxy pins upstream's kube-proxy at the Kubernetes version
// Flotilla reports, in a module of its own (never in the product's
// go.mod), so that the proxy benchmark (make bench) can run it in
// nftables mode next to Flotilla's proxier on the same workload:
//
//	go build -o bin/kube-proxy k8s.io/kubernetes/cmd/kube-proxy
package kubeproxy

import _ "k8s.io/kubernetes/cmd/kube-proxy"
