package scheduler

import (
	"fmt"
	"slices"
	"strconv"

	v1 "k8s.io/api/core/v1"

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

// NodeMatches reports whether node satisfies sel: any one of its terms,
// each term being the AND of its expressions and fields. A nil selector
// matches every node; one without terms, or an empty term, matches none.
func NodeMatches(sel *v1.NodeSelector, node *v1.Node) bool {
	if sel == nil {
		return true
	}
	for i := range sel.NodeSelectorTerms {
		if termMatches(&sel.NodeSelectorTerms[i], node) {
			return true
		}
	}
	return false
}

func termMatches(t *v1.NodeSelectorTerm, node *v1.Node) bool {
	if len(t.MatchExpressions) == 0 && len(t.MatchFields) == 0 {
		return false
	}
	for _, r := range t.MatchExpressions {
		v, ok := node.Labels[r.Key]
		if !requirementMatches(r, v, ok) {
			return false
		}
	}
	for _, r := range t.MatchFields {
		if r.Key != "metadata.name" || (r.Operator != v1.NodeSelectorOpIn && r.Operator != v1.NodeSelectorOpNotIn) {
			return false // the only field selectable, with these operators
		}
		if !requirementMatches(r, node.Name, true) {
			return false
		}
	}
	return true
}

// requirementMatches applies one requirement to a value (present or not).
func requirementMatches(r v1.NodeSelectorRequirement, value string, present bool) bool {
	switch r.Operator {
	case v1.NodeSelectorOpIn:
		return present && slices.Contains(r.Values, value)
	case v1.NodeSelectorOpNotIn:
		return !present || !slices.Contains(r.Values, value)
	case v1.NodeSelectorOpExists:
		return present
	case v1.NodeSelectorOpDoesNotExist:
		return !present
	case v1.NodeSelectorOpGt, v1.NodeSelectorOpLt:
		if !present || len(r.Values) != 1 {
			return false
		}
		have, err1 := strconv.ParseInt(value, 10, 64)
		want, err2 := strconv.ParseInt(r.Values[0], 10, 64)
		if err1 != nil || err2 != nil {
			return false
		}
		if r.Operator == v1.NodeSelectorOpGt {
			return have > want
		}
		return have < want
	}
	return false
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
	pod       *v1.Pod
	execution *v1.NodeSelector // the required-during-execution annotation
	broken    bool             // the annotation does not parse: no node fits
}

func newNodeRequirements(pod *v1.Pod) nodeRequirements {
	sel, err := RequiredDuringExecution(pod)
	return nodeRequirements{pod: pod, execution: sel, broken: err != nil}
}

func (r *nodeRequirements) matches(node *v1.Node) bool {
	pod := r.pod
	for k, v := range pod.Spec.NodeSelector {
		if have, ok := node.Labels[k]; !ok || have != v {
			return false
		}
	}
	if a := pod.Spec.Affinity; a != nil && a.NodeAffinity != nil {
		if sel := a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution; sel != nil && !NodeMatches(sel, node) {
			return false
		}
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

// preferredNodeAffinity sums the weights of the preferred terms node
// matches.
func preferredNodeAffinity(pod *v1.Pod, node *v1.Node) int64 {
	a := pod.Spec.Affinity
	if a == nil || a.NodeAffinity == nil {
		return 0
	}
	var sum int64
	for _, t := range a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution {
		if t.Weight != 0 && termMatches(&t.Preference, node) {
			sum += int64(t.Weight)
		}
	}
	return sum
}
