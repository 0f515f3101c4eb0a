package scheduler

import (
	"fmt"
	"math/rand/v2"
	"testing"

	v1 "k8s.io/api/core/v1"
)

func TestSchedule(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	tainted := node("tainted", labelsOf("zone", "a"), "4", "8Gi")
	tainted.Spec.Taints = []v1.Taint{{Key: "k", Effect: v1.TaintEffectPreferNoSchedule}}
	cases := []struct {
		name  string
		nodes []*v1.Node
		pods  []*v1.Pod
		pod   *v1.Pod
		want  string
		err   string
	}{
		{name: "emptier node wins", nodes: []*v1.Node{node("busy", nil, "4", "8Gi"), node("idle", nil, "4", "8Gi")},
			pods: []*v1.Pod{on(pod("e", "3", "6Gi"), "busy")}, pod: pod("p", "500m", "1Gi"), want: "idle"},
		{name: "PreferNoSchedule avoided", nodes: []*v1.Node{tainted, node("clean", labelsOf("zone", "a"), "4", "8Gi")}, pod: pod("p", "", ""), want: "clean"},
		{name: "only fitting node", nodes: []*v1.Node{node("small", nil, "1", "1Gi"), node("large", nil, "8", "8Gi")}, pod: pod("p", "4", ""), want: "large"},
		{name: "nothing fits", nodes: []*v1.Node{node("small", nil, "1", "1Gi"), node("other", labelsOf("x", "y"), "1", "1Gi")}, pod: pod("p", "4", ""),
			err: "0/2 nodes are available: 2 Insufficient cpu."},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, fitErr := schedule(tc.pod, NewSnapshot(tc.nodes, tc.pods), rnd)
			if tc.err != "" {
				if fitErr == nil || fitErr.Error() != tc.err {
					t.Fatalf("err %v, want %q", fitErr, tc.err)
				}
				return
			}
			if fitErr != nil || got != tc.want {
				t.Fatalf("got %q (%v), want %q", got, fitErr, tc.want)
			}
		})
	}
}

func TestSelectHostBreaksTiesRandomly(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 4))
	nodes := []*NodeInfo{NewNodeInfo(node("a", nil, "1", "1Gi")), NewNodeInfo(node("b", nil, "1", "1Gi")), NewNodeInfo(node("c", nil, "1", "1Gi"))}
	seen := map[string]int{}
	for range 300 {
		seen[selectHost(nodes, []int64{5, 7, 7}, rnd)]++
	}
	if seen["a"] != 0 || seen["b"] < 100 || seen["c"] < 100 {
		t.Fatalf("picks %v", seen)
	}
}

func TestFilterOrderStopsAtFirstFailure(t *testing.T) {
	n := node("n", nil, "1", "1Gi")
	n.Spec.Unschedulable = true
	n.Spec.Taints = []v1.Taint{{Key: "k", Effect: v1.TaintEffectNoSchedule}}
	_, failed := findFeasible(pod("p", "4", ""), NewSnapshot([]*v1.Node{n}, nil))
	if st := failed["n"]; len(st.Reasons) != 1 || st.Reasons[0] != msgUnschedulable {
		t.Fatalf("status %+v", st)
	}
}

func TestNumFeasibleNodesToFind(t *testing.T) {
	for n, want := range map[int]int{10: 10, 100: 100, 150: 100, 1000: 420, 5000: 500, 20000: 1000} {
		if got := numFeasibleNodesToFind(n); got != want {
			t.Errorf("%d nodes: %d, want %d", n, got, want)
		}
	}
}

func TestSamplingRoundRobinAndFullScanWhenNothingFits(t *testing.T) {
	var nodes []*v1.Node
	for i := range 300 {
		nodes = append(nodes, node(fmt.Sprintf("n%03d", i), nil, "4", "8Gi"))
	}
	snap := NewSnapshot(nodes, nil)
	a := &algorithm{rnd: rand.New(rand.NewPCG(5, 6))}
	if _, err := a.schedule(pod("p", "1", ""), snap); err != nil || a.nextStart != 144 { // 48% of 300
		t.Fatalf("first cycle: %v, next start %d", err, a.nextStart)
	}
	if _, err := a.schedule(pod("q", "1", ""), snap); err != nil || a.nextStart != 288 {
		t.Fatalf("second cycle: %v, next start %d", err, a.nextStart)
	}
	_, err := a.schedule(pod("big", "64", ""), snap)
	if err == nil || err.Error() != "0/300 nodes are available: 300 Insufficient cpu." || len(err.NodeStatus) != 300 {
		t.Fatalf("unschedulable: %v", err)
	}
}
