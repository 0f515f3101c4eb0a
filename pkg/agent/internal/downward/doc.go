// Package downward resolves the downward API: the pod fields
// (fieldRef) and container resources (resourceFieldRef) that env vars
// and downwardAPI volume files expose to a pod's containers.
//
// A resource limit the container leaves unset reads as the node's
// allocatable, as the kubelet shows it; callers pass the allocatable in,
// measured once (the node agent keeps it with its node status) rather than
// at every reference.
package downward
