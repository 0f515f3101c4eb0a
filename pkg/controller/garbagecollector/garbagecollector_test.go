package garbagecollector_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"

	. "github.com/flotilla-io/flotilla/pkg/controller/garbagecollector"
	"github.com/flotilla-io/flotilla/pkg/server/testserver"
)

const waitFor = 20 * time.Second

// running is a collector started by a test.
type running struct {
	*Controller
	stop func()
}

func startGC(t *testing.T, in *testserver.Instance) *running {
	t.Helper()
	md, err := metadata.NewForConfig(in.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	disc, err := discovery.NewDiscoveryClientForConfig(in.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	level := slog.LevelWarn
	if os.Getenv("FLOTILLA_TEST_DEBUG") != "" {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	c := New(md, disc, Config{DiscoveryPeriod: 2 * time.Second}, log)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Run(ctx, 2)
	}()
	select {
	case <-c.Started():
	case <-done:
		t.Fatal("collector stopped during start")
	case <-time.After(60 * time.Second):
		cancel()
		t.Fatal("collector not started within 60s")
	}
	r := &running{Controller: c}
	stopped := false
	r.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("collector did not stop within 30s")
		}
	}
	t.Cleanup(r.stop)
	return r
}

// sees waits until the collector's graph has dep as a dependent of owner.
func (r *running) sees(t *testing.T, owner, dep types.UID) {
	t.Helper()
	eventually(t, fmt.Sprintf("graph links %s -> %s", owner, dep), func() error {
		if r.Linked(owner, dep) {
			return nil
		}
		return fmt.Errorf("not linked")
	})
}

func eventually(t *testing.T, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func newNamespace(t *testing.T, cs kubernetes.Interface, name string, pods bool) string {
	t.Helper()
	ctx := context.Background()
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if pods {
		eventually(t, "default service account in "+name, func() error {
			_, err := cs.CoreV1().ServiceAccounts(name).Get(ctx, "default", metav1.GetOptions{})
			return err
		})
	}
	return name
}

func ownerRef(apiVersion, kind string, obj metav1.Object, block bool) metav1.OwnerReference {
	return metav1.OwnerReference{APIVersion: apiVersion, Kind: kind, Name: obj.GetName(), UID: obj.GetUID(), BlockOwnerDeletion: &block}
}

func cmRef(cm *corev1.ConfigMap, block bool) metav1.OwnerReference {
	return ownerRef("v1", "ConfigMap", cm, block)
}

func makeCM(t *testing.T, cs kubernetes.Interface, ns, name string, owners ...metav1.OwnerReference) *corev1.ConfigMap {
	t.Helper()
	cm, err := cs.CoreV1().ConfigMaps(ns).Create(context.Background(), &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: name, OwnerReferences: owners},
		Data:       map[string]string{"k": "v"},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create configmap %s: %v", name, err)
	}
	return cm
}

func makePod(t *testing.T, cs kubernetes.Interface, ns, name string, labels map[string]string, owners ...metav1.OwnerReference) *corev1.Pod {
	t.Helper()
	pod, err := cs.CoreV1().Pods(ns).Create(context.Background(), &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels, OwnerReferences: owners},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Containers:    []corev1.Container{{Name: "c", Image: "busybox"}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create pod %s: %v", name, err)
	}
	return pod
}

func deleteCM(t *testing.T, cs kubernetes.Interface, ns, name string, policy *metav1.DeletionPropagation) {
	t.Helper()
	if err := cs.CoreV1().ConfigMaps(ns).Delete(context.Background(), name, metav1.DeleteOptions{PropagationPolicy: policy}); err != nil {
		t.Fatalf("delete configmap %s: %v", name, err)
	}
}

// gone waits until get reports NotFound.
func gone(t *testing.T, what string, get func() error) {
	t.Helper()
	eventually(t, what+" deleted", func() error {
		err := get()
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		return fmt.Errorf("still there")
	})
}

func cmGone(t *testing.T, cs kubernetes.Interface, ns, name string) {
	t.Helper()
	gone(t, "configmap "+ns+"/"+name, func() error {
		_, err := cs.CoreV1().ConfigMaps(ns).Get(context.Background(), name, metav1.GetOptions{})
		return err
	})
}

func podGone(t *testing.T, cs kubernetes.Interface, ns, name string) {
	t.Helper()
	gone(t, "pod "+ns+"/"+name, func() error {
		_, err := cs.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
		return err
	})
}

func getCM(t *testing.T, cs kubernetes.Interface, ns, name string) *corev1.ConfigMap {
	t.Helper()
	cm, err := cs.CoreV1().ConfigMaps(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get configmap %s: %v", name, err)
	}
	return cm
}

