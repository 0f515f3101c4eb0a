// Package disruption implements the PodDisruptionBudget controller: it
// keeps the status of every policy/v1 PodDisruptionBudget current — how
// many of the pods it selects are expected, desired healthy and healthy,
// how many may be disrupted — as upstream's disruption controller does,
// and exports CheckEviction, the budget check of the API server's
// eviction subresource.
//
// A budget selects the pods of its namespace matching spec.selector (a
// nil selector selects none, an empty one all, as policy/v1 says). An
// integer minAvailable expects as many pods as are selected; a percentage
// minAvailable and any maxUnavailable take their share (rounded up) of
// the summed spec.replicas of the pods' controllers — ReplicaSet (or the
// Deployment owning it), ReplicationController or StatefulSet, found
// through controller references in the informer caches. Pods without a
// controller add nothing to that sum (upstream asks for an integer
// minAvailable then); a controller reference the controller cannot
// resolve fails the sync, which sets disruptionsAllowed to 0 and the
// DisruptionAllowed condition False with reason SyncFailed.
//
// Healthy pods are Running and Ready, not being deleted, and not listed in
// status.disruptedPods — where the eviction handler notes each pod it is
// about to delete — within the last two minutes. disruptionsAllowed is
// currentHealthy - desiredHealthy, at least 0, and 0 while no pod is
// expected. The controller drops disruptedPods entries of pods that are
// gone, being deleted, or overdue, and re-examines a budget when its
// earliest entry expires.
package disruption
