// Package eviction watches a node's resources as the kubelet's eviction
// manager does: it turns readings of the machine (memory, the agent's
// and the image store's file systems, process ids) into signals,
// compares them with hard thresholds (--eviction-hard), reports the
// node's pressure conditions, works out the node's allocatable from the
// reservations, and, when a threshold is crossed, frees space by
// removing unused images and then evicts pods, one at a time, in
// upstream's order.
//
// Readings come through the narrow Reader interface so that tests feed
// values; Linux reads the real machine.
package eviction
