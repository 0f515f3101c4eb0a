package refmanager_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/flotilla-io/flotilla/pkg/controller/refmanager"
	"github.com/flotilla-io/flotilla/pkg/server/testserver"
)

// The patches Claim sends, as Flotilla's API server applies them.
func TestClaimOnAPIServer(t *testing.T) {
	in := testserver.Start(t, testserver.Options{DisableControllers: []string{"job", "cronjob", "ttlafterfinished", "scheduler"}})
	cs := in.Clientset(t)
	ctx := context.Background()
	const ns = "claims"
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	testserver.Settled(t, cs, ns)
	newJob := func(name string) *batchv1.Job {
		j, err := cs.BatchV1().Jobs(ns).Create(ctx, &batchv1.Job{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: batchv1.JobSpec{Suspend: ptr.To(true), Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
				Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
					Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
			}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	owner := func(j *batchv1.Job) refmanager.Owner {
		sel, err := metav1.LabelSelectorAsSelector(j.Spec.Selector)
		if err != nil {
			t.Fatal(err)
		}
		return refmanager.Owner{Object: j, Kind: jobKind, Selector: sel, Get: func(ctx context.Context) (metav1.Object, error) {
			return cs.BatchV1().Jobs(ns).Get(ctx, j.Name, metav1.GetOptions{})
		}}
	}
	a, b := newJob("a"), newJob("b")
	pods := refmanager.Pods(cs, "test")
	pods.Finalizers = []string{batchv1.JobTrackingFinalizer}
	create := func(name string, lbls map[string]string) *corev1.Pod {
		p, err := cs.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: lbls},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	get := func(name string) *corev1.Pod {
		p, err := cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	controller := func(p *corev1.Pod) string {
		if ref := metav1.GetControllerOf(p); ref != nil {
			return ref.Name
		}
		return ""
	}
	aLabels := a.Spec.Template.Labels

	// Adopt, with the finalizer; release, without it.
	p := create("p", aLabels)
	got, err := refmanager.Claim(ctx, owner(a), pods, []*corev1.Pod{p})
	if err != nil || len(got) != 1 || controller(got[0]) != "a" || !slices.Contains(got[0].Finalizers, batchv1.JobTrackingFinalizer) {
		t.Fatalf("adopted %+v, %v", got, err)
	}
	relabelled := get("p")
	relabelled.Labels = map[string]string{"app": "elsewhere"}
	if relabelled, err = cs.CoreV1().Pods(ns).Update(ctx, relabelled, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if got, err := refmanager.Claim(ctx, owner(a), pods, []*corev1.Pod{relabelled}); err != nil || len(got) != 0 {
		t.Fatalf("claimed %+v, %v", got, err)
	}
	if p := get("p"); controller(p) != "" || len(p.OwnerReferences) != 0 || len(p.Finalizers) != 0 {
		t.Fatalf("released pod: owners %+v, finalizers %v", p.OwnerReferences, p.Finalizers)
	}

	// An orphan another controller took meanwhile is not taken from it.
	q := create("q", aLabels)
	taken := get("q")
	taken.OwnerReferences = []metav1.OwnerReference{refmanager.ControllerRef(b, jobKind)}
	if _, err := cs.CoreV1().Pods(ns).Update(ctx, taken, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err = refmanager.Claim(ctx, owner(a), pods, []*corev1.Pod{q}) // q as a stale cache shows it
	if !apierrors.IsInvalid(err) || len(got) != 0 {
		t.Fatalf("adopting a pod another controls: %+v, %v", got, err)
	}
	if q := get("q"); controller(q) != "b" || len(q.OwnerReferences) != 1 {
		t.Fatalf("q's owners %+v", q.OwnerReferences)
	}

	// Decisions about a pod deleted and recreated under its name do not
	// apply to the newcomer.
	stale := create("r", aLabels)
	recreate := func(lbls map[string]string, owners ...metav1.OwnerReference) {
		t.Helper()
		if err := cs.CoreV1().Pods(ns).Delete(ctx, "r", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
			t.Fatal(err)
		}
		testserver.Eventually(t, 20*time.Second, "r gone", func() (bool, string) {
			_, err := cs.CoreV1().Pods(ns).Get(ctx, "r", metav1.GetOptions{})
			return apierrors.IsNotFound(err), ""
		})
		p := create("r", lbls)
		if len(owners) > 0 {
			p.OwnerReferences = owners
			if _, err := cs.CoreV1().Pods(ns).Update(ctx, p, metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	recreate(map[string]string{"app": "elsewhere"})
	got, err = refmanager.Claim(ctx, owner(a), pods, []*corev1.Pod{stale})
	if err == nil || apierrors.IsNotFound(err) || len(got) != 0 {
		t.Fatalf("adopting a recreated pod: %+v, %v", got, err)
	}
	if r := get("r"); r.UID == stale.UID || controller(r) != "" || len(r.Finalizers) != 0 {
		t.Fatalf("the newcomer was adopted: %+v", r.ObjectMeta)
	}
	stale = get("r")
	stale.OwnerReferences = []metav1.OwnerReference{refmanager.ControllerRef(a, jobKind)}
	stale.Labels = map[string]string{"app": "elsewhere"}
	recreate(aLabels, refmanager.ControllerRef(a, jobKind))
	if got, err := refmanager.Claim(ctx, owner(a), pods, []*corev1.Pod{stale}); err != nil || len(got) != 0 {
		t.Fatalf("releasing a recreated pod: %+v, %v", got, err)
	}
	if r := get("r"); r.UID == stale.UID || controller(r) != "a" {
		t.Fatalf("the newcomer was released: %+v", r.ObjectMeta)
	}

	// A Job being deleted past the cache adopts nothing.
	s := create("s", aLabels)
	if err := cs.BatchV1().Jobs(ns).Delete(ctx, "a", metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationOrphan)}); err != nil {
		t.Fatal(err)
	}
	if got, err := refmanager.Claim(ctx, owner(a), pods, []*corev1.Pod{s}); !errors.Is(err, refmanager.ErrNotCurrent) || len(got) != 0 {
		t.Fatalf("claim for a deleted Job: %+v, %v", got, err)
	}
	if s := get("s"); controller(s) != "" {
		t.Fatalf("s adopted by a deleted Job")
	}
}
