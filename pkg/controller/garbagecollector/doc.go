// Package garbagecollector implements the garbage collector: it deletes
// objects whose owners (metadata.ownerReferences) are gone, and carries
// out the Foreground and Orphan propagation policies the API server
// records as the foregroundDeletion and orphan finalizers.
//
// The collector discovers every served resource that can be listed,
// watched and deleted, watches each through a metadata-only informer, and
// keeps a graph from owners to dependents keyed by UID. Events on the
// graph queue work; decisions that would delete or orphan something are
// always checked against the live object first, as upstream's collector
// does, so a lagging informer never causes a wrong deletion.
//
//   - Background (the default): once an owner is gone, a dependent whose
//     owners are all gone is deleted (with Background propagation, so the
//     cascade goes on); a dependent that still has a live owner only loses
//     the dangling reference. A reference to an owner that never existed
//     is dangling too.
//   - Foreground: an owner marked for deletion with the foregroundDeletion
//     finalizer has its dependents deleted (Foreground for those that own
//     objects in turn); the finalizer is removed, and the owner goes, once
//     no dependent that blocks it (blockOwnerDeletion) is left.
//   - Orphan: an owner marked for deletion with the orphan finalizer has
//     its references removed from all its dependents, then loses the
//     finalizer.
package garbagecollector
