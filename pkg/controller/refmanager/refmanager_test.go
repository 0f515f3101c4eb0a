package refmanager_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/flotilla-io/flotilla/pkg/controller/refmanager"
)

const ns = "ns"

var (
	jobKind = batchv1.SchemeGroupVersion.WithKind("Job")
	web     = map[string]string{"app": "web"}
	other   = map[string]string{"app": "other"}
)

func job(uid types.UID) *batchv1.Job {
	return &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "j", UID: uid}}
}

func pod(name string, lbls map[string]string, owner *metav1.OwnerReference) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID("uid-" + name), Labels: lbls}}
	if owner != nil {
		p.OwnerReferences = []metav1.OwnerReference{*owner}
	}
	return p
}

func ref(uid types.UID) *metav1.OwnerReference {
	r := refmanager.ControllerRef(job(uid), jobKind)
	return &r
}

// recorder is a Dependents whose patches are recorded and answered by
// answer (by default: the object, as if patched).
type recorder struct {
	patches map[string]map[string]any // name -> decoded patch
	answer  func(name string) error
}

func (r *recorder) deps(objs []*corev1.Pod) refmanager.Dependents[*corev1.Pod] {
	r.patches = map[string]map[string]any{}
	return refmanager.Dependents[*corev1.Pod]{Kind: "pod", Patch: func(_ context.Context, namespace, name string, patch []byte) (*corev1.Pod, error) {
		var m map[string]any
		if err := json.Unmarshal(patch, &m); err != nil {
			return nil, err
		}
		r.patches[name] = m
		if r.answer != nil {
			if err := r.answer(name); err != nil {
				return nil, err
			}
		}
		for _, o := range objs {
			if o.Name == name && o.Namespace == namespace {
				out := o.DeepCopy()
				out.ResourceVersion = "patched"
				return out, nil
			}
		}
		return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "pods"}, name)
	}}
}

// getter counts its calls and answers with live (nil: not found).
type getter struct {
	calls int
	live  metav1.Object
	err   error
}

func (g *getter) get(context.Context) (metav1.Object, error) {
	g.calls++
	if g.err != nil {
		return nil, g.err
	}
	if g.live == nil {
		return nil, apierrors.NewNotFound(schema.GroupResource{Group: "batch", Resource: "jobs"}, "j")
	}
	return g.live, nil
}

func names(pods []*corev1.Pod) []string {
	var out []string
	for _, p := range pods {
		out = append(out, p.Name)
	}
	return out
}

func TestClaim(t *testing.T) {
	owner := job("u1")
	deleting := metav1.Now()
	gone := pod("gone", web, nil) // vanishes before its adoption
	objs := []*corev1.Pod{
		pod("mine", web, ref("u1")),
		pod("orphan", web, nil),
		pod("relabelled", other, ref("u1")),
		pod("theirs", web, ref("u2")),
		pod("stranger", other, nil),
		gone,
		pod("elsewhere", web, nil),
		pod("dying", web, nil),
	}
	objs[6].Namespace = "other-ns"
	objs[7].DeletionTimestamp = &deleting
	var r recorder
	deps := r.deps(slices.DeleteFunc(slices.Clone(objs), func(p *corev1.Pod) bool { return p == gone }))
	g := &getter{live: owner}
	got, err := refmanager.Claim(context.Background(), refmanager.Owner{
		Object: owner, Kind: jobKind, Selector: labels.SelectorFromSet(web), Get: g.get,
	}, deps, objs)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"mine", "orphan"}; !slices.Equal(names(got), want) {
		t.Fatalf("claimed %v, want %v", names(got), want)
	}
	if got[1].ResourceVersion != "patched" {
		t.Errorf("the adopted pod is not returned as patched: %+v", got[1].ObjectMeta)
	}
	if got[0] != objs[0] {
		t.Errorf("an owned pod is not returned as given")
	}
	if g.calls != 1 {
		t.Errorf("owner read %d times past the cache, want once", g.calls)
	}
	var patched []string
	for name := range r.patches {
		patched = append(patched, name)
	}
	slices.Sort(patched)
	if want := []string{"gone", "orphan", "relabelled"}; !slices.Equal(patched, want) {
		t.Fatalf("patched %v, want %v", patched, want)
	}
	adoption, _ := json.Marshal(r.patches["orphan"])
	if want := `{"metadata":{"ownerReferences":[{"apiVersion":"batch/v1","blockOwnerDeletion":true,"controller":true,"kind":"Job","name":"j","uid":"u1"}],"uid":"uid-orphan"}}`; string(adoption) != want {
		t.Errorf("adoption patch\n%s\nwant\n%s", adoption, want)
	}
	release, _ := json.Marshal(r.patches["relabelled"])
	if want := `{"metadata":{"ownerReferences":[{"$patch":"delete","uid":"u1"}],"uid":"uid-relabelled"}}`; string(release) != want {
		t.Errorf("release patch\n%s\nwant\n%s", release, want)
	}
}

