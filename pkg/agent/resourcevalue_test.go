package agent

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
		got, _, err := resourceValue(tc.c, ref, alloc)
		if err != nil || got != tc.want {
			t.Errorf("%s (divisor %q) = %q, %v; want %q", tc.resource, tc.divisor, got, err, tc.want)
		}
	}
}
