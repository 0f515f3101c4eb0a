package scheduler

import (
	"slices"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func TestFilterResources(t *testing.T) {
	gpuNode := node("n", nil, "2", "4Gi")
	gpuNode.Status.Allocatable["nvidia.com/gpu"] = resource.MustParse("1")
	twoPods := node("n", nil, "2", "4Gi")
	twoPods.Status.Allocatable[v1.ResourcePods] = resource.MustParse("2")
	gpuPod := func(n string) *v1.Pod {
		p := pod("p", "100m", "")
		p.Spec.Containers[0].Resources.Requests["nvidia.com/gpu"] = resource.MustParse(n)
		return p
	}
	storagePod := pod("p", "", "")
	storagePod.Spec.Containers[0].Resources.Requests[v1.ResourceEphemeralStorage] = resource.MustParse("1Gi")
	cases := []struct {
		name     string
		node     *v1.Node
		existing []*v1.Pod
		pod      *v1.Pod
		want     []string
	}{
		{name: "fits", node: node("n", nil, "2", "4Gi"), existing: []*v1.Pod{pod("e", "1", "1Gi")}, pod: pod("p", "1", "3Gi")},
		{name: "cpu short", node: node("n", nil, "2", "4Gi"), existing: []*v1.Pod{pod("e", "1500m", "")}, pod: pod("p", "600m", ""), want: []string{"Insufficient cpu"}},
		{name: "cpu and memory short", node: node("n", nil, "2", "4Gi"), existing: []*v1.Pod{pod("e", "2", "4Gi")}, pod: pod("p", "1", "1Gi"), want: []string{"Insufficient cpu", "Insufficient memory"}},
		{name: "no requests fit an overcommitted node", node: node("n", nil, "1", "1Gi"), existing: []*v1.Pod{pod("e", "2", "2Gi")}, pod: pod("p", "", "")},
		{name: "too many pods", node: twoPods, existing: []*v1.Pod{pod("a", "", ""), pod("b", "", "")}, pod: pod("p", "", ""), want: []string{"Too many pods"}},
		{name: "gpu fits", node: gpuNode, pod: gpuPod("1")},
		{name: "gpu short", node: gpuNode, existing: []*v1.Pod{gpuPod("1")}, pod: gpuPod("1"), want: []string{"Insufficient nvidia.com/gpu"}},
		{name: "gpu absent", node: node("n", nil, "2", "4Gi"), pod: gpuPod("1"), want: []string{"Insufficient nvidia.com/gpu"}},
		{name: "ephemeral storage absent", node: node("n", nil, "2", "4Gi"), pod: storagePod, want: []string{"Insufficient ephemeral-storage"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, e := range tc.existing {
				on(e, "n")
			}
			st := filterResources(PodRequests(tc.pod), NewNodeInfo(tc.node, tc.existing...))
			if got := reasons(st); !slices.Equal(got, tc.want) {
				t.Fatalf("reasons %q, want %q", got, tc.want)
			}
			if !st.OK() && st.Code != Unschedulable {
				t.Fatal("resource shortage must be resolvable by preemption")
			}
		})
	}
}

func TestResourceScores(t *testing.T) {
	empty := NewNodeInfo(node("empty", nil, "4", "8Gi"))
	busy := NewNodeInfo(node("busy", nil, "4", "8Gi"), on(pod("e", "3", "2Gi"), "busy"))
	req := nonZeroRequests(pod("p", "1", "2Gi"))
	if le, lb := leastAllocated(req, empty), leastAllocated(req, busy); le <= lb {
		t.Fatalf("least allocated: empty %d should beat busy %d", le, lb)
	}
	if got := leastAllocated(req, empty); got != 75 {
		t.Fatalf("least allocated on empty = %d, want 75", got)
	}
	// balanced: on empty the pod uses 25% cpu and 25% memory; on busy 100% cpu, 50% memory.
	if be, bb := balancedAllocation(req, empty), balancedAllocation(req, busy); be != 100 || bb != 75 {
		t.Fatalf("balanced: empty %d (want 100), busy %d (want 75)", be, bb)
	}
	over := NewNodeInfo(node("over", nil, "1", "1Gi"), on(pod("e", "2", "2Gi"), "over"))
	if got := leastAllocated(req, over); got != 0 {
		t.Fatalf("overcommitted node scores %d", got)
	}
}