// Nothing to adopt: the owner is not read past the cache.
func TestClaimReadsOwnerOnlyToAdopt(t *testing.T) {
	owner := job("u1")
	objs := []*corev1.Pod{pod("mine", web, ref("u1")), pod("relabelled", other, ref("u1")), pod("stranger", other, nil)}
	var r recorder
	g := &getter{live: owner}
	got, err := refmanager.Claim(context.Background(), refmanager.Owner{Object: owner, Kind: jobKind, Selector: labels.SelectorFromSet(web), Get: g.get}, r.deps(objs), objs)
	if err != nil || !slices.Equal(names(got), []string{"mine"}) {
		t.Fatalf("claimed %v, %v", names(got), err)
	}
	if g.calls != 0 {
		t.Fatalf("owner read %d times with nothing to adopt", g.calls)
	}
}

// An owner gone, replaced or being deleted past the cache adopts nothing
// and says so; it still releases.
func TestClaimOwnerNotCurrent(t *testing.T) {
	now := metav1.Now()
	replaced, going := job("u9"), job("u1")
	going.DeletionTimestamp = &now
	for name, live := range map[string]metav1.Object{"gone": nil, "replaced": replaced, "being deleted": going} {
		t.Run(name, func(t *testing.T) {
			objs := []*corev1.Pod{pod("orphan", web, nil), pod("orphan2", web, nil), pod("relabelled", other, ref("u1"))}
			var r recorder
			g := &getter{live: live}
			got, err := refmanager.Claim(context.Background(), refmanager.Owner{Object: job("u1"), Kind: jobKind, Selector: labels.SelectorFromSet(web), Get: g.get}, r.deps(objs), objs)
			if !errors.Is(err, refmanager.ErrNotCurrent) {
				t.Fatalf("err %v, want ErrNotCurrent", err)
			}
			if len(got) != 0 || g.calls != 1 {
				t.Fatalf("claimed %v after %d reads", names(got), g.calls)
			}
			if _, ok := r.patches["relabelled"]; !ok || len(r.patches) != 1 {
				t.Fatalf("patched %v, want only the release", r.patches)
			}
		})
	}
	t.Run("unreadable", func(t *testing.T) {
		objs := []*corev1.Pod{pod("orphan", web, nil)}
		var r recorder
		g := &getter{err: apierrors.NewServiceUnavailable("etcd")}
		_, err := refmanager.Claim(context.Background(), refmanager.Owner{Object: job("u1"), Kind: jobKind, Selector: labels.SelectorFromSet(web), Get: g.get}, r.deps(objs), objs)
		if !apierrors.IsServiceUnavailable(err) || errors.Is(err, refmanager.ErrNotCurrent) || len(r.patches) != 0 {
			t.Fatalf("err %v, patches %v", err, r.patches)
		}
	})
}

// An owner being deleted (in the cache) keeps what it has and neither
// adopts nor releases.
func TestClaimOwnerBeingDeleted(t *testing.T) {
	now := metav1.Now()
	owner := job("u1")
	owner.DeletionTimestamp = &now
	objs := []*corev1.Pod{pod("mine", web, ref("u1")), pod("orphan", web, nil), pod("relabelled", other, ref("u1"))}
	var r recorder
	g := &getter{live: owner}
	got, err := refmanager.Claim(context.Background(), refmanager.Owner{Object: owner, Kind: jobKind, Selector: labels.SelectorFromSet(web), Get: g.get}, r.deps(objs), objs)
	if err != nil || !slices.Equal(names(got), []string{"mine"}) || len(r.patches) != 0 || g.calls != 0 {
		t.Fatalf("claimed %v, %v; patched %v; %d reads", names(got), err, r.patches, g.calls)
	}
}

