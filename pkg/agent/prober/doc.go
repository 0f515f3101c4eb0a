// Package prober runs a node's containers' liveness, readiness and
// startup probes and their lifecycle hooks (the kubelet's prober manager
// and handler runners).
//
// Sync starts one goroutine per probe of each running container attempt
// and stops those of attempts that no longer run; a restarted container
// gets fresh probers and fresh results. Results become the containers'
// ready and started flags when the status manager asks (Apply); a change
// re-queues the pod. A container that fails its liveness or startup probe
// is stopped (with its preStop hook), and the pod worker restarts it as
// its restart policy says.
//
// Probes and hooks run exec through the runtime (nothing runs on the
// host), HTTP GET and TCP from the node to the pod's address, gRPC
// against the standard health service. PostStart runs right after a
// container started and a failing hook kills it; StopContainer runs the
// preStop hook within the grace period before the runtime stops the
// container.
package prober
