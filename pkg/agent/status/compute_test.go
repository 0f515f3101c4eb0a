package status

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func terminated(code int32) corev1.ContainerStatus {
	return corev1.ContainerStatus{State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code}}}
}

func running() corev1.ContainerStatus {
	return corev1.ContainerStatus{State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}
}

func waiting() corev1.ContainerStatus {
	return corev1.ContainerStatus{State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}}
}

// The phase table of seed 004 / upstream.
func TestPodPhase(t *testing.T) {
	cases := []struct {
		name        string
		policy      corev1.RestartPolicy
		statuses    []corev1.ContainerStatus
		initialized bool
		want        corev1.PodPhase
	}{
		{"not initialized", corev1.RestartPolicyAlways, []corev1.ContainerStatus{waiting()}, false, corev1.PodPending},
		{"creating", corev1.RestartPolicyAlways, []corev1.ContainerStatus{waiting()}, true, corev1.PodPending},
		{"running", corev1.RestartPolicyAlways, []corev1.ContainerStatus{running(), terminated(0)}, true, corev1.PodRunning},
		{"never, all ok", corev1.RestartPolicyNever, []corev1.ContainerStatus{terminated(0), terminated(0)}, true, corev1.PodSucceeded},
		{"never, one failed", corev1.RestartPolicyNever, []corev1.ContainerStatus{terminated(0), terminated(1)}, true, corev1.PodFailed},
		{"onfailure, all ok", corev1.RestartPolicyOnFailure, []corev1.ContainerStatus{terminated(0)}, true, corev1.PodSucceeded},
		{"onfailure, failed restarts", corev1.RestartPolicyOnFailure, []corev1.ContainerStatus{terminated(1)}, true, corev1.PodRunning},
		{"always, exited restarts", corev1.RestartPolicyAlways, []corev1.ContainerStatus{terminated(0)}, true, corev1.PodRunning},
	}
	for _, c := range cases {
		pod := &corev1.Pod{Spec: corev1.PodSpec{RestartPolicy: c.policy}}
		st := &corev1.PodStatus{ContainerStatuses: c.statuses}
		if got := podPhase(pod, st, c.initialized); got != c.want {
			t.Errorf("%s: phase %s, want %s", c.name, got, c.want)
		}
	}
}
