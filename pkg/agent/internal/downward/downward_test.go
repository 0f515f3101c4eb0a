package downward

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func TestResourceValueDefaultsLimitsToAllocatable(t *testing.T) {
	alloc := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("2"),
		corev1.ResourceMemory: resource.MustParse("24Gi"),
	}
	limited := &corev1.Container{Resources: corev1.ResourceRequirements{
		Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1250m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("32Mi")},
	}}
	unlimited := &corev1.Container{}
	for _, tc := range []struct {
		c        *corev1.Container
		resource string
		divisor  string
		want     string
	}{
		{limited, "limits.cpu", "", "2"}, // 1.25 rounded up
		{limited, "limits.cpu", "1m", "1250"},
		{limited, "requests.cpu", "", "1"},
		{limited, "limits.memory", "1Mi", "64"},
		{limited, "requests.memory", "", "33554432"},
		{unlimited, "limits.cpu", "", "2"},
		{unlimited, "limits.memory", "1Gi", "24"},
		{unlimited, "requests.memory", "", "0"},
	} {
		ref := &corev1.ResourceFieldSelector{Resource: tc.resource}
		if tc.divisor != "" {
			ref.Divisor = resource.MustParse(tc.divisor)
		}
		got, _, err := ResourceValue(tc.c, ref, alloc)
		if err != nil || got != tc.want {
			t.Errorf("%s (divisor %q) = %q, %v; want %q", tc.resource, tc.divisor, got, err, tc.want)
		}
	}
}

func TestFiles(t *testing.T) {
	pod := &corev1.Pod{
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("32Mi")},
		}}}},
		Status: corev1.PodStatus{PodIP: "10.42.0.3"},
	}
	pod.Name, pod.Labels = "web", map[string]string{"b": "2", "a": "1"}
	alloc := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4")}
	got, err := Files(pod, []corev1.DownwardAPIVolumeFile{
		{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}},
		{Path: "name", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}},
		{Path: "label-a", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels['a']"}},
		{Path: "ip", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}},
		{Path: "cpu-limit", ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.cpu"}},
		{Path: "mem-request", ResourceFieldRef: &corev1.ResourceFieldSelector{ContainerName: "app", Resource: "requests.memory", Divisor: resource.MustParse("1Mi")}},
	}, alloc)
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{"labels": "a=\"1\"\nb=\"2\"", "name": "web", "label-a": "1", "ip": "10.42.0.3", "cpu-limit": "4", "mem-request": "32"} {
		if string(got[path]) != want {
			t.Errorf("%s = %q, want %q", path, got[path], want)
		}
	}
	if _, err := Files(pod, []corev1.DownwardAPIVolumeFile{{Path: "x", ResourceFieldRef: &corev1.ResourceFieldSelector{ContainerName: "nope", Resource: "limits.cpu"}}}, alloc); err == nil {
		t.Error("a missing container was accepted")
	}
}