// stays checks for a while that the object is still there.
func stays(t *testing.T, what string, d time.Duration, get func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if err := get(); err != nil {
			t.Fatalf("%s should stay: %v", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func refUIDs(refs []metav1.OwnerReference) []types.UID {
	var out []types.UID
	for _, r := range refs {
		out = append(out, r.UID)
	}
	return out
}

func policy(p metav1.DeletionPropagation) *metav1.DeletionPropagation { return &p }

func TestGarbageCollector(t *testing.T) {
	in := testserver.Start(t, testserver.Options{DisableControllers: []string{"garbagecollector", "job", "replicaset"}})
	cs := in.Clientset(t)
	gc := startGC(t, in)
	ctx := context.Background()

	t.Run("Background", func(t *testing.T) {
		ns := newNamespace(t, cs, "background", true)
		owner := makeCM(t, cs, ns, "owner")
		dep := makeCM(t, cs, ns, "dep", cmRef(owner, false))
		grand := makeCM(t, cs, ns, "grand", cmRef(dep, false))
		secret, err := cs.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "secret", OwnerReferences: []metav1.OwnerReference{cmRef(owner, false)}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		pod := makePod(t, cs, ns, "pod", nil, cmRef(owner, true))
		bystander := makeCM(t, cs, ns, "bystander")
		gc.sees(t, dep.UID, grand.UID)

		deleteCM(t, cs, ns, owner.Name, nil) // what kubectl delete does
		cmGone(t, cs, ns, dep.Name)
		cmGone(t, cs, ns, grand.Name)
		podGone(t, cs, ns, pod.Name)
		gone(t, "secret", func() error {
			_, err := cs.CoreV1().Secrets(ns).Get(ctx, secret.Name, metav1.GetOptions{})
			return err
		})
		getCM(t, cs, ns, bystander.Name)
	})

	t.Run("Foreground", func(t *testing.T) {
		ns := newNamespace(t, cs, "foreground", false)
		owner := makeCM(t, cs, ns, "owner")
		dep := makeCM(t, cs, ns, "dep", cmRef(owner, true))
		loose := makeCM(t, cs, ns, "loose", cmRef(owner, false))
		grand, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{
			Name: "grand", Finalizers: []string{"example.com/hold"}, OwnerReferences: []metav1.OwnerReference{cmRef(dep, true)},
		}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		gc.sees(t, owner.UID, dep.UID)
		gc.sees(t, owner.UID, loose.UID)
		gc.sees(t, dep.UID, grand.UID)

		deleteCM(t, cs, ns, owner.Name, policy(metav1.DeletePropagationForeground))
		// The non-blocking dependent goes; the chain waits on grand,
		// held by its own finalizer.
		cmGone(t, cs, ns, loose.Name)
		eventually(t, "grand marked for deletion", func() error {
			if getCM(t, cs, ns, grand.Name).DeletionTimestamp == nil {
				return fmt.Errorf("no deletionTimestamp")
			}
			return nil
		})
		stays(t, "owner", time.Second, func() error {
			o := getCM(t, cs, ns, owner.Name)
			if o.DeletionTimestamp == nil || !slices.Contains(o.Finalizers, metav1.FinalizerDeleteDependents) {
				return fmt.Errorf("owner not waiting: %v %v", o.DeletionTimestamp, o.Finalizers)
			}
			d := getCM(t, cs, ns, dep.Name)
			if d.DeletionTimestamp == nil || !slices.Contains(d.Finalizers, metav1.FinalizerDeleteDependents) {
				return fmt.Errorf("dependent not deleted in foreground: %v %v", d.DeletionTimestamp, d.Finalizers)
			}
			return nil
		})
		// Release grand: everything goes.
		if _, err := cs.CoreV1().ConfigMaps(ns).Patch(ctx, grand.Name, types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		cmGone(t, cs, ns, grand.Name)
		cmGone(t, cs, ns, dep.Name)
		cmGone(t, cs, ns, owner.Name)
	})

	t.Run("ForegroundCycle", func(t *testing.T) {
		ns := newNamespace(t, cs, "cycle", false)
		a := makeCM(t, cs, ns, "a")
		b := makeCM(t, cs, ns, "b", cmRef(a, true))
		a.OwnerReferences = []metav1.OwnerReference{cmRef(b, true)}
		a, err := cs.CoreV1().ConfigMaps(ns).Update(ctx, a, metav1.UpdateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		gc.sees(t, a.UID, b.UID)
		gc.sees(t, b.UID, a.UID)
		deleteCM(t, cs, ns, a.Name, policy(metav1.DeletePropagationForeground))
		cmGone(t, cs, ns, a.Name)
		cmGone(t, cs, ns, b.Name)
	})

	t.Run("Orphan", func(t *testing.T) {
		ns := newNamespace(t, cs, "orphan", false)
		owner := makeCM(t, cs, ns, "owner")
		other := makeCM(t, cs, ns, "other")
		a := makeCM(t, cs, ns, "a", cmRef(owner, true))
		b := makeCM(t, cs, ns, "b", cmRef(owner, false), cmRef(other, false))
		gc.sees(t, owner.UID, a.UID)
		gc.sees(t, owner.UID, b.UID)

		deleteCM(t, cs, ns, owner.Name, policy(metav1.DeletePropagationOrphan))
		cmGone(t, cs, ns, owner.Name)
		if refs := getCM(t, cs, ns, a.Name).OwnerReferences; len(refs) != 0 {
			t.Errorf("a keeps references %v", refs)
		}
		if refs := refUIDs(getCM(t, cs, ns, b.Name).OwnerReferences); !slices.Equal(refs, []types.UID{other.UID}) {
			t.Errorf("b references %v, want only %s", refs, other.UID)
		}
		stays(t, "orphans", time.Second, func() error {
			if _, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, a.Name, metav1.GetOptions{}); err != nil {
				return err
			}
			_, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, b.Name, metav1.GetOptions{})
			return err
		})
	})

	t.Run("TwoOwners", func(t *testing.T) {
		ns := newNamespace(t, cs, "two-owners", false)
		first := makeCM(t, cs, ns, "first")
		second := makeCM(t, cs, ns, "second")
		dep := makeCM(t, cs, ns, "dep", cmRef(first, false), cmRef(second, true))
		gc.sees(t, first.UID, dep.UID)

		deleteCM(t, cs, ns, first.Name, nil)
		eventually(t, "dangling reference removed", func() error {
			refs := refUIDs(getCM(t, cs, ns, dep.Name).OwnerReferences)
			if !slices.Equal(refs, []types.UID{second.UID}) {
				return fmt.Errorf("references %v", refs)
			}
			return nil
		})
		deleteCM(t, cs, ns, second.Name, nil)
		cmGone(t, cs, ns, dep.Name)
	})

	t.Run("Dangling", func(t *testing.T) {
		ns := newNamespace(t, cs, "dangling", false)
		real := makeCM(t, cs, ns, "real")
		ghost := makeCM(t, cs, ns, "ghost-dep", metav1.OwnerReference{APIVersion: "v1", Kind: "ConfigMap", Name: "ghost", UID: uuid.NewUUID()})
		wrongUID := makeCM(t, cs, ns, "wrong-uid", metav1.OwnerReference{APIVersion: "v1", Kind: "ConfigMap", Name: real.Name, UID: uuid.NewUUID()})
		// A live cluster-scoped owner of a namespaced object.
		nsObj, err := cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		byNamespace := makeCM(t, cs, ns, "by-namespace", ownerRef("v1", "Namespace", nsObj, false))
		// A right UID under a wrong name must not make the owner look
		// gone to a correct reference.
		misnamed := makeCM(t, cs, ns, "misnamed", metav1.OwnerReference{APIVersion: "v1", Kind: "ConfigMap", Name: "nope", UID: real.UID})
		correct := makeCM(t, cs, ns, "correct", cmRef(real, false))
		// An owner of a kind no resource serves: skipped.
		unknown := makeCM(t, cs, ns, "unknown-kind", metav1.OwnerReference{APIVersion: "example.com/v1", Kind: "Widget", Name: "w", UID: uuid.NewUUID()})

		cmGone(t, cs, ns, ghost.Name)
		cmGone(t, cs, ns, wrongUID.Name)
		cmGone(t, cs, ns, misnamed.Name)
		stays(t, "live-owned objects", time.Second, func() error {
			for _, n := range []string{real.Name, byNamespace.Name, correct.Name, unknown.Name} {
				if _, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, n, metav1.GetOptions{}); err != nil {
					return err
				}
			}
			return nil
		})
	})

	t.Run("ReplicaSetPods", func(t *testing.T) {
		ns := newNamespace(t, cs, "replicaset", true)
		gvr, namespaced, watched, ok := gc.Resolves("apps/v1", "ReplicaSet")
		if !ok || gvr != (schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "replicasets"}) || !namespaced {
			t.Fatalf("apps/v1 ReplicaSet resolves to %+v, %v", gvr, ok)
		}
		if !watched {
			t.Fatal("replicasets not watched")
		}
		labels := map[string]string{"app": "web"}
		rs, err := cs.AppsV1().ReplicaSets(ns).Create(ctx, &appsv1.ReplicaSet{
			ObjectMeta: metav1.ObjectMeta{Name: "web"},
			Spec: appsv1.ReplicaSetSpec{
				Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: labels},
					Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
				},
			},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ref := ownerRef("apps/v1", "ReplicaSet", rs, true)
		ref.Controller = new(true)
		var pods []*corev1.Pod
		for i := range 3 {
			pods = append(pods, makePod(t, cs, ns, fmt.Sprintf("web-%d", i), labels, ref))
		}
		gc.sees(t, rs.UID, pods[2].UID)
		if err := cs.AppsV1().ReplicaSets(ns).Delete(ctx, rs.Name, metav1.DeleteOptions{PropagationPolicy: policy(metav1.DeletePropagationBackground)}); err != nil {
			t.Fatal(err)
		}
		for _, p := range pods {
			podGone(t, cs, ns, p.Name)
		}
	})

	t.Run("JobPods", func(t *testing.T) {
		ns := newNamespace(t, cs, "job", true)
		for _, p := range []metav1.DeletionPropagation{metav1.DeletePropagationBackground, metav1.DeletePropagationForeground} {
			job, err := cs.BatchV1().Jobs(ns).Create(ctx, &batchv1.Job{
				ObjectMeta: metav1.ObjectMeta{Name: "job-" + strings.ToLower(string(p))},
				Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
					RestartPolicy: corev1.RestartPolicyNever,
					Containers:    []corev1.Container{{Name: "c", Image: "busybox"}},
				}}},
			}, metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			ref := ownerRef("batch/v1", "Job", job, true)
			ref.Controller = new(true)
			a := makePod(t, cs, ns, job.Name+"-a", job.Spec.Template.Labels, ref)
			b := makePod(t, cs, ns, job.Name+"-b", job.Spec.Template.Labels, ref)
			gc.sees(t, job.UID, b.UID)
			if err := cs.BatchV1().Jobs(ns).Delete(ctx, job.Name, metav1.DeleteOptions{PropagationPolicy: &p}); err != nil {
				t.Fatal(err)
			}
			podGone(t, cs, ns, a.Name)
			podGone(t, cs, ns, b.Name)
			gone(t, "job", func() error {
				_, err := cs.BatchV1().Jobs(ns).Get(ctx, job.Name, metav1.GetOptions{})
				return err
			})
		}
	})
}

