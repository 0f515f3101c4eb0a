// Package defaults fills in the fields the upstream API server would fill
// in before an object is validated and stored, so clients (kubectl, client-go
// controllers, server-side apply) see the same objects as on upstream
// Kubernetes.
//
// Apply mirrors upstream's generated SetObjectDefaults_* functions for each
// built-in type; what admission plugins add (a pod's service account,
// priority, tolerations) is pkg/admission's.
// PodQOSClass mirrors upstream's QoS computation used for status.qosClass.
//
// Everything here runs on create and on every update, and inside the
// server-side-apply field manager, so each rule only fills fields that are
// unset: applying twice is the same as applying once and a value the user
// chose is never replaced.
package defaults
