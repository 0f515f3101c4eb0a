// Package apiserver serves the Kubernetes REST API over the resources of
// package registry: discovery, the CRUD, watch and patch verbs with their
// upstream semantics, subresources, server-side Table printing and
// content negotiation (JSON, YAML, protobuf).
//
// Errors of every kind become a metav1.Status exactly once, here, at the
// HTTP boundary.
package apiserver
