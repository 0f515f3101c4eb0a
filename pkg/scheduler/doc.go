// Package scheduler places pods on nodes, as upstream's kube-scheduler
// does with its default profile.
//
// It watches pods, nodes, namespaces and PriorityClasses through a shared
// informer factory and binds every pending pod whose schedulerName is
// "default-scheduler" (or empty) by POSTing its binding subresource.
//
// The scheduler cache (cache.go) keeps one NodeInfo per node up to date
// from informer events: the node, its assigned pods with their summed
// requests, host ports and inter-pod terms, plus the pods this scheduler
// has assumed there (bound or being bound, not yet reported by the
// informer; an assumption is confirmed by the informer, forgotten when
// its binding fails and expires if never confirmed). NodeInfos are
// immutable: a change publishes a copy and marks the node dirty, so each
// scheduling cycle brings its Snapshot up to date by swapping in the
// nodes that changed, without listing pods or nodes. The cost of a cycle
// grows with the number of nodes, not pods, except where topology spread
// and inter-pod affinity count matching pods: those counts are taken per
// node and remembered on the (immutable) NodeInfo, so only changed nodes
// are recounted, and only pods with inter-pod terms are looked at for
// their own terms.
//
// A cycle runs the filters (readiness and cordoning, taints, node
// affinity and selectors, host ports, resources, topology spread,
// inter-pod affinity) over the nodes round robin from where the last
// cycle stopped, until enough feasible nodes are found (as upstream's
// adaptive percentageOfNodesToScore: all of the first 100 nodes, else
// 50% less one point per 125 nodes, at least 5% and 100 nodes); a pod
// that fits nowhere is checked against every node. It scores the
// feasible nodes and picks the best, breaking ties at random. Filters and
// scores are pure functions over the Snapshot. Nominated pods of at least
// the pod's priority hold their room on their nominated node.
//
// The chosen node is assumed in the cache and the binding is POSTed by a
// pool of binders Run owns, so the next cycle starts at once; a failed
// binding drops the assumption and the pod is retried with back-off.
// Events are written by a few event writers from a bounded queue; when it
// is full, events are dropped with a log line rather than slowing
// scheduling.
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
// AdmissionCheck and UntoleratedTaint are the filters' checks for the node
// agent, which admits pods bound without the scheduler as the kubelet does.
package scheduler
