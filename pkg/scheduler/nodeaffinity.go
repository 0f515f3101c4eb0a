package scheduler

import (
	"fmt"

	v1 "k8s.io/api/core/v1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"

	"github.com/flotilla-io/flotilla/pkg/extensions"
)

// RequiredDuringExecution is the pod's extension node selector (see
// package extensions); nil, nil when it has none.
func RequiredDuringExecution(pod *v1.Pod) (*v1.NodeSelector, error) {
	sel, err := extensions.RequiredDuringExecution(pod.Annotations)
	if err != nil {
		return nil, fmt.Errorf("pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	return sel, nil
}

// NodeMatches reports whether node satisfies sel, by component-helpers'
// node selector (upstream's): any one of its terms, each term being the
// AND of its expressions and fields. A nil selector matches every node;
// one without terms, an empty term or a term that does not parse matches
// none.
func NodeMatches(sel *v1.NodeSelector, node *v1.Node) bool {
	if sel == nil {
		return true
	}
	ok, _ := nodeaffinity.NewLazyErrorNodeSelector(sel).Match(node)
	return ok
}

// requiredNodeAffinity reports whether node satisfies everything the pod
// demands of its node: nodeSelector, required node affinity and the
// required-during-execution annotation, together.
func requiredNodeAffinity(pod *v1.Pod, node *v1.Node) bool {
	r := newNodeRequirements(pod)
	return r.matches(node)
}

// nodeRequirements is what a pod demands of its node, parsed once per
// scheduling cycle.
type nodeRequirements struct {
	required  nodeaffinity.RequiredNodeAffinity // nodeSelector and required node affinity
	execution *v1.NodeSelector                  // the required-during-execution annotation
	broken    bool                              // the annotation does not parse: no node fits
}

func newNodeRequirements(pod *v1.Pod) nodeRequirements {
	sel, err := RequiredDuringExecution(pod)
	return nodeRequirements{required: nodeaffinity.GetRequiredNodeAffinity(pod), execution: sel, broken: err != nil}
}

func (r *nodeRequirements) matches(node *v1.Node) bool {
	if ok, _ := r.required.Match(node); !ok {
		return false // a term that does not parse matches no node
	}
	if r.broken {
		return false // a pod with a broken requirement fits nowhere
	}
	return NodeMatches(r.execution, node)
}

// filterNodeAffinity is the NodeAffinity filter.
func filterNodeAffinity(pod *v1.Pod, ni *NodeInfo) *Status {
	if requiredNodeAffinity(pod, ni.Node) {
		return nil
	}
	return unresolvable(msgNodeAffinity)
}

// preferredNodeAffinity is the pod's preferred node affinity, parsed once
// per scheduling cycle; its Score sums the weights of the terms a node
// matches. Terms that do not parse count for nothing (validation refuses
// such a pod).
func preferredNodeAffinity(pod *v1.Pod) *nodeaffinity.PreferredSchedulingTerms {
	none := &nodeaffinity.PreferredSchedulingTerms{}
	a := pod.Spec.Affinity
	if a == nil || a.NodeAffinity == nil {
		return none
	}
	terms, err := nodeaffinity.NewPreferredSchedulingTerms(a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution)
	if err != nil {
		return none
	}
	return terms
}
