// Package agent is Flotilla's node agent (the kubelet's role): it
// registers its Node and renews its Lease, and runs the pods bound to it
// through a CRI runtime — by default a containerd it supervises itself,
// with pod networks from the standard CNI plugins.
//
// Pods are reconciled level-triggered: a workqueue holds pod keys; an
// informer (pods with spec.nodeName = this node) and a periodic relist of
// the runtime's containers feed it; a worker compares the pod's spec with
// what runs and moves one step closer (start the sandbox, start or restart
// a container, stop everything on deletion), then writes the observed
// status back through the API.
//
// Before its first sandbox, a pod is admitted once (package admission,
// admit.go), as the kubelet admits pods: one bound with spec.nodeName,
// bypassing the scheduler, whose host ports, resources, node selector or
// affinity, or NoExecute tolerations do not fit the node and the pods
// admitted before it is failed for good with the upstream reason
// (NodePorts, OutOfcpu, ...) and "Pod was rejected: ..." message, and an
// event, and never started.
package agent
