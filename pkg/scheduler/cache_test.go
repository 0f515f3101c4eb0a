package scheduler

import (
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
)

func TestCacheAssumedPods(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1000, 0)}
	c := newSchedulerCache(clock.now)
	c.AddNode(node("n", nil, "2", "1Gi"))
	c.AddPod(on(pod("other", "", ""), "n"))
	snap := &Snapshot{}
	requested := func() int64 {
		c.UpdateSnapshot(snap)
		return snap.Node("n").Requested[v1.ResourceCPU]
	}

	pending := pod("p", "1", "")
	placed := pending.DeepCopy()
	placed.Spec.NodeName = "n"
	c.Assume(placed)
	// The informer still shows it pending: the assumed copy counts.
	if r := requested(); r != 1000 || !c.IsAssumed(pending.UID) || len(snap.Node("n").Pods) != 2 {
		t.Fatalf("assumed pod not counted: %d", r)
	}
	// Binding in flight: it never expires.
	clock.t = clock.t.Add(assumeTTL + time.Second)
	if c.CleanupExpired() || !c.IsAssumed(pending.UID) {
		t.Fatal("assumption expired while binding")
	}

	// Confirmed by the informer: the listed copy replaces it.
	c.FinishBinding(pending.UID)
	c.AddPod(placed.DeepCopy())
	if r := requested(); r != 1000 || c.IsAssumed(pending.UID) || len(snap.Node("n").Pods) != 2 {
		t.Fatalf("confirmed pod: requested %d, assumed %v", r, c.IsAssumed(pending.UID))
	}
	// Finished: it holds nothing.
	done := placed.DeepCopy()
	done.Status.Phase = v1.PodSucceeded
	c.AddPod(done)
	if r := requested(); r != 0 || len(snap.Node("n").Pods) != 1 {
		t.Fatalf("finished pod still counted: %d", r)
	}

	// Expiry, counted from the end of the binding.
	second := pod("q", "1", "")
	second.Spec.NodeName = "n"
	c.Assume(second)
	c.FinishBinding(second.UID)
	clock.t = clock.t.Add(assumeTTL / 2)
	if c.CleanupExpired() || requested() != 1000 {
		t.Fatal("assumption expired early")
	}
	clock.t = clock.t.Add(assumeTTL)
	if !c.CleanupExpired() || requested() != 0 || c.IsAssumed(second.UID) {
		t.Fatal("expired assumption kept")
	}

	// A failed binding is forgotten; a deleted assumed pod too.
	c.Assume(second)
	c.Forget(second.UID)
	if requested() != 0 || c.IsAssumed(second.UID) {
		t.Fatal("forgotten assumption kept")
	}
	c.Assume(second)
	if !c.RemovePod(second) || requested() != 0 {
		t.Fatal("deleted assumed pod kept")
	}
}

func TestCacheNodesAndSnapshot(t *testing.T) {
	c := newSchedulerCache(time.Now)
	// A pod may come before its node.
	c.AddPod(on(pod("early", "1", ""), "b"))
	c.AddNode(node("c", nil, "4", "1Gi"))
	c.AddNode(node("a", nil, "4", "1Gi"))
	snap := &Snapshot{}
	c.UpdateSnapshot(snap)
	if len(snap.Nodes) != 2 || snap.Nodes[0].Node.Name != "a" || snap.Node("b") != nil {
		t.Fatalf("nodes %d", len(snap.Nodes))
	}
	c.AddNode(node("b", labelsOf("zone", "x"), "4", "1Gi"))
	c.UpdateSnapshot(snap)
	if len(snap.Nodes) != 3 || snap.Nodes[1].Node.Name != "b" || snap.Node("b").Requested[v1.ResourceCPU] != 1000 {
		t.Fatalf("late node: %+v", snap.Node("b"))
	}
	// Only changed nodes are swapped in; others keep their infos.
	before := snap.Node("a")
	moved := on(pod("early", "1", ""), "b")
	moved.UID = snap.Node("b").Pods[0].UID
	moved.Labels = labelsOf("v", "2")
	c.AddPod(moved)
	c.UpdateSnapshot(snap)
	if snap.Node("a") != before || snap.Node("b").Pods[0] != moved || len(snap.Node("b").Pods) != 1 {
		t.Fatal("update not applied incrementally")
	}
	// A node with pods leaves the snapshot but keeps its pods counted.
	c.RemoveNode("b")
	c.UpdateSnapshot(snap)
	if len(snap.Nodes) != 2 || snap.Node("b") != nil {
		t.Fatal("removed node still there")
	}
	c.AddNode(node("b", nil, "4", "1Gi"))
	c.UpdateSnapshot(snap)
	if snap.Node("b").Requested[v1.ResourceCPU] != 1000 {
		t.Fatal("pods of a returning node lost")
	}
	// Nominated pods are indexed while pending.
	nom := pod("nom", "1", "")
	nom.Status.NominatedNodeName = "a"
	c.TrackNominated(nom)
	if got := c.Nominated(); len(got) != 1 {
		t.Fatalf("nominated %d", len(got))
	}
	c.RemovePod(nom)
	if got := c.Nominated(); len(got) != 0 {
		t.Fatalf("nominated %d after delete", len(got))
	}
}
