// Package podworker runs the pods bound to one node (the kubelet's pod
// workers and the sync loop of its runtime manager): a level-triggered
// reconciler that moves each pod one step closer to its spec per sync
// and then has its status written.
//
// A workqueue holds pod keys; an informer on the pods with spec.nodeName
// = this node, the relist of the runtime's sandboxes and containers every
// second (how exits and crashes are noticed), the static pod sources and
// probe result changes feed it. A sync of one pod, in order:
//
//   - a deleted pod: its containers stop within the grace period (preStop
//     hooks first), it reaches a terminal phase, its sandbox and files go
//     and the API forgets it;
//   - sandboxes of an earlier pod of that name, or broken ones, go; a
//     finished pod keeps its status and loses its sandbox;
//   - before its first sandbox, the pod is admitted (package admission) or
//     failed for good; past activeDeadlineSeconds it is stopped and Failed;
//   - the sandbox starts if there is none (config and runtime handler from
//     the config builder), then ephemeral containers that never ran, init
//     containers one at a time, app containers — each after its image is
//     pulled, restarted as the restart policy and the crash-loop back-off
//     allow, with its postStart hook;
//   - probers follow the running containers, API-backed volumes are
//     refreshed, and the status manager writes the pod's status.
//
// The housekeeping (housekeeping.go) catches what the syncs cannot see:
// at start, soon after a pod leaves the API and every 30 s it compares
// the pods bound here (and the static pods) with the runtime's sandboxes,
// the per-pod in-memory states, the pods' directories and logs and the
// pod network's address leases, removes what belongs to no pod, and tears
// down the volumes of finished pods.
//
// A static pod runs from its manifest; the API pod of its name is only its
// mirror, which is recreated when missing or stale.
//
// The worker owns the queue, the relist, the back-offs and admission; the
// parts it drives (runtime, status manager, prober, volume manager,
// config builder, image puller, static pod table, mirror pods, events)
// are the small interfaces in deps.go.
package podworker
