package disruption_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"

	"github.com/flotilla-io/flotilla/pkg/controller/disruption"
	"github.com/flotilla-io/flotilla/pkg/server/testserver"
)

const ns = "pdb"

// eventually is the shared poll of the test server package.
var eventually = testserver.Eventually

// runningPod creates a pod and reports it Running, Ready or not.
func runningPod(t *testing.T, cs kubernetes.Interface, name string, lbls map[string]string, owner *metav1.OwnerReference, ready bool) {
	t.Helper()
	ctx := context.Background()
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: lbls},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
	}
	if owner != nil {
		p.OwnerReferences = []metav1.OwnerReference{*owner}
	}
	deadline := time.Now().Add(20 * time.Second)
	var err error
	for {
		var out *corev1.Pod
		if out, err = cs.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err == nil {
			p = out
			break
		}
		// The namespace's default ServiceAccount appears asynchronously.
		if time.Now().After(deadline) || !strings.Contains(err.Error(), "serviceaccount") {
			t.Fatalf("create pod %s: %v", name, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	setReady(t, cs, p, ready)
}

func setReady(t *testing.T, cs kubernetes.Interface, p *corev1.Pod, ready bool) {
	t.Helper()
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	p.Status.Phase = corev1.PodRunning
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: st, LastTransitionTime: metav1.Now()}}
	if _, err := cs.CoreV1().Pods(ns).UpdateStatus(context.Background(), p, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("pod %s status: %v", p.Name, err)
	}
}

func getPDB(cs kubernetes.Interface, name string) (*policyv1.PodDisruptionBudget, error) {
	return cs.PolicyV1().PodDisruptionBudgets(ns).Get(context.Background(), name, metav1.GetOptions{})
}

// waitStatus waits until the budget's status has the given numbers and a
// DisruptionAllowed condition with reason.
func waitStatus(t *testing.T, cs kubernetes.Interface, name string, expected, desired, healthy, allowed int32, reason string) *policyv1.PodDisruptionBudget {
	t.Helper()
	var pdb *policyv1.PodDisruptionBudget
	eventually(t, 10*time.Second, "status of "+name, func() (bool, string) {
		var err error
		if pdb, err = getPDB(cs, name); err != nil {
			return false, err.Error()
		}
		st := pdb.Status
		c := apimeta.FindStatusCondition(st.Conditions, policyv1.DisruptionAllowedCondition)
		ok := c != nil && c.Reason == reason && st.ObservedGeneration == pdb.Generation
		if reason != policyv1.SyncFailedReason {
			ok = ok && st.ExpectedPods == expected && st.DesiredHealthy == desired && st.CurrentHealthy == healthy
		}
		return ok && st.DisruptionsAllowed == allowed, fmt.Sprintf("gen %d %+v", pdb.Generation, st)
	})
	return pdb
}

