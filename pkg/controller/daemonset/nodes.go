package daemonset

import (
	"slices"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
)

// Taints upstream's DaemonSet pods tolerate by default.
const (
	taintNotReady           = "node.kubernetes.io/not-ready"
	taintUnreachable        = "node.kubernetes.io/unreachable"
	taintDiskPressure       = "node.kubernetes.io/disk-pressure"
	taintMemoryPressure     = "node.kubernetes.io/memory-pressure"
	taintPIDPressure        = "node.kubernetes.io/pid-pressure"
	taintUnschedulable      = "node.kubernetes.io/unschedulable"
	taintNetworkUnavailable = "node.kubernetes.io/network-unavailable"
	nodeNameField           = "metadata.name"
)

// defaultTolerations are the tolerations every daemon pod gets.
func defaultTolerations(hostNetwork bool) []corev1.Toleration {
	exists := func(key string, effect corev1.TaintEffect) corev1.Toleration {
		return corev1.Toleration{Key: key, Operator: corev1.TolerationOpExists, Effect: effect}
	}
	t := []corev1.Toleration{
		exists(taintNotReady, corev1.TaintEffectNoExecute),
		exists(taintUnreachable, corev1.TaintEffectNoExecute),
		exists(taintDiskPressure, corev1.TaintEffectNoSchedule),
		exists(taintMemoryPressure, corev1.TaintEffectNoSchedule),
		exists(taintPIDPressure, corev1.TaintEffectNoSchedule),
		exists(taintUnschedulable, corev1.TaintEffectNoSchedule),
	}
	if hostNetwork {
		t = append(t, exists(taintNetworkUnavailable, corev1.TaintEffectNoSchedule))
	}
	return t
}

// withDefaultTolerations adds to spec the default tolerations it does not
// already have (same key, operator and effect); a toleration the user
// wrote with tolerationSeconds is kept as written.
func withDefaultTolerations(spec *corev1.PodSpec) {
	for _, d := range defaultTolerations(spec.HostNetwork) {
		found := false
		for _, t := range spec.Tolerations {
			if t.Key == d.Key && t.Effect == d.Effect && (t.Operator == d.Operator || (t.Operator == "" && d.Operator == corev1.TolerationOpEqual)) {
				found = true
				break
			}
		}
		if !found {
			spec.Tolerations = append(spec.Tolerations, d)
		}
	}
}

// tolerates reports whether t tolerates taint (operators Exists and Equal).
func tolerates(t *corev1.Toleration, taint *corev1.Taint) bool {
	if t.Effect != "" && t.Effect != taint.Effect {
		return false
	}
	if t.Key != "" && t.Key != taint.Key {
		return false
	}
	switch t.Operator {
	case corev1.TolerationOpExists:
		return true
	case corev1.TolerationOpEqual, "":
		return t.Value == taint.Value
	}
	return false
}

// untolerated returns the first taint with one of effects no toleration
// tolerates.
func untolerated(taints []corev1.Taint, tolerations []corev1.Toleration, effects ...corev1.TaintEffect) (*corev1.Taint, bool) {
	for i := range taints {
		taint := &taints[i]
		relevant := false
		for _, e := range effects {
			relevant = relevant || taint.Effect == e
		}
		if !relevant {
			continue
		}
		ok := false
		for j := range tolerations {
			if tolerates(&tolerations[j], taint) {
				ok = true
				break
			}
		}
		if !ok {
			return taint, true
		}
	}
	return nil, false
}

// shouldRun decides for one node whether the DaemonSet should start a pod
// there (run) and whether a pod already there may stay (keep).
func shouldRun(node *corev1.Node, ds *appsv1.DaemonSet) (run, keep bool) {
	spec := ds.Spec.Template.Spec.DeepCopy()
	withDefaultTolerations(spec)
	if spec.NodeName != "" && spec.NodeName != node.Name {
		return false, false
	}
	if !matchesNodeSelector(spec, node) {
		return false, false
	}
	if _, bad := untolerated(node.Spec.Taints, spec.Tolerations, corev1.TaintEffectNoSchedule, corev1.TaintEffectNoExecute); bad {
		_, noExec := untolerated(node.Spec.Taints, spec.Tolerations, corev1.TaintEffectNoExecute)
		return false, !noExec
	}
	return true, true
}