// A filter narrows the selector: an owned pod it rejects is released, an
// orphan it rejects is left alone.
func TestClaimFilter(t *testing.T) {
	objs := []*corev1.Pod{pod("j-0", web, ref("u1")), pod("x-0", web, ref("u1")), pod("j-1", web, nil), pod("x-1", web, nil)}
	var r recorder
	deps := r.deps(objs)
	deps.Filter = func(p *corev1.Pod) bool { return p.Name[0] == 'j' }
	g := &getter{live: job("u1")}
	got, err := refmanager.Claim(context.Background(), refmanager.Owner{Object: job("u1"), Kind: jobKind, Selector: labels.SelectorFromSet(web), Get: g.get}, deps, objs)
	if err != nil || !slices.Equal(names(got), []string{"j-0", "j-1"}) {
		t.Fatalf("claimed %v, %v", names(got), err)
	}
	if len(r.patches) != 2 || r.patches["x-0"] == nil || r.patches["j-1"] == nil {
		t.Fatalf("patched %v", r.patches)
	}
}

// A failed write does not stop the others; the failures come back
// joined, with what could be claimed.
func TestClaimGoesOnPastFailures(t *testing.T) {
	objs := []*corev1.Pod{pod("a", web, nil), pod("b", web, nil), pod("c", other, ref("u1")), pod("d", other, ref("u1"))}
	var r recorder
	deps := r.deps(objs)
	r.answer = func(name string) error {
		switch name {
		case "a":
			return apierrors.NewConflict(schema.GroupResource{Resource: "pods"}, name, errors.New("changed"))
		case "c":
			return apierrors.NewInternalError(errors.New("boom"))
		case "d": // recreated under its name: the UID in the patch does not match
			return apierrors.NewInvalid(schema.GroupKind{Kind: "Pod"}, name, nil)
		}
		return nil
	}
	g := &getter{live: job("u1")}
	got, err := refmanager.Claim(context.Background(), refmanager.Owner{Object: job("u1"), Kind: jobKind, Selector: labels.SelectorFromSet(web), Get: g.get}, deps, objs)
	if !slices.Equal(names(got), []string{"b"}) || len(r.patches) != 4 {
		t.Fatalf("claimed %v; patched %v", names(got), r.patches)
	}
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok || len(joined.Unwrap()) != 2 || !apierrors.IsConflict(joined.Unwrap()[0]) || !apierrors.IsInternalError(joined.Unwrap()[1]) {
		t.Fatalf("err %v, want the conflict of a and the failure of c", err)
	}
}

func TestClaimNeedsSelector(t *testing.T) {
	objs := []*corev1.Pod{pod("mine", web, ref("u1"))}
	var r recorder
	if _, err := refmanager.Claim(context.Background(), refmanager.Owner{Object: job("u1"), Kind: jobKind}, r.deps(objs), objs); err == nil || len(r.patches) != 0 {
		t.Fatalf("a nil selector: err %v, patched %v", err, r.patches)
	}
}

