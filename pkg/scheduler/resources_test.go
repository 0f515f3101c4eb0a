package scheduler

import (
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func container(cpu string, sidecar bool) v1.Container {
	c := v1.Container{Name: "c", Resources: v1.ResourceRequirements{Requests: v1.ResourceList{v1.ResourceCPU: resource.MustParse(cpu)}}}
	if sidecar {
		always := v1.ContainerRestartPolicyAlways
		c.RestartPolicy = &always
	}
	return c
}

func TestPodRequests(t *testing.T) {
	cases := []struct {
		name         string
		init, app    []v1.Container
		overhead     string
		podLevel     string
		wantMilliCPU int64
	}{
		{name: "app containers add up", app: []v1.Container{container("100m", false), container("200m", false)}, wantMilliCPU: 300},
		{name: "big init container wins", init: []v1.Container{container("1", false)}, app: []v1.Container{container("200m", false)}, wantMilliCPU: 1000},
		{name: "small init container loses", init: []v1.Container{container("100m", false)}, app: []v1.Container{container("200m", false)}, wantMilliCPU: 200},
		{name: "sidecar adds to app", init: []v1.Container{container("300m", true)}, app: []v1.Container{container("200m", false)}, wantMilliCPU: 500},
		{name: "init after sidecar runs alongside it", init: []v1.Container{container("300m", true), container("1", false)}, app: []v1.Container{container("100m", false)}, wantMilliCPU: 1300},
		{name: "init before sidecar runs alone", init: []v1.Container{container("1", false), container("300m", true)}, app: []v1.Container{container("100m", false)}, wantMilliCPU: 1000},
		{name: "overhead adds", app: []v1.Container{container("100m", false)}, overhead: "50m", wantMilliCPU: 150},
		{name: "pod-level requests replace", app: []v1.Container{container("100m", false)}, podLevel: "2", wantMilliCPU: 2000},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := &v1.Pod{Spec: v1.PodSpec{InitContainers: tc.init, Containers: tc.app}}
			if tc.overhead != "" {
				p.Spec.Overhead = v1.ResourceList{v1.ResourceCPU: resource.MustParse(tc.overhead)}
			}
			if tc.podLevel != "" {
				p.Spec.Resources = &v1.ResourceRequirements{Requests: v1.ResourceList{v1.ResourceCPU: resource.MustParse(tc.podLevel)}}
			}
			if got := PodRequests(p)[v1.ResourceCPU]; got != tc.wantMilliCPU {
				t.Fatalf("cpu = %dm, want %dm", got, tc.wantMilliCPU)
			}
		})
	}
}

func TestNonZeroRequests(t *testing.T) {
	got := nonZeroRequests(pod("p", "", ""))
	if got[v1.ResourceCPU] != defaultMilliCPURequest || got[v1.ResourceMemory] != defaultMemoryRequest {
		t.Fatalf("defaults not applied: %v", got)
	}
	got = nonZeroRequests(pod("p", "1", ""))
	if got[v1.ResourceCPU] != 1000 || got[v1.ResourceMemory] != defaultMemoryRequest {
		t.Fatalf("explicit request overridden: %v", got)
	}
}

func TestNodeInfoSkipsTerminalPods(t *testing.T) {
	done := on(pod("done", "1", ""), "n")
	done.Status.Phase = v1.PodSucceeded
	ni := NewNodeInfo(node("n", nil, "2", "1Gi"), on(pod("run", "500m", ""), "n"), done)
	if len(ni.Pods) != 1 || ni.Requested[v1.ResourceCPU] != 500 {
		t.Fatalf("pods=%d requested=%v", len(ni.Pods), ni.Requested)
	}
}
