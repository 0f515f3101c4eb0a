package status

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestRejectedStatus(t *testing.T) {
	start := metav1.Now()
	pod := &corev1.Pod{
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
		Status: corev1.PodStatus{
			Phase:     corev1.PodPending,
			StartTime: &start,
			Conditions: []corev1.PodCondition{
				{Type: corev1.PodScheduled, Status: corev1.ConditionTrue},
				{Type: corev1.PodReady, Status: corev1.ConditionFalse},
				{Type: "example.com/gate", Status: corev1.ConditionTrue},
			},
		},
	}
	st := Rejected(pod, "NodePorts", "Predicate NodePorts failed: node(s) didn't have free ports for the requested pod ports")
	if st.Phase != corev1.PodFailed || st.Reason != "NodePorts" ||
		st.Message != "Pod was rejected: Predicate NodePorts failed: node(s) didn't have free ports for the requested pod ports" {
		t.Fatalf("status %+v", st)
	}
	if st.QOSClass != corev1.PodQOSBestEffort || st.StartTime != &start {
		t.Fatalf("qos %q start %v", st.QOSClass, st.StartTime)
	}
	// The agent's own conditions go (the pod never started); others stay.
	if len(st.Conditions) != 1 || st.Conditions[0].Type != "example.com/gate" {
		t.Fatalf("conditions %+v", st.Conditions)
	}
	if len(st.ContainerStatuses) != 0 || st.PodIP != "" || st.HostIP != "" {
		t.Fatalf("a rejected pod reports no containers or addresses: %+v", st)
	}
	if st := Rejected(&corev1.Pod{}, "OutOfcpu", ""); st.StartTime == nil {
		t.Fatal("no start time")
	}
}
