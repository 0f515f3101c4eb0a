package status

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flotilla-io/flotilla/pkg/defaults"
)

// rejectedPrefix starts the status message of a pod the node refused,
// as upstream's kubelet words it.
const rejectedPrefix = "Pod was rejected: "

// Rejected is the status of a pod the node refused to admit: Failed,
// with the reason and message of the refusal, and none of the conditions
// the agent owns (the pod never started).
func Rejected(pod *corev1.Pod, reason, message string) corev1.PodStatus {
	old := pod.Status
	st := corev1.PodStatus{
		Phase:     corev1.PodFailed,
		Reason:    reason,
		Message:   rejectedPrefix + message,
		QOSClass:  old.QOSClass,
		StartTime: old.StartTime,
	}
	if st.QOSClass == "" {
		st.QOSClass = defaults.PodQOSClass(pod)
	}
	if st.StartTime == nil {
		now := metav1.Now()
		st.StartTime = &now
	}
	for _, c := range old.Conditions {
		switch c.Type {
		case corev1.PodScheduled, corev1.PodReady, corev1.PodInitialized, corev1.ContainersReady, corev1.PodReadyToStartContainers:
		default:
			st.Conditions = append(st.Conditions, c)
		}
	}
	return st
}