// matchesNodeSelector checks spec.nodeSelector and the required node
// affinity (terms ORed, requirements within a term ANDed).
func matchesNodeSelector(spec *corev1.PodSpec, node *corev1.Node) bool {
	if len(spec.NodeSelector) > 0 && !labels.SelectorFromSet(spec.NodeSelector).Matches(labels.Set(node.Labels)) {
		return false
	}
	a := spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return true
	}
	for _, term := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		if termMatches(&term, node) {
			return true
		}
	}
	return false
}

var nodeSelectorOps = map[corev1.NodeSelectorOperator]selection.Operator{
	corev1.NodeSelectorOpIn: selection.In, corev1.NodeSelectorOpNotIn: selection.NotIn,
	corev1.NodeSelectorOpExists: selection.Exists, corev1.NodeSelectorOpDoesNotExist: selection.DoesNotExist,
	corev1.NodeSelectorOpGt: selection.GreaterThan, corev1.NodeSelectorOpLt: selection.LessThan,
}

// termMatches evaluates one node selector term; an empty term matches
// nothing, as upstream.
func termMatches(term *corev1.NodeSelectorTerm, node *corev1.Node) bool {
	if len(term.MatchExpressions) == 0 && len(term.MatchFields) == 0 {
		return false
	}
	match := func(reqs []corev1.NodeSelectorRequirement, set labels.Set) bool {
		for _, r := range reqs {
			op, ok := nodeSelectorOps[r.Operator]
			if !ok {
				return false
			}
			req, err := labels.NewRequirement(r.Key, op, r.Values)
			if err != nil || !req.Matches(set) {
				return false
			}
		}
		return true
	}
	for _, f := range term.MatchFields {
		// Node names may exceed label value limits: compared directly.
		in := slices.Contains(f.Values, node.Name)
		switch {
		case f.Key != nodeNameField:
			return false
		case f.Operator == corev1.NodeSelectorOpIn && !in, f.Operator == corev1.NodeSelectorOpNotIn && in:
			return false
		case f.Operator != corev1.NodeSelectorOpIn && f.Operator != corev1.NodeSelectorOpNotIn:
			return false
		}
	}
	return match(term.MatchExpressions, node.Labels)
}

// pinToNode replaces the matchFields of every required node affinity term
// (adding a term if there is none) with metadata.name In [node], keeping
// the terms' label expressions.
func pinToNode(spec *corev1.PodSpec, node string) {
	pin := []corev1.NodeSelectorRequirement{{Key: nodeNameField, Operator: corev1.NodeSelectorOpIn, Values: []string{node}}}
	if spec.Affinity == nil {
		spec.Affinity = &corev1.Affinity{}
	}
	if spec.Affinity.NodeAffinity == nil {
		spec.Affinity.NodeAffinity = &corev1.NodeAffinity{}
	}
	na := spec.Affinity.NodeAffinity
	if na.RequiredDuringSchedulingIgnoredDuringExecution == nil || len(na.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms) == 0 {
		na.RequiredDuringSchedulingIgnoredDuringExecution = &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchFields: pin}}}
		return
	}
	terms := na.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
	for i := range terms {
		terms[i].MatchFields = pin
	}
}

// targetNode is the node a daemon pod is for: its nodeName once bound,
// before that the single node its affinity pins it to.
func targetNode(pod *corev1.Pod) string {
	if pod.Spec.NodeName != "" {
		return pod.Spec.NodeName
	}
	a := pod.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return ""
	}
	for _, term := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		for _, f := range term.MatchFields {
			if f.Key == nodeNameField && f.Operator == corev1.NodeSelectorOpIn && len(f.Values) == 1 {
				return f.Values[0]
			}
		}
	}
	return ""
}

// sortPods orders a node's daemon pods as upstream: bound before unbound,
// then oldest first, then by name.
func sortPods(pods []*corev1.Pod) {
	sort.SliceStable(pods, func(i, j int) bool {
		a, b := pods[i], pods[j]
		if (a.Spec.NodeName == "") != (b.Spec.NodeName == "") {
			return a.Spec.NodeName != ""
		}
		if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
			return a.CreationTimestamp.Before(&b.CreationTimestamp)
		}
		return strings.Compare(a.Name, b.Name) < 0
	})
}
