// Package scheduler places pods on nodes, as upstream's kube-scheduler
// does with its default profile.
//
// It watches pods, nodes, namespaces and PriorityClasses through a shared
// informer factory and binds every pending pod whose schedulerName is
// "default-scheduler" (or empty) by POSTing its binding subresource.
//
// A scheduling cycle takes a Snapshot of the cluster (the nodes and the
// pods assigned to each, including pods this scheduler has bound but the
// informer has not reported yet), runs the filters (readiness and
// cordoning, taints, node affinity and selectors, host ports, resources,
// topology spread, inter-pod affinity) on every node, scores the nodes
// that pass and binds to the best one, breaking ties at random. Filters and
// scores are pure functions over the Snapshot.
//
// A pod that fits nowhere gets PodScheduled=False/Unschedulable with the
// upstream-format message and a FailedScheduling event; if it may preempt,
// the scheduler picks a node where deleting lower-priority pods makes it
// fit, deletes them and nominates the node. Unschedulable pods wait in a
// queue with back-off and return when the cluster changes.
//
// RequiredDuringExecution and NodeMatches are exported for the node
// lifecycle controller, which evicts pods whose
// flotilla.io/required-during-execution node selector stops matching.
package scheduler