func TestDisruptionBudgets(t *testing.T) {
	in := testserver.Start(t, testserver.Options{DisableControllers: []string{"disruption", "scheduler", "nodelifecycle", "replicaset", "replicationcontroller", "deployment", "statefulset", "garbagecollector"}})
	cs := in.Clientset(t)
	ctx, cancel := context.WithCancel(context.Background())
	factory := informers.NewSharedInformerFactory(cs, 0)
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); factory.Shutdown(); wg.Wait() })

	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	c := disruption.New(cs, factory, disruption.Config{}, log)
	factory.Start(ctx.Done())
	wg.Add(1)
	go func() { defer wg.Done(); c.Run(ctx, 2) }()

	web := map[string]string{"app": "web"}
	for _, name := range []string{"web-0", "web-1", "web-2"} {
		runningPod(t, cs, name, web, nil, true)
	}
	two := intstr.FromInt32(2)
	if _, err := cs.PolicyV1().PodDisruptionBudgets(ns).Create(ctx, &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec:       policyv1.PodDisruptionBudgetSpec{MinAvailable: &two, Selector: &metav1.LabelSelector{MatchLabels: web}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pdb := waitStatus(t, cs, "web", 3, 2, 3, 1, policyv1.SufficientPodsReason)

	// An eviction as the API server's handler performs it.
	pod0, err := cs.CoreV1().Pods(ns).Get(ctx, "web-0", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := disruption.CheckEviction(pod0, []policyv1.PodDisruptionBudget{*pdb})
	if err != nil || got == nil || got.Name != "web" {
		t.Fatalf("CheckEviction(web-0) = %v, %v", got, err)
	}
	disruption.RecordEviction(got, "web-0", time.Now())
	if _, err := cs.PolicyV1().PodDisruptionBudgets(ns).UpdateStatus(ctx, got, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The controller keeps web-0 as disrupted: it no longer counts as
	// healthy (three healthy before, two once the controller has synced).
	pdb = waitStatus(t, cs, "web", 3, 2, 2, 0, policyv1.InsufficientPodsReason)
	if _, ok := pdb.Status.DisruptedPods["web-0"]; !ok {
		t.Fatalf("disruptedPods lost web-0: %+v", pdb.Status)
	}
	pod1, err := cs.CoreV1().Pods(ns).Get(ctx, "web-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := disruption.CheckEviction(pod1, []policyv1.PodDisruptionBudget{*pdb}); !apierrors.IsTooManyRequests(err) || !strings.Contains(err.Error(), disruption.MessageViolatesBudget) {
		t.Fatalf("second eviction: %v", err)
	}
	// The pod goes: its entry is pruned.
	if err := cs.CoreV1().Pods(ns).Delete(ctx, "web-0", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	pdb = waitStatus(t, cs, "web", 2, 2, 2, 0, policyv1.InsufficientPodsReason)
	if len(pdb.Status.DisruptedPods) != 0 {
		t.Fatalf("disruptedPods not pruned: %+v", pdb.Status.DisruptedPods)
	}
	runningPod(t, cs, "web-3", web, nil, true)
	waitStatus(t, cs, "web", 3, 2, 3, 1, policyv1.SufficientPodsReason)
	setReady(t, cs, mustPod(t, cs, "web-3"), false)
	waitStatus(t, cs, "web", 3, 2, 2, 0, policyv1.InsufficientPodsReason)

	// maxUnavailable against a ReplicaSet's scale.
	rsLabels := map[string]string{"app": "rs"}
	four := int32(4)
	rs, err := cs.AppsV1().ReplicaSets(ns).Create(ctx, &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "rs"},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: &four, Selector: &metav1.LabelSelector{MatchLabels: rsLabels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: rsLabels}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	yes := true
	ref := &metav1.OwnerReference{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs.Name, UID: rs.UID, Controller: &yes}
	runningPod(t, cs, "rs-0", rsLabels, ref, true)
	runningPod(t, cs, "rs-1", rsLabels, ref, true)
	one := intstr.FromInt32(1)
	if _, err := cs.PolicyV1().PodDisruptionBudgets(ns).Create(ctx, &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: "rs"},
		Spec:       policyv1.PodDisruptionBudgetSpec{MaxUnavailable: &one, Selector: &metav1.LabelSelector{MatchLabels: rsLabels}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, cs, "rs", 4, 3, 2, 0, policyv1.InsufficientPodsReason)
	rs.Spec.Replicas = ptr(int32(2))
	if _, err := cs.AppsV1().ReplicaSets(ns).Update(ctx, rs, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, cs, "rs", 2, 1, 2, 1, policyv1.SufficientPodsReason)

	// A controller reference nobody can resolve fails the sync safely.
	orphan := map[string]string{"app": "orphan"}
	runningPod(t, cs, "orphan-0", orphan, &metav1.OwnerReference{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "missing", UID: "0000", Controller: &yes}, true)
	if _, err := cs.PolicyV1().PodDisruptionBudgets(ns).Create(ctx, &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: "orphan"},
		Spec:       policyv1.PodDisruptionBudgetSpec{MaxUnavailable: &one, Selector: &metav1.LabelSelector{MatchLabels: orphan}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "SyncFailed", func() (bool, string) {
		pdb, err := getPDB(cs, "orphan")
		if err != nil {
			return false, err.Error()
		}
		c := apimeta.FindStatusCondition(pdb.Status.Conditions, policyv1.DisruptionAllowedCondition)
		return c != nil && c.Reason == policyv1.SyncFailedReason && c.Status == metav1.ConditionFalse && pdb.Status.DisruptionsAllowed == 0, fmt.Sprintf("%+v", pdb.Status)
	})
	// ...and an eviction under it is refused as not yet processed.
	pdb, _ = getPDB(cs, "orphan")
	_, err = disruption.CheckEviction(mustPod(t, cs, "orphan-0"), []policyv1.PodDisruptionBudget{*pdb})
	if se, ok := err.(*apierrors.StatusError); !ok || se.ErrStatus.Code != http.StatusTooManyRequests {
		t.Fatalf("eviction under a failed budget: %v", err)
	}
}

func mustPod(t *testing.T, cs kubernetes.Interface, name string) *corev1.Pod {
	t.Helper()
	p, err := cs.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func ptr[T any](v T) *T { return &v }
