package integration

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flotilla-io/flotilla/pkg/server/testserver"
)

// An eviction marks a running pod with DisruptionTarget before deleting
// it (a finalizer keeps the pod readable); a dry run and a finished pod
// are left without the condition.
func TestEvictionSetsDisruptionTarget(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{DisableControllers: []string{"scheduler"}})
	cs := srv.Clientset(t)
	ctx := context.Background()
	pods := cs.CoreV1().Pods("default")

	create := func(name string, phase corev1.PodPhase) {
		t.Helper()
		p := pod(name, nil)
		p.Finalizers = []string{"e2e.flotilla.io/hold"}
		p, err := pods.Create(ctx, p, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		p.Status.Phase = phase
		if _, err := pods.UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_, _ = pods.Patch(context.Background(), name, "application/json-patch+json", []byte(`[{"op":"remove","path":"/metadata/finalizers"}]`), metav1.PatchOptions{})
		})
	}
	disruption := func(name string) *corev1.PodCondition {
		t.Helper()
		p, err := pods.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for i := range p.Status.Conditions {
			if p.Status.Conditions[i].Type == corev1.DisruptionTarget {
				return &p.Status.Conditions[i]
			}
		}
		return nil
	}
	evict := func(name string, dryRun bool) {
		t.Helper()
		ev := &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"}}
		if dryRun {
			ev.DeleteOptions = &metav1.DeleteOptions{DryRun: []string{metav1.DryRunAll}}
		}
		if err := pods.EvictV1(ctx, ev); err != nil {
			t.Fatalf("evict %s: %v", name, err)
		}
	}

	create("running", corev1.PodRunning)
	evict("running", true)
	if c := disruption("running"); c != nil {
		t.Fatalf("dry-run eviction set %+v", c)
	}
	evict("running", false)
	c := disruption("running")
	if c == nil || c.Status != corev1.ConditionTrue || c.Reason != "EvictionByEvictionAPI" || c.Message != "Eviction API: evicting" {
		t.Fatalf("DisruptionTarget after eviction: %+v", c)
	}
	if p, _ := pods.Get(ctx, "running", metav1.GetOptions{}); p.DeletionTimestamp == nil {
		t.Fatal("evicted pod is not being deleted")
	}

	create("done", corev1.PodSucceeded)
	evict("done", false)
	if c := disruption("done"); c != nil {
		t.Fatalf("finished pod got %+v", c)
	}
}
