// Package replicaset implements the controller behind apps/v1 ReplicaSets
// and core/v1 ReplicationControllers: it keeps spec.replicas active pods
// matching each object's selector, as upstream's replicaset and
// replication controllers do. One implementation serves both kinds
// through a small adapter (kinds.go); New builds the ReplicaSet
// controller, NewReplicationController the other.
//
// Active pods are those not being deleted and not Succeeded or Failed: a
// pod that fails, is deleted or gets a deletionTimestamp is replaced at
// once. Missing pods are created from the template with generateName
// "<name>-" and a controller reference (controller and
// blockOwnerDeletion true), in slow-start batches of 1, 2, 4, … that
// stop at the first failure, which is reported as a FailedCreate event
// and a ReplicaFailure condition. Excess pods are deleted with their
// normal grace period, those least useful first (unscheduled, then
// Pending, Unknown, not ready, lower pod-deletion-cost, doubled up on a
// node, ready for less time, more restarts, newer), ranked as upstream
// ranks them with logarithmic time buckets.
//
// Pods matching the selector without a controller are adopted and pods
// owned whose labels stop matching are released, both by patching
// ownerReferences (pkg/controller/refmanager). Expectations (expectations.go) remember the creations
// and deletions in flight so that nothing is done twice before the
// informer has seen the effect of earlier writes.
//
// Status (replicas, fullyLabeledReplicas, readyReplicas,
// availableReplicas honouring minReadySeconds, terminatingReplicas for
// ReplicaSets, observedGeneration, the ReplicaFailure condition) is
// written through the status subresource when it changed. An object being
// deleted is left alone: deleting its pods is the garbage collector's
// work.
package replicaset
