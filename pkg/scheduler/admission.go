package scheduler

import (
	"strings"

	v1 "k8s.io/api/core/v1"
)

// Names of the filters whose checks AdmissionCheck repeats, as a node
// agent reports them (upstream's plugin names).
const (
	FilterNodeAffinity    = "NodeAffinity"
	FilterNodeName        = "NodeName"
	FilterNodePorts       = "NodePorts"
	FilterTaintToleration = "TaintToleration"
)

// Messages of the admission failures that are not about resources.
const (
	MsgNodeAffinity = msgNodeAffinity
	MsgNodeName     = "node(s) didn't match the requested node name"
	MsgNodePorts    = msgPorts
	MsgTaints       = "node(s) had taints that the pod didn't tolerate"
)

// AdmissionFailure is one reason a node cannot run a pod bound to it:
// either Insufficient is set, or Filter names the failed check and
// Reason says why.
type AdmissionFailure struct {
	Filter, Reason string
	Insufficient   *InsufficientResource
}

// AdmissionCheck is what a node agent checks before it runs a pod that
// was bound to its node, possibly without the scheduler (spec.nodeName
// set at creation), as upstream's kubelet does through its scheduler's
// AdmissionCheck: ni holds the node and the pods the agent runs already.
// Every failure is listed, in upstream's order: resources (the pod
// count, cpu, memory, ephemeral storage, then the others by name), node
// affinity and selector, node name, host ports. Extended resources the
// node does not know are not counted, so that cluster-level resources do
// not keep pods off nodes.
func AdmissionCheck(pod *v1.Pod, ni *NodeInfo) []AdmissionFailure {
	var out []AdmissionFailure
	req := PodRequests(pod)
	for name := range req {
		if _, known := ni.allocatable[name]; !known && IsExtendedResource(name) {
			delete(req, name)
		}
	}
	f := newFitRequest(req)
	for _, r := range f.insufficient(ni) {
		out = append(out, AdmissionFailure{Insufficient: &r})
	}
	if !requiredNodeAffinity(pod, ni.Node) {
		out = append(out, AdmissionFailure{Filter: FilterNodeAffinity, Reason: MsgNodeAffinity})
	}
	if pod.Spec.NodeName != "" && pod.Spec.NodeName != ni.Node.Name {
		out = append(out, AdmissionFailure{Filter: FilterNodeName, Reason: MsgNodeName})
	}
	if !filterPorts(pod, ni).OK() {
		out = append(out, AdmissionFailure{Filter: FilterNodePorts, Reason: MsgNodePorts})
	}
	return out
}

// IsExtendedResource: a resource name with a domain outside
// kubernetes.io, not a quota "requests." name.
func IsExtendedResource(name v1.ResourceName) bool {
	s := string(name)
	return strings.Contains(s, "/") && !strings.Contains(s, "kubernetes.io/") && !strings.HasPrefix(s, v1.DefaultResourceRequestsPrefix)
}
