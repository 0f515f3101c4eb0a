package defaults

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestPodQOSClass(t *testing.T) {
	res := func(req, lim corev1.ResourceList) corev1.ResourceRequirements {
		return corev1.ResourceRequirements{Requests: req, Limits: lim}
	}
	guaranteed := res(rl("cpu", "1", "memory", "1Gi"), rl("cpu", "1", "memory", "1Gi"))
	tests := []struct {
		name      string
		pod       corev1.PodSpec
		defaulted bool // run Apply first, as the API server does
		want      corev1.PodQOSClass
	}{
		{name: "no resources", pod: corev1.PodSpec{Containers: []corev1.Container{{}}}, want: corev1.PodQOSBestEffort},
		{name: "no containers", want: corev1.PodQOSBestEffort},
		{name: "only other resources", pod: corev1.PodSpec{Containers: []corev1.Container{{Resources: res(rl("ephemeral-storage", "1Gi"), nil)}}}, want: corev1.PodQOSBestEffort},
		{name: "equal requests and limits", pod: corev1.PodSpec{Containers: []corev1.Container{{Resources: guaranteed}}}, want: corev1.PodQOSGuaranteed},
		{name: "limits only, defaulted", pod: corev1.PodSpec{Containers: []corev1.Container{{Resources: res(nil, rl("cpu", "1", "memory", "1Gi"))}}}, defaulted: true, want: corev1.PodQOSGuaranteed},
		{name: "requests only", pod: corev1.PodSpec{Containers: []corev1.Container{{Resources: res(rl("cpu", "100m"), nil)}}}, want: corev1.PodQOSBurstable},
		{name: "memory limit missing", pod: corev1.PodSpec{Containers: []corev1.Container{{Resources: res(rl("cpu", "1"), rl("cpu", "1"))}}}, want: corev1.PodQOSBurstable},
		{name: "request below limit", pod: corev1.PodSpec{Containers: []corev1.Container{{Resources: res(rl("cpu", "1", "memory", "1Gi"), rl("cpu", "2", "memory", "1Gi"))}}}, want: corev1.PodQOSBurstable},
		{name: "one guaranteed one best effort", pod: corev1.PodSpec{Containers: []corev1.Container{{Resources: guaranteed}, {}}}, want: corev1.PodQOSBurstable},
		{name: "init container counts", pod: corev1.PodSpec{InitContainers: []corev1.Container{{Resources: res(rl("memory", "1Mi"), nil)}}, Containers: []corev1.Container{{}}}, want: corev1.PodQOSBurstable},
		{name: "all guaranteed", pod: corev1.PodSpec{InitContainers: []corev1.Container{{Resources: guaranteed}}, Containers: []corev1.Container{{Resources: guaranteed}}}, want: corev1.PodQOSGuaranteed},
		{name: "pod-level guaranteed", pod: corev1.PodSpec{Resources: &guaranteed, Containers: []corev1.Container{{Resources: res(rl("cpu", "100m"), nil)}}}, want: corev1.PodQOSGuaranteed},
		{name: "pod-level requests only", pod: corev1.PodSpec{Resources: &corev1.ResourceRequirements{Requests: rl("cpu", "1")}, Containers: []corev1.Container{{Resources: guaranteed}}}, want: corev1.PodQOSBurstable},
		{name: "equal but differently written", pod: corev1.PodSpec{Containers: []corev1.Container{{Resources: res(rl("cpu", "1000m", "memory", "1Gi"), rl("cpu", "1", "memory", "1024Mi"))}}}, want: corev1.PodQOSGuaranteed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &corev1.Pod{Spec: *tt.pod.DeepCopy()}
			if tt.defaulted {
				Apply(p)
			}
			if got := PodQOSClass(p); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
	if PodQOSClass(nil) != corev1.PodQOSBestEffort {
		t.Error("nil pod")
	}
}
