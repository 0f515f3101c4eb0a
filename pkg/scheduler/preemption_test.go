package scheduler

import (
	"testing"

	v1 "k8s.io/api/core/v1"
)

func prioOf(p *v1.Pod) int32 {
	if p.Spec.Priority != nil {
		return *p.Spec.Priority
	}
	return 0
}

func TestFindPreemption(t *testing.T) {
	low1 := on(withPriority(pod("low1", "1", ""), 1), "n1")
	low2 := on(withPriority(pod("low2", "1", ""), 1), "n1")
	mid := on(withPriority(pod("mid", "2", ""), 5), "n2")
	high := on(withPriority(pod("high", "2", ""), 100), "n3")
	nodes := []*v1.Node{node("n1", nil, "2", "4Gi"), node("n2", nil, "2", "4Gi"), node("n3", nil, "2", "4Gi")}
	snap := NewSnapshot(nodes, []*v1.Pod{low1, low2, mid, high})
	preemptor := withPriority(pod("p", "1", ""), 10)
	_, failed := findFeasible(preemptor, snap)
	cand, statuses := findPreemption(preemptor, 10, snap, failed, prioOf)
	if cand == nil {
		t.Fatalf("no candidate: %v", statuses)
	}
	// n1 needs one priority-1 victim; n2 one priority-5 victim: n1 wins.
	if cand.node != "n1" || len(cand.victims) != 1 {
		t.Fatalf("candidate %s with %d victims", cand.node, len(cand.victims))
	}

	// Nobody lower: no victims anywhere; unresolvable nodes are not helped.
	lowly := withPriority(pod("p", "1", ""), 0)
	tainted := node("t", nil, "2", "4Gi")
	tainted.Spec.Taints = []v1.Taint{{Key: "k", Effect: v1.TaintEffectNoSchedule}}
	snap = NewSnapshot(append(nodes, tainted), []*v1.Pod{low1, low2, mid, high})
	_, failed = findFeasible(lowly, snap)
	cand, statuses = findPreemption(lowly, 0, snap, failed, prioOf)
	if cand != nil {
		t.Fatalf("unexpected candidate %s", cand.node)
	}
	got := (&FitError{NumAllNodes: 4, NodeStatus: statuses}).Error()
	want := "0/4 nodes are available: 1 Preemption is not helpful for scheduling, 3 No preemption victims found for incoming pod."
	if got != want {
		t.Fatalf("got %q\nwant %q", got, want)
	}
}

func TestVictimsReprieve(t *testing.T) {
	// Removing both lower pods makes room; giving back the more important
	// one still leaves room, so only the least important goes.
	a := on(withPriority(pod("a", "500m", ""), 3), "n")
	b := on(withPriority(pod("b", "500m", ""), 2), "n")
	snap := NewSnapshot([]*v1.Node{node("n", nil, "2", "4Gi")}, []*v1.Pod{a, b, on(withPriority(pod("c", "1", ""), 50), "n")})
	victims, st := victimsOn(withPriority(pod("p", "500m", ""), 10), 10, snap, snap.Node("n"), prioOf)
	if !st.OK() || len(victims) != 1 || victims[0].Name != "b" {
		t.Fatalf("victims %v status %+v", victims, st)
	}
	// Too big even with every lower pod gone: the filter's reason.
	_, st = victimsOn(withPriority(pod("p", "2", ""), 10), 10, snap, snap.Node("n"), prioOf)
	if st.OK() || st.Reasons[0] != "Insufficient cpu" {
		t.Fatalf("status %+v", st)
	}
}

func TestEligibleToPreempt(t *testing.T) {
	going := on(withPriority(pod("going", "1", ""), 1), "n")
	going.DeletionTimestamp = &going.CreationTimestamp
	snap := NewSnapshot([]*v1.Node{node("n", nil, "2", "4Gi")}, []*v1.Pod{going})
	waiting := withPriority(pod("p", "1", ""), 10)
	waiting.Status.NominatedNodeName = "n"
	cases := []struct {
		name   string
		pod    *v1.Pod
		policy v1.PreemptionPolicy
		ok     bool
		msg    string
	}{
		{"may preempt", withPriority(pod("p", "1", ""), 10), v1.PreemptLowerPriority, true, ""},
		{"policy Never", withPriority(pod("p", "1", ""), 10), v1.PreemptNever, false, "not eligible due to preemptionPolicy=Never."},
		{"victims still terminating", waiting, v1.PreemptLowerPriority, false, msgTerminatingVictims},
	}
	for _, tc := range cases {
		ok, msg := eligibleToPreempt(tc.pod, 10, tc.policy, snap, prioOf)
		if ok != tc.ok || msg != tc.msg {
			t.Errorf("%s: %v %q", tc.name, ok, msg)
		}
	}
}
