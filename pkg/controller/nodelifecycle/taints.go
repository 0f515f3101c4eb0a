package nodelifecycle

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"
)

// The taints this controller manages, as upstream's node lifecycle
// controller does.
var (
	UnreachableNoExecute  = corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute}
	UnreachableNoSchedule = corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoSchedule}
	NotReadyNoExecute     = corev1.Taint{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoExecute}
	NotReadyNoSchedule    = corev1.Taint{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoSchedule}
)

// The taints of the node's pressure conditions (upstream's
// TaintNodesByCondition): while a condition is True, new pods that do not
// tolerate its taint are not scheduled there.
var conditionTaints = map[corev1.NodeConditionType]corev1.Taint{
	corev1.NodeMemoryPressure: {Key: corev1.TaintNodeMemoryPressure, Effect: corev1.TaintEffectNoSchedule},
	corev1.NodeDiskPressure:   {Key: corev1.TaintNodeDiskPressure, Effect: corev1.TaintEffectNoSchedule},
	corev1.NodePIDPressure:    {Key: corev1.TaintNodePIDPressure, Effect: corev1.TaintEffectNoSchedule},
}

var managedTaints = []corev1.Taint{UnreachableNoExecute, UnreachableNoSchedule, NotReadyNoExecute, NotReadyNoSchedule,
	conditionTaints[corev1.NodeMemoryPressure], conditionTaints[corev1.NodeDiskPressure], conditionTaints[corev1.NodePIDPressure]}

// wantedTaints are the managed taints the node's conditions call for: its
// readiness's, and one for each pressure condition that is True.
func wantedTaints(node *corev1.Node) []corev1.Taint {
	want := readinessTaints(readyCondition(node))
	for _, c := range node.Status.Conditions {
		if t, ok := conditionTaints[c.Type]; ok && c.Status == corev1.ConditionTrue {
			want = append(want, t)
		}
	}
	return want
}

// readinessTaints are the managed taints a node with this Ready condition
// should carry: unreachable for Unknown, not-ready for False, nothing for
// True. A node that never reported Ready only gets not-ready:NoSchedule
// until the grace period turns its condition Unknown.
func readinessTaints(ready *corev1.NodeCondition) []corev1.Taint {
	switch {
	case ready == nil:
		return []corev1.Taint{NotReadyNoSchedule}
	case ready.Status == corev1.ConditionTrue:
		return nil
	case ready.Status == corev1.ConditionFalse:
		return []corev1.Taint{NotReadyNoExecute, NotReadyNoSchedule}
	default:
		return []corev1.Taint{UnreachableNoExecute, UnreachableNoSchedule}
	}
}

// reconcileTaints returns node's taints with the managed ones replaced by
// want, keeping the timeAdded of those already present, and whether that
// changes anything.
func reconcileTaints(have []corev1.Taint, want []corev1.Taint, now time.Time) ([]corev1.Taint, bool) {
	out := make([]corev1.Taint, 0, len(have)+len(want))
	changed := false
	for _, t := range have {
		if isManaged(&t) && !hasTaint(want, &t) {
			changed = true
			continue
		}
		out = append(out, t)
	}
	for _, w := range want {
		if hasTaint(out, &w) {
			continue
		}
		w.TimeAdded = nil
		if w.Effect == corev1.TaintEffectNoExecute {
			// Upstream stamps only NoExecute taints; the eviction
			// deadlines count from it.
			ts := metaTime(now)
			w.TimeAdded = &ts
		}
		out = append(out, w)
		changed = true
	}
	return out, changed
}

func isManaged(t *corev1.Taint) bool { return hasTaint(managedTaints, t) }

func hasTaint(list []corev1.Taint, t *corev1.Taint) bool {
	for i := range list {
		if list[i].MatchTaint(t) {
			return true
		}
	}
	return false
}

// noExecuteTaints filters taints down to the NoExecute ones.
func noExecuteTaints(taints []corev1.Taint) []corev1.Taint {
	var out []corev1.Taint
	for _, t := range taints {
		if t.Effect == corev1.TaintEffectNoExecute {
			out = append(out, t)
		}
	}
	return out
}

// EvictionTime decides when a pod with tolerations has to leave a node
// carrying taints (only the NoExecute ones count), as upstream's taint
// eviction controller does:
//
//   - a NoExecute taint no toleration tolerates evicts at once: evict is
//     true and at is the zero time;
//   - each tolerated taint whose (first) matching toleration sets
//     tolerationSeconds evicts tolerationSeconds after the taint's
//     timeAdded (after since when the taint carries no timeAdded), a
//     negative value counting as 0; the earliest such deadline wins;
//   - tolerations without tolerationSeconds tolerate for ever: when every
//     taint is tolerated so, evict is false.
func EvictionTime(taints []corev1.Taint, tolerations []corev1.Toleration, since time.Time) (at time.Time, evict bool) {
	for i := range taints {
		taint := &taints[i]
		if taint.Effect != corev1.TaintEffectNoExecute {
			continue
		}
		tol := matchingToleration(tolerations, taint)
		if tol == nil {
			return time.Time{}, true
		}
		if tol.TolerationSeconds == nil {
			continue
		}
		start := since
		if taint.TimeAdded != nil {
			start = taint.TimeAdded.Time
		}
		deadline := start.Add(time.Duration(max(*tol.TolerationSeconds, 0)) * time.Second)
		if !evict || deadline.Before(at) {
			at, evict = deadline, true
		}
	}
	return at, evict
}

// matchingToleration is the first toleration tolerating taint, nil if
// none does. The alpha Gt/Lt toleration operators stay off, as upstream
// leaves them by default.
func matchingToleration(tolerations []corev1.Toleration, taint *corev1.Taint) *corev1.Toleration {
	for i := range tolerations {
		if tolerations[i].ToleratesTaint(klog.Background(), taint, false) {
			return &tolerations[i]
		}
	}
	return nil
}