// TestRestart stops the collector, deletes owners with every policy while
// it is down, and checks a new collector finishes the work. Stopping the
// first collector cancels its watches all at once, which used to stall
// every watch of the in-process etcd client and so leave the second
// collector blind to the deletions it made (see pkg/etcd).
func TestRestart(t *testing.T) {
	in := testserver.Start(t, testserver.Options{DisableControllers: []string{"garbagecollector", "job", "replicaset"}})
	cs := in.Clientset(t)
	ns := newNamespace(t, cs, "restart", false)
	bg := makeCM(t, cs, ns, "bg")
	bgDep := makeCM(t, cs, ns, "bg-dep", cmRef(bg, false))
	fg := makeCM(t, cs, ns, "fg")
	fgDep := makeCM(t, cs, ns, "fg-dep", cmRef(fg, true))
	or := makeCM(t, cs, ns, "or")
	orDep := makeCM(t, cs, ns, "or-dep", cmRef(or, true))

	first := startGC(t, in)
	first.sees(t, bg.UID, bgDep.UID)
	first.sees(t, fg.UID, fgDep.UID)
	first.sees(t, or.UID, orDep.UID)
	first.stop()

	deleteCM(t, cs, ns, bg.Name, nil)
	deleteCM(t, cs, ns, fg.Name, policy(metav1.DeletePropagationForeground))
	deleteCM(t, cs, ns, or.Name, policy(metav1.DeletePropagationOrphan))
	// No collector runs: the work waits for the next one, and the Foreground
	// and Orphan owners wait in their finalizers.
	for _, n := range []string{bgDep.Name, fgDep.Name, orDep.Name} {
		getCM(t, cs, ns, n)
	}
	for name, f := range map[string]string{fg.Name: metav1.FinalizerDeleteDependents, or.Name: metav1.FinalizerOrphanDependents} {
		if o := getCM(t, cs, ns, name); o.DeletionTimestamp == nil || !slices.Contains(o.Finalizers, f) {
			t.Fatalf("%s: deletionTimestamp %v, finalizers %v; want it waiting in %s", name, o.DeletionTimestamp, o.Finalizers, f)
		}
	}

	startGC(t, in)
	cmGone(t, cs, ns, bgDep.Name)
	cmGone(t, cs, ns, fgDep.Name)
	cmGone(t, cs, ns, fg.Name)
	cmGone(t, cs, ns, or.Name)
	if refs := getCM(t, cs, ns, orDep.Name).OwnerReferences; len(refs) != 0 {
		t.Errorf("orphan keeps references %v", refs)
	}
}
