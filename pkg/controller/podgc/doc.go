// Package podgc is the pod garbage collector, as upstream's
// pod-garbage-collector: every 20 s it deletes terminated pods above a
// threshold (oldest first, evicted ones before others), pods bound to
// Nodes that no longer exist (after a 40 s quarantine and a live GET of
// the Node, marked with the DisruptionTarget condition, reason
// DeletionByPodGC) and terminating pods that were never scheduled.
package podgc
