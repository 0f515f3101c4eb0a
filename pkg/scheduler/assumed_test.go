package scheduler

import (
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
)

func TestAssumedPods(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1000, 0)}
	a := newAssumedPods(clock.now)
	pending := pod("p", "1", "")
	placed := pending.DeepCopy()
	placed.Spec.NodeName = "n"
	a.Assume(placed)

	// The informer still shows it pending: the assumed copy counts.
	got := a.Merge([]*v1.Pod{pending, on(pod("other", "", ""), "n")})
	if len(got) != 2 || !a.Has(pending.UID) {
		t.Fatalf("merged %d pods", len(got))
	}
	snap := NewSnapshot([]*v1.Node{node("n", nil, "2", "1Gi")}, got)
	if r := snap.Node("n").Requested[v1.ResourceCPU]; r != 1000 {
		t.Fatalf("assumed pod not counted: %d", r)
	}

	// Confirmed by the informer: the listed copy replaces it.
	got = a.Merge([]*v1.Pod{placed})
	if len(got) != 1 || a.Has(pending.UID) {
		t.Fatal("confirmed pod still assumed")
	}

	// Expiry.
	a.Assume(placed)
	clock.t = clock.t.Add(assumeTTL + time.Second)
	if got := a.Merge([]*v1.Pod{pending}); len(got) != 0 {
		t.Fatal("expired assumption kept")
	}
}
