package scheduler

import (
	"slices"

	v1 "k8s.io/api/core/v1"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/klog/v2"
)

// Taint keys the node controllers set.
const (
	taintUnschedulable = "node.kubernetes.io/unschedulable"
	taintNotReady      = "node.kubernetes.io/not-ready"
	taintUnreachable   = "node.kubernetes.io/unreachable"
)

// tolerated reports whether any toleration covers taint, by the API
// type's own rule (Toleration.ToleratesTaint through component-helpers).
// The alpha Gt/Lt toleration operators stay off, as upstream leaves them
// by default.
func tolerated(tolerations []v1.Toleration, taint *v1.Taint) bool {
	return corev1helpers.TolerationsTolerateTaint(klog.Background(), tolerations, taint, false)
}

// UntoleratedTaint is the first taint with one of effects that no
// toleration covers (component-helpers' FindMatchingUntoleratedTaint).
func UntoleratedTaint(taints []v1.Taint, tolerations []v1.Toleration, effects ...v1.TaintEffect) (*v1.Taint, bool) {
	withEffect := func(t *v1.Taint) bool { return slices.Contains(effects, t.Effect) }
	t, bad := corev1helpers.FindMatchingUntoleratedTaint(klog.Background(), taints, tolerations, withEffect, false)
	if !bad {
		return nil, false
	}
	return &t, true
}

// filterTaints is the TaintToleration filter: NoSchedule and NoExecute
// taints keep out pods that do not tolerate them.
func filterTaints(pod *v1.Pod, ni *NodeInfo) *Status {
	if t, bad := UntoleratedTaint(ni.Node.Spec.Taints, pod.Spec.Tolerations, v1.TaintEffectNoSchedule, v1.TaintEffectNoExecute); bad {
		return unresolvable(msgTaint(t.Key, t.Value))
	}
	return nil
}

// filterUnschedulable is the NodeUnschedulable filter: a cordoned node
// takes only pods tolerating its unschedulable taint.
func filterUnschedulable(pod *v1.Pod, ni *NodeInfo) *Status {
	if !ni.Node.Spec.Unschedulable {
		return nil
	}
	if tolerated(pod.Spec.Tolerations, &v1.Taint{Key: taintUnschedulable, Effect: v1.TaintEffectNoSchedule}) {
		return nil
	}
	return unresolvable(msgUnschedulable)
}

// filterReady keeps pods off nodes whose Ready condition is not True,
// unless they tolerate the taint the lifecycle controller gives such
// nodes; it covers the moment before the taint is applied.
func filterReady(pod *v1.Pod, ni *NodeInfo) *Status {
	key := taintUnreachable
	for _, c := range ni.Node.Status.Conditions {
		if c.Type != v1.NodeReady {
			continue
		}
		switch c.Status {
		case v1.ConditionTrue:
			return nil
		case v1.ConditionFalse:
			key = taintNotReady
		}
	}
	if tolerated(pod.Spec.Tolerations, &v1.Taint{Key: key, Effect: v1.TaintEffectNoSchedule}) {
		return nil
	}
	return unresolvable(msgNotReady)
}

// intolerablePreferNoSchedule counts the PreferNoSchedule taints of node
// the pod does not tolerate (tolerations naming another effect do not
// count).
func intolerablePreferNoSchedule(pod *v1.Pod, node *v1.Node) int64 {
	var prefer []v1.Toleration
	for _, t := range pod.Spec.Tolerations {
		if t.Effect == "" || t.Effect == v1.TaintEffectPreferNoSchedule {
			prefer = append(prefer, t)
		}
	}
	var n int64
	for i := range node.Spec.Taints {
		t := &node.Spec.Taints[i]
		if t.Effect == v1.TaintEffectPreferNoSchedule && !tolerated(prefer, t) {
			n++
		}
	}
	return n
}