// The Dependents of client-go kinds patch through the typed clients; the
// finalizers go with an adoption and away with a release.
func TestClientDependents(t *testing.T) {
	ctx := context.Background()
	owner := job("u1")
	finalizer := batchv1.JobTrackingFinalizer
	orphan := pod("orphan", web, nil)
	orphan.Finalizers = []string{"keep"}
	relabelled := pod("relabelled", other, ref("u1"))
	relabelled.OwnerReferences = append(relabelled.OwnerReferences, metav1.OwnerReference{APIVersion: "v1", Kind: "ConfigMap", Name: "cm", UID: "cm"})
	relabelled.Finalizers = []string{"keep", finalizer}
	held := pod("held", web, nil)
	held.Finalizers = []string{finalizer} // adopting adds it once
	cs := fake.NewClientset(owner, orphan, relabelled, held)
	pods := refmanager.Pods(cs, "test")
	pods.Finalizers = []string{finalizer}
	sel := labels.SelectorFromSet(web)
	o := refmanager.Owner{Object: owner, Kind: jobKind, Selector: sel, Get: func(ctx context.Context) (metav1.Object, error) {
		return cs.BatchV1().Jobs(ns).Get(ctx, "j", metav1.GetOptions{})
	}}
	got, err := refmanager.Claim(ctx, o, pods, []*corev1.Pod{orphan, relabelled, held})
	if err != nil || !slices.Equal(names(got), []string{"orphan", "held"}) {
		t.Fatalf("claimed %v, %v", names(got), err)
	}
	for _, name := range []string{"orphan", "held"} {
		p, err := cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if r := metav1.GetControllerOf(p); r == nil || r.UID != "u1" || r.Kind != "Job" || r.APIVersion != "batch/v1" || r.BlockOwnerDeletion == nil || !*r.BlockOwnerDeletion {
			t.Errorf("%s: controller %+v", name, r)
		}
		want := []string{finalizer}
		if name == "orphan" {
			want = []string{finalizer, "keep"}
		}
		if !slices.Equal(slices.Sorted(slices.Values(p.Finalizers)), want) {
			t.Errorf("%s: finalizers %v, want %v", name, p.Finalizers, want)
		}
	}
	p, err := cs.CoreV1().Pods(ns).Get(ctx, "relabelled", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.OwnerReferences) != 1 || p.OwnerReferences[0].UID != "cm" || !slices.Equal(p.Finalizers, []string{"keep"}) {
		t.Errorf("released pod: owners %+v, finalizers %v", p.OwnerReferences, p.Finalizers)
	}

	// ReplicaSets and ControllerRevisions, owned by a Deployment and a
	// DaemonSet.
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "d", UID: "d1"}}
	ds := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ds", UID: "ds1"}}
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "rs", UID: "rs1", Labels: web}}
	rev := &appsv1.ControllerRevision{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "rev", UID: "rev1", Labels: web}}
	cs = fake.NewClientset(d, ds, rs, rev)
	rss, err := refmanager.Claim(ctx, refmanager.Owner{Object: d, Kind: appsv1.SchemeGroupVersion.WithKind("Deployment"), Selector: sel,
		Get: func(ctx context.Context) (metav1.Object, error) {
			return cs.AppsV1().Deployments(ns).Get(ctx, "d", metav1.GetOptions{})
		},
	}, refmanager.ReplicaSets(cs, "test"), []*appsv1.ReplicaSet{rs})
	if err != nil || len(rss) != 1 || metav1.GetControllerOf(rss[0]) == nil || metav1.GetControllerOf(rss[0]).UID != "d1" {
		t.Fatalf("replica sets %+v, %v", rss, err)
	}
	revs, err := refmanager.Claim(ctx, refmanager.Owner{Object: ds, Kind: appsv1.SchemeGroupVersion.WithKind("DaemonSet"), Selector: sel,
		Get: func(ctx context.Context) (metav1.Object, error) {
			return cs.AppsV1().DaemonSets(ns).Get(ctx, "ds", metav1.GetOptions{})
		},
	}, refmanager.ControllerRevisions(cs, "test"), []*appsv1.ControllerRevision{rev})
	if err != nil || len(revs) != 1 || metav1.GetControllerOf(revs[0]) == nil || metav1.GetControllerOf(revs[0]).UID != "ds1" {
		t.Fatalf("revisions %+v, %v", revs, err)
	}
}

func TestCurrent(t *testing.T) {
	now := metav1.Now()
	going := job("u1")
	going.DeletionTimestamp = &now
	for _, c := range []struct {
		name string
		g    getter
		want bool
		err  bool
	}{
		{"same", getter{live: job("u1")}, true, false},
		{"gone", getter{}, false, false},
		{"replaced", getter{live: job("u2")}, false, false},
		{"being deleted", getter{live: going}, false, false},
		{"unreadable", getter{err: errors.New("boom")}, false, true},
	} {
		got, err := refmanager.Current(context.Background(), job("u1"), c.g.get)
		if got != c.want || (err != nil) != c.err {
			t.Errorf("%s: %v, %v", c.name, got, err)
		}
	}
}
