package integration

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/flotilla-io/flotilla/pkg/server/testserver"
	"github.com/flotilla-io/flotilla/pkg/sim"
	"github.com/flotilla-io/flotilla/pkg/sim/simtest"
)

const podgcFinalizer = "test.flotilla.io/keep"

func podgcServer(t *testing.T, threshold int) kubernetes.Interface {
	srv := testserver.Start(t, testserver.Options{TerminatedPodGCThreshold: threshold, PodGCPeriod: time.Second, PodGCQuarantine: 2 * time.Second})
	return srv.Clientset(t)
}

// dropFinalizers lets the pods the test kept go.
func dropFinalizers(t *testing.T, cs kubernetes.Interface, ns string) {
	t.Helper()
	l, err := cs.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range l.Items {
		if slices.Contains(p.Finalizers, podgcFinalizer) {
			_, _ = cs.CoreV1().Pods(ns).Patch(context.Background(), p.Name, types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{})
		}
	}
}

// Above --terminated-pod-gc-threshold the oldest terminated pods are
// deleted, and only as many as exceed it.
func TestPodGCTerminatedAboveThreshold(t *testing.T) {
	cs := podgcServer(t, 3)
	names, _ := simtest.Start(t, cs, sim.Config{Nodes: 1, NamePrefix: "gc", CPU: resource.MustParse("8"), Memory: resource.MustParse("16Gi"), Pods: 110,
		LeaseRenewInterval: time.Second, StatusInterval: 2 * time.Second})
	ctx := context.Background()
	mk := func(name string) {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{sim.AnnotationExitAfter: "0s"}},
			Spec: corev1.PodSpec{NodeName: names[0], RestartPolicy: corev1.RestartPolicyNever,
				Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
		}
		if _, err := cs.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	phases := func() map[string]corev1.PodPhase {
		l, err := cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]corev1.PodPhase{}
		for _, p := range l.Items {
			out[p.Name] = p.Status.Phase
		}
		return out
	}
	for _, n := range []string{"old-0", "old-1", "old-2"} {
		mk(n)
	}
	// Three terminated pods are at the threshold: all stay.
	waitUntil(t, 30*time.Second, func() (bool, string) {
		ph := phases()
		return len(ph) == 3 && ph["old-0"] == corev1.PodSucceeded && ph["old-1"] == corev1.PodSucceeded && ph["old-2"] == corev1.PodSucceeded, fmt.Sprint(ph)
	})
	// Creation timestamps count in seconds: the new pods are younger.
	time.Sleep(1100 * time.Millisecond)
	for _, n := range []string{"new-0", "new-1", "new-2"} {
		mk(n)
	}
	waitUntil(t, 60*time.Second, func() (bool, string) {
		ph := phases()
		ok := len(ph) == 3
		for _, n := range []string{"new-0", "new-1", "new-2"} {
			ok = ok && ph[n] == corev1.PodSucceeded
		}
		return ok, fmt.Sprint(ph)
	})
}

// The pods of a Node that was deleted are marked Failed with the
// DisruptionTarget condition (DeletionByPodGC) and deleted after the
// quarantine; a finalizer keeps them visible to the test.
func TestPodGCOrphanedPodsOfDeletedNode(t *testing.T) {
	cs := podgcServer(t, 0)
	ctx := context.Background()
	names, stop := simtest.Start(t, cs, sim.Config{Nodes: 1, NamePrefix: "gone", CPU: resource.MustParse("8"), Memory: resource.MustParse("16Gi"), Pods: 110,
		LeaseRenewInterval: time.Second, StatusInterval: 2 * time.Second, DeleteNodesOnExit: true})
	t.Cleanup(func() { dropFinalizers(t, cs, "default") })
	for i := range 2 {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("orphan-%d", i), Finalizers: []string{podgcFinalizer}},
			Spec:       corev1.PodSpec{NodeName: names[0], Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
		}
		if _, err := cs.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, 30*time.Second, func() (bool, string) {
		l, _ := cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{FieldSelector: "status.phase=Running"})
		return l != nil && len(l.Items) == 2, "pods Running"
	})
	stop() // the simulated node deletes its Node
	waitUntil(t, 30*time.Second, func() (bool, string) {
		_, err := cs.CoreV1().Nodes().Get(ctx, names[0], metav1.GetOptions{})
		return err != nil, fmt.Sprint(err)
	})
	waitUntil(t, 60*time.Second, func() (bool, string) {
		l, err := cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		done := 0
		var seen []string
		for _, p := range l.Items {
			var cond *corev1.PodCondition
			for i := range p.Status.Conditions {
				if p.Status.Conditions[i].Type == corev1.DisruptionTarget {
					cond = &p.Status.Conditions[i]
				}
			}
			if p.DeletionTimestamp != nil && p.Status.Phase == corev1.PodFailed && cond != nil &&
				cond.Status == corev1.ConditionTrue && cond.Reason == "DeletionByPodGC" && cond.Message == "PodGC: node no longer exists" {
				done++
			}
			seen = append(seen, fmt.Sprintf("%s deleting=%v phase=%s cond=%+v", p.Name, p.DeletionTimestamp != nil, p.Status.Phase, cond))
		}
		return done == 2, fmt.Sprint(seen)
	})
}

// A pod being deleted that was never scheduled is finished by the
// collector at once: marked Failed and deleted (a finalizer keeps it
// visible to the test).
func TestPodGCUnscheduledTerminatingPod(t *testing.T) {
	cs := podgcServer(t, 0)
	ctx := context.Background()
	t.Cleanup(func() { dropFinalizers(t, cs, "default") })
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "never-scheduled", Finalizers: []string{podgcFinalizer}},
		// No scheduler answers to this name: the pod stays unbound.
		Spec: corev1.PodSpec{SchedulerName: "no-such-scheduler", Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
	}
	if _, err := cs.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := cs.CoreV1().Pods("default").Delete(ctx, p.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 30*time.Second, func() (bool, string) {
		got, err := cs.CoreV1().Pods("default").Get(ctx, p.Name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return got.DeletionTimestamp != nil && got.Status.Phase == corev1.PodFailed && got.Spec.NodeName == "",
			fmt.Sprintf("deleting=%v phase=%s node=%q", got.DeletionTimestamp != nil, got.Status.Phase, got.Spec.NodeName)
	})
	// Without the finalizer it goes (the collector's delete took effect).
	dropFinalizers(t, cs, "default")
	waitUntil(t, 30*time.Second, func() (bool, string) {
		_, err := cs.CoreV1().Pods("default").Get(ctx, p.Name, metav1.GetOptions{})
		return err != nil, fmt.Sprint(err)
	})
}
