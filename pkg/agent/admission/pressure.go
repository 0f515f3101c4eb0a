package admission

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"

	"github.com/flotilla-io/flotilla/pkg/defaults"
)

// ReasonEvicted is the reason of a pod refused for the node's pressure,
// upstream's eviction manager's.
const ReasonEvicted = "Evicted"

// systemCriticalPriority is upstream's lowest system-critical priority.
const systemCriticalPriority = 2_000_000_000

// checkPressure refuses pods while the node reports pressure, as the
// kubelet's eviction manager admits: under memory pressure alone only
// BestEffort pods are refused (unless they tolerate the memory-pressure
// taint), under disk or pid pressure every pod; critical pods (static,
// or system-critical priority) always pass.
func checkPressure(pod *corev1.Pod, node *corev1.Node) (Result, bool) {
	var under []corev1.NodeConditionType
	for _, c := range node.Status.Conditions {
		switch c.Type {
		case corev1.NodeMemoryPressure, corev1.NodeDiskPressure, corev1.NodePIDPressure:
			if c.Status == corev1.ConditionTrue {
				under = append(under, c.Type)
			}
		}
	}
	if len(under) == 0 || isStatic(pod) || (pod.Spec.Priority != nil && *pod.Spec.Priority >= systemCriticalPriority) {
		return Result{}, false
	}
	if len(under) == 1 && under[0] == corev1.NodeMemoryPressure {
		taint := corev1.Taint{Key: corev1.TaintNodeMemoryPressure, Effect: corev1.TaintEffectNoSchedule}
		if defaults.PodQOSClass(pod) != corev1.PodQOSBestEffort || tolerates(pod.Spec.Tolerations, &taint) {
			return Result{}, false
		}
	}
	return Result{Reason: ReasonEvicted, Message: fmt.Sprintf("The node had condition: %v. ", under)}, true
}

func tolerates(tols []corev1.Toleration, taint *corev1.Taint) bool {
	for i := range tols {
		if tols[i].ToleratesTaint(klog.Background(), taint, false) {
			return true
		}
	}
	return false
}
