package podutil

import (
	"time"

	corev1 "k8s.io/api/core/v1"
)

// GetPodCondition finds the first condition of type t in status and
// returns its index and a pointer into status.Conditions, so a caller
// holding a copy of the pod may change it in place; -1 and nil when there
// is none.
func GetPodCondition(status *corev1.PodStatus, t corev1.PodConditionType) (int, *corev1.PodCondition) {
	if status == nil {
		return -1, nil
	}
	for i := range status.Conditions {
		if status.Conditions[i].Type == t {
			return i, &status.Conditions[i]
		}
	}
	return -1, nil
}

// GetPodReadyCondition is the pod's Ready condition, nil when it has none.
// Only the first Ready condition counts, as upstream.
func GetPodReadyCondition(pod *corev1.Pod) *corev1.PodCondition {
	_, c := GetPodCondition(&pod.Status, corev1.PodReady)
	return c
}

// IsPodReady reports whether the pod's Ready condition is True. A pod
// without one is not ready.
func IsPodReady(pod *corev1.Pod) bool {
	c := GetPodReadyCondition(pod)
	return c != nil && c.Status == corev1.ConditionTrue
}

// IsPodAvailable reports whether the pod is ready and has been for more
// than minReadySeconds at now, judged by the Ready condition's
// lastTransitionTime. With minReadySeconds 0 every ready pod is
// available; otherwise a ready pod whose transition time is unknown is
// not, since nothing shows how long it has been ready.
func IsPodAvailable(pod *corev1.Pod, minReadySeconds int32, now time.Time) bool {
	c := GetPodReadyCondition(pod)
	if c == nil || c.Status != corev1.ConditionTrue {
		return false
	}
	if minReadySeconds == 0 {
		return true
	}
	return !c.LastTransitionTime.IsZero() &&
		c.LastTransitionTime.Add(time.Duration(minReadySeconds)*time.Second).Before(now)
}

// IsPodPhaseTerminal reports whether phase is one a pod never leaves:
// Succeeded or Failed.
func IsPodPhaseTerminal(phase corev1.PodPhase) bool {
	return phase == corev1.PodSucceeded || phase == corev1.PodFailed
}

// IsPodTerminal reports whether the pod has finished: every container
// stopped for good, its phase Succeeded or Failed.
func IsPodTerminal(pod *corev1.Pod) bool { return IsPodPhaseTerminal(pod.Status.Phase) }

// IsPodActive reports whether the pod still counts as a replica of its
// owner: neither finished nor being deleted (upstream's controller
// IsPodActive).
func IsPodActive(pod *corev1.Pod) bool { return !IsPodTerminal(pod) && pod.DeletionTimestamp == nil }
