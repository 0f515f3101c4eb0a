package agent

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Extended resources others put in the Node's status survive the agent's
// status updates; what the agent measures is its own.
func TestKeepExtendedResources(t *testing.T) {
	cur := corev1.NodeStatus{
		Capacity: corev1.ResourceList{
			corev1.ResourceCPU:     resource.MustParse("64"),
			"example.com/fakecpu":  resource.MustParse("1000"),
			"kubernetes.io/foo":    resource.MustParse("1"),
			"requests.example.com": resource.MustParse("1"),
		},
		Allocatable: corev1.ResourceList{"example.com/fakecpu": resource.MustParse("900")},
	}
	fresh := corev1.NodeStatus{Capacity: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")}}
	keepExtendedResources(&fresh, &cur)
	if q := fresh.Capacity[corev1.ResourceCPU]; q.String() != "2" {
		t.Errorf("cpu %s, want the agent's 2", q.String())
	}
	if q := fresh.Capacity["example.com/fakecpu"]; q.Value() != 1000 {
		t.Errorf("capacity example.com/fakecpu %s, want 1000", q.String())
	}
	if q := fresh.Allocatable["example.com/fakecpu"]; q.Value() != 900 {
		t.Errorf("allocatable example.com/fakecpu %s, want 900", q.String())
	}
	for _, name := range []corev1.ResourceName{"kubernetes.io/foo", "requests.example.com"} {
		if _, ok := fresh.Capacity[name]; ok {
			t.Errorf("%s is not an extended resource but was kept", name)
		}
	}
}
