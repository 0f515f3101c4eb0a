// Package nodelifecycle implements the node lifecycle controller: it
// watches node heartbeats, taints nodes that stopped reporting or report
// themselves not ready, and evicts the pods that do not tolerate those
// taints, as upstream's node lifecycle and taint eviction controllers do.
//
// Node health. A node's heartbeats are its Lease in kube-node-lease
// (spec.renewTime) and its Ready condition's lastHeartbeatTime. Every
// MonitorPeriod the controller notes, on its own clock, when either last
// moved; when neither has for GracePeriod, the node's Ready,
// MemoryPressure, DiskPressure and PIDPressure conditions become Unknown
// (reason NodeStatusUnknown, "Kubelet stopped posting node status.";
// conditions never posted are added with NodeStatusNeverUpdated) and the
// Ready condition of its pods turns False. Comparing local observation
// times rather than the timestamps themselves keeps clock skew between
// node and controller harmless, and since a node is first observed when
// the controller starts, every node gets a full grace period after a
// restart before being declared unknown.
//
// Taints follow the Ready condition: Unknown gives
// node.kubernetes.io/unreachable with effects NoExecute and NoSchedule,
// False gives node.kubernetes.io/not-ready with both effects, a node
// that never posted Ready gets not-ready:NoSchedule only, and True removes
// them all. NoExecute taints carry timeAdded. The node's agent sets Ready
// back to True when it returns; a renewed lease alone does not lift the
// unreachable taint, as upstream.
//
// Taint eviction. A non-terminal pod bound to a node with NoExecute taints
// is evicted at once if some taint is not tolerated, tolerationSeconds
// after the taint's timeAdded if every taint is tolerated and some
// matching toleration is bounded (the earliest deadline wins), and never
// if all matching tolerations are unbounded (see EvictionTime). Pending
// evictions are re-examined at their deadline, so one whose taint went
// away, or whose pod is gone, simply does not happen (with a "Cancelling
// deletion" Event when the pod is still there). Evicting sets the pod's
// DisruptionTarget condition (reason DeletionByTaintManager), records a
// TaintManagerEviction Event and deletes the pod with its own grace period.
// The default 300 s not-ready/unreachable tolerations are added to pods at
// admission by the API server, not here.
//
// Lost nodes. A pod being deleted on a node whose Ready is Unknown has no
// agent left to finish its graceful deletion. Once its deletion timestamp
// (the end of its grace period) has passed, the controller sets its phase
// Failed with reason NodeLost ("Node N which was running pod P is
// unresponsive") and deletes it with grace period 0, so its controller can
// rebuild it elsewhere. This is what upstream's pod GC does for
// out-of-service nodes, applied here to unreachable ones.
//
// Required node affinity during execution. A pod annotated with
// flotilla.io/required-during-execution (a JSON core/v1 NodeSelector,
// matched by NodeMatches) whose running node's labels stop matching is
// evicted the same way, with DisruptionTarget reason
// DeletionByRequiredNodeAffinity and a NodeAffinityEviction Event.
//
// Pods already Succeeded or Failed are left alone.
package nodelifecycle
