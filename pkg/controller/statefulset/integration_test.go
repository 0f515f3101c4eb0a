package statefulset_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/flotilla-io/flotilla/pkg/controller/internal/lagtest"
	"github.com/flotilla-io/flotilla/pkg/controller/persistentvolume"
	"github.com/flotilla-io/flotilla/pkg/controller/statefulset"
	"github.com/flotilla-io/flotilla/pkg/server/testserver"
	"github.com/flotilla-io/flotilla/pkg/sim"
	"github.com/flotilla-io/flotilla/pkg/sim/simtest"
)

// eventually is the shared poll of the test server package.
var eventually = testserver.Eventually

// cluster starts a control plane, two simulated nodes and both
// controllers; it returns the client and the storage base directory.
func cluster(t *testing.T) (kubernetes.Interface, string) {
	in := testserver.Start(t, testserver.Options{DisableControllers: []string{"statefulset", "persistentvolume"}})
	cs := in.Clientset(t)
	level := slog.LevelWarn
	if os.Getenv("FLOTILLA_TEST_DEBUG") != "" {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	ctx, cancel := context.WithCancel(context.Background())
	factory := informers.NewSharedInformerFactory(cs, 0)
	base := t.TempDir()
	sc := statefulset.New(cs, factory, log)
	pc := persistentvolume.New(cs, factory, persistentvolume.Config{BaseDir: base, ResyncPeriod: time.Second}, log)
	simtest.Start(t, cs, sim.Config{Nodes: 2, NamePrefix: "n", CPU: resource.MustParse("8"), Memory: resource.MustParse("32Gi"), Pods: 110, LeaseRenewInterval: time.Second})
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); factory.Shutdown(); wg.Wait() })
	for _, run := range []func(){func() { sc.Run(ctx, 2) }, func() { pc.Run(ctx, 2) }} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			run()
		}()
	}
	factory.Start(ctx.Done())
	return cs, base
}

func namespace(t *testing.T, cs kubernetes.Interface, ns string) {
	t.Helper()
	ctx := context.Background()
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	testserver.Settled(t, cs, ns)
}

func newSet(ns, name string, replicas int32, policy appsv1.PodManagementPolicyType) *appsv1.StatefulSet {
	lbls := map[string]string{"app": name}
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: appsv1.StatefulSetSpec{
			Replicas:            &replicas,
			ServiceName:         name,
			PodManagementPolicy: policy,
			Selector:            &metav1.LabelSelector{MatchLabels: lbls},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: lbls},
				Spec: corev1.PodSpec{
					TerminationGracePeriodSeconds: ptr.To[int64](1),
					// Replaced by the claim's volume. Flotilla's validation (unlike
					// upstream's) wants every mount backed by a template volume.
					Volumes:    []corev1.Volume{{Name: "www", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
					Containers: []corev1.Container{{Name: "c", Image: "nginx:1", VolumeMounts: []corev1.VolumeMount{{Name: "www", MountPath: "/usr/share/nginx/html"}}}},
				},
			},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: "www", Labels: map[string]string{"tier": "data"}},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
				},
			}},
		},
	}
}

func ready(p *corev1.Pod) bool {
	if p.Status.Phase != corev1.PodRunning || p.DeletionTimestamp != nil {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// recorder watches the namespace's pods and keeps what happened in order.
type recorder struct {
	mu     sync.Mutex
	latest map[string]*corev1.Pod
	log    []string // "ADDED web-0 rev", "DELETING web-2", "DELETED web-2"
	faults []string
}

func record(t *testing.T, cs kubernetes.Interface, ns string, check func(r *recorder, ev watch.EventType, p *corev1.Pod)) *recorder {
	t.Helper()
	r := &recorder{latest: map[string]*corev1.Pod{}}
	w, err := cs.CoreV1().Pods(ns).Watch(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { w.Stop(); <-done })
	go func() {
		defer close(done)
		for ev := range w.ResultChan() {
			p, ok := ev.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			r.mu.Lock()
			old := r.latest[p.Name]
			switch {
			case ev.Type == watch.Added:
				r.log = append(r.log, "ADDED "+p.Name+" "+p.Labels[statefulset.RevisionLabel])
			case ev.Type == watch.Deleted:
				r.log = append(r.log, "DELETED "+p.Name)
			case p.DeletionTimestamp != nil && (old == nil || old.DeletionTimestamp == nil):
				r.log = append(r.log, "DELETING "+p.Name)
			}
			if check != nil {
				check(r, ev.Type, p)
			}
			if ev.Type == watch.Deleted {
				delete(r.latest, p.Name)
			} else {
				r.latest[p.Name] = p
			}
			r.mu.Unlock()
		}
	}()
	return r
}

func (r *recorder) events(prefix string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.log {
		if strings.HasPrefix(e, prefix) {
			out = append(out, e)
		}
	}
	return out
}

func (r *recorder) faultsSoFar() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.faults)
}

func getSet(t *testing.T, cs kubernetes.Interface, ns, name string) *appsv1.StatefulSet {
	t.Helper()
	set, err := cs.AppsV1().StatefulSets(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// waitSettled waits until the set's status reports want ready replicas,
// all at one revision, for its current generation.
func waitSettled(t *testing.T, cs kubernetes.Interface, ns, name string, want int32, updated int32) *appsv1.StatefulSet {
	t.Helper()
	var set *appsv1.StatefulSet
	eventually(t, 60*time.Second, "statefulset "+name+" settled", func() (bool, string) {
		set = getSet(t, cs, ns, name)
		st := set.Status
		return st.ObservedGeneration == set.Generation && st.Replicas == want && st.ReadyReplicas == want &&
			st.AvailableReplicas == want && st.UpdatedReplicas == updated, fmt.Sprintf("gen %d %+v", set.Generation, st)
	})
	return set
}

func listPods(t *testing.T, cs kubernetes.Interface, ns string) map[string]corev1.Pod {
	t.Helper()
	list, err := cs.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]corev1.Pod{}
	for _, p := range list.Items {
		out[p.Name] = p
	}
	return out
}

func TestStatefulSet(t *testing.T) {
	cs, base := cluster(t)
	ctx := context.Background()

	t.Run("OrderedReady", func(t *testing.T) {
		const ns = "ordered"
		namespace(t, cs, ns)
		// No pod may appear before its predecessor is Running and Ready,
		// and no pod may start terminating while a higher one exists.
		rec := record(t, cs, ns, func(r *recorder, ev watch.EventType, p *corev1.Pod) {
			set, ord := "web", 0
			if _, err := fmt.Sscanf(p.Name, "web-%d", &ord); err != nil {
				return
			}
			if ev == watch.Added && ord > 0 {
				if prev := r.latest[fmt.Sprintf("%s-%d", set, ord-1)]; prev == nil || !ready(prev) {
					r.faults = append(r.faults, fmt.Sprintf("%s created while %s-%d not ready", p.Name, set, ord-1))
				}
			}
		})
		if _, err := cs.AppsV1().StatefulSets(ns).Create(ctx, newSet(ns, "web", 3, appsv1.OrderedReadyPodManagement), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		set := waitSettled(t, cs, ns, "web", 3, 3)
		if f := rec.faultsSoFar(); len(f) > 0 {
			t.Fatalf("order violated: %v", f)
		}
		if got := rec.events("ADDED"); len(got) != 3 || !strings.HasPrefix(got[0], "ADDED web-0") || !strings.HasPrefix(got[1], "ADDED web-1") || !strings.HasPrefix(got[2], "ADDED web-2") {
			t.Fatalf("creation order %v", got)
		}
		if set.Status.CurrentRevision == "" || set.Status.CurrentRevision != set.Status.UpdateRevision || set.Status.CurrentReplicas != 3 {
			t.Fatalf("revisions in status %+v", set.Status)
		}

		pods := listPods(t, cs, ns)
		for i := range 3 {
			name := fmt.Sprintf("web-%d", i)
			p := pods[name]
			if p.Spec.Hostname != name || p.Spec.Subdomain != "web" {
				t.Errorf("%s: hostname %q subdomain %q", name, p.Spec.Hostname, p.Spec.Subdomain)
			}
			if p.Labels[statefulset.PodNameLabel] != name || p.Labels[statefulset.PodIndexLabel] != fmt.Sprint(i) || p.Labels[statefulset.RevisionLabel] != set.Status.UpdateRevision {
				t.Errorf("%s: labels %v", name, p.Labels)
			}
			if ref := metav1.GetControllerOf(&p); ref == nil || ref.UID != set.UID {
				t.Errorf("%s: controller %+v", name, ref)
			}
			if len(p.Spec.Volumes) == 0 || p.Spec.Volumes[0].PersistentVolumeClaim == nil || p.Spec.Volumes[0].PersistentVolumeClaim.ClaimName != "www-"+name {
				t.Errorf("%s: volumes %+v", name, p.Spec.Volumes)
			}
		}

		// Claims are bound to local-path volumes on their pod's node.
		claimUIDs := map[string]string{}
		for i := range 3 {
			name := fmt.Sprintf("www-web-%d", i)
			var pvc *corev1.PersistentVolumeClaim
			eventually(t, 20*time.Second, name+" bound", func() (bool, string) {
				var err error
				pvc, err = cs.CoreV1().PersistentVolumeClaims(ns).Get(ctx, name, metav1.GetOptions{})
				if err != nil {
					return false, err.Error()
				}
				return pvc.Status.Phase == corev1.ClaimBound, fmt.Sprintf("%+v %+v", pvc.Spec, pvc.Status)
			})
			claimUIDs[name] = string(pvc.UID)
			if pvc.Labels["tier"] != "data" || pvc.Labels["app"] != "web" || ptr.Deref(pvc.Spec.StorageClassName, "") != persistentvolume.LocalPathClass {
				t.Errorf("%s: labels %v class %v", name, pvc.Labels, pvc.Spec.StorageClassName)
			}
			pv, err := cs.CoreV1().PersistentVolumes().Get(ctx, pvc.Spec.VolumeName, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			node := pods[fmt.Sprintf("web-%d", i)].Spec.NodeName
			terms := pv.Spec.NodeAffinity.Required.NodeSelectorTerms
			if len(terms) != 1 || terms[0].MatchExpressions[0].Values[0] != node {
				t.Errorf("%s: volume affinity %+v, pod on %s", name, terms, node)
			}
			if want := persistentvolume.VolumePath(base, ns, name, pv.Name); pv.Spec.HostPath == nil || pv.Spec.HostPath.Path != want {
				t.Errorf("%s: volume source %+v, want path %s", name, pv.Spec.PersistentVolumeSource, want)
			}
			if pv.Status.Phase != corev1.VolumeBound || pv.Spec.ClaimRef == nil || pv.Spec.ClaimRef.UID != pvc.UID {
				t.Errorf("%s: volume %s phase %s claimRef %+v", name, pv.Name, pv.Status.Phase, pv.Spec.ClaimRef)
			}
		}

		// A deleted pod comes back under its name, with its claim.
		old := pods["web-1"]
		if err := cs.CoreV1().Pods(ns).Delete(ctx, "web-1", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 30*time.Second, "web-1 recreated", func() (bool, string) {
			p, err := cs.CoreV1().Pods(ns).Get(ctx, "web-1", metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			return p.UID != old.UID && ready(p), string(p.Status.Phase)
		})
		p, _ := cs.CoreV1().Pods(ns).Get(ctx, "web-1", metav1.GetOptions{})
		pvc, err := cs.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "www-web-1", metav1.GetOptions{})
		if err != nil || string(pvc.UID) != claimUIDs["www-web-1"] || p.Spec.Volumes[0].PersistentVolumeClaim.ClaimName != "www-web-1" {
			t.Fatalf("claim of recreated web-1: %v %v", err, p.Spec.Volumes)
		}
		waitSettled(t, cs, ns, "web", 3, 3)

		// Rolling update with partition 1: web-2 then web-1, not web-0.
		set = getSet(t, cs, ns, "web")
		oldRev := set.Status.UpdateRevision
		set.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType,
			RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: ptr.To[int32](1)}}
		set.Spec.Template.Spec.Containers[0].Image = "nginx:2"
		if _, err := cs.AppsV1().StatefulSets(ns).Update(ctx, set, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		mark := len(rec.events(""))
		set = waitSettled(t, cs, ns, "web", 3, 2)
		if set.Status.UpdateRevision == oldRev || set.Status.CurrentRevision != oldRev || set.Status.CurrentReplicas != 1 {
			t.Fatalf("partitioned status %+v (old revision %s)", set.Status, oldRev)
		}
		var order []string
		for _, e := range rec.events("")[mark:] {
			if !strings.HasPrefix(e, "DELETED") {
				order = append(order, e)
			}
		}
		want := []string{"DELETING web-2", "ADDED web-2 " + set.Status.UpdateRevision, "DELETING web-1", "ADDED web-1 " + set.Status.UpdateRevision}
		if !slices.Equal(order, want) {
			t.Fatalf("update order %v, want %v", order, want)
		}
		pods = listPods(t, cs, ns)
		if pods["web-0"].Labels[statefulset.RevisionLabel] != oldRev || pods["web-0"].Spec.Containers[0].Image != "nginx:1" || pods["web-2"].Spec.Containers[0].Image != "nginx:2" {
			t.Fatalf("revisions after partitioned update: web-0 %s web-2 %s", pods["web-0"].Spec.Containers[0].Image, pods["web-2"].Spec.Containers[0].Image)
		}

		// Partition 0 finishes the rollout; the update revision becomes current.
		set.Spec.UpdateStrategy.RollingUpdate.Partition = ptr.To[int32](0)
		if _, err := cs.AppsV1().StatefulSets(ns).Update(ctx, set, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 60*time.Second, "rollout complete", func() (bool, string) {
			set = getSet(t, cs, ns, "web")
			st := set.Status
			return st.ObservedGeneration == set.Generation && st.UpdatedReplicas == 3 && st.ReadyReplicas == 3 &&
				st.CurrentRevision == st.UpdateRevision, fmt.Sprintf("%+v", st)
		})
		revs, err := cs.AppsV1().ControllerRevisions(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
		if err != nil || len(revs.Items) != 2 {
			t.Fatalf("controller revisions: %v %d", err, len(revs.Items))
		}
		for _, r := range revs.Items {
			if ref := metav1.GetControllerOf(&r); ref == nil || ref.UID != set.UID || !strings.Contains(string(r.Data.Raw), `"$patch":"replace"`) {
				t.Errorf("revision %s: owner %+v data %s", r.Name, ref, r.Data.Raw)
			}
		}

		// Scale down to 1: web-2 goes, then web-1; claims stay.
		mark = len(rec.events(""))
		if _, err := cs.AppsV1().StatefulSets(ns).Patch(ctx, "web", "application/merge-patch+json", []byte(`{"spec":{"replicas":1}}`), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		waitSettled(t, cs, ns, "web", 1, 1)
		order = rec.events("")[mark:]
		want = []string{"DELETING web-2", "DELETED web-2", "DELETING web-1", "DELETED web-1"}
		if !slices.Equal(order, want) {
			t.Fatalf("scale-down order %v, want %v", order, want)
		}
		claims, err := cs.CoreV1().PersistentVolumeClaims(ns).List(ctx, metav1.ListOptions{})
		if err != nil || len(claims.Items) != 3 {
			t.Fatalf("claims after scale-down: %v %d", err, len(claims.Items))
		}
	})

	t.Run("Parallel", func(t *testing.T) {
		const ns = "parallel"
		namespace(t, cs, ns)
		set := newSet(ns, "par", 3, appsv1.ParallelPodManagement)
		set.Spec.VolumeClaimTemplates = nil
		// Pods never become Ready: OrderedReady would stop at par-0.
		set.Spec.Template.Spec.ReadinessGates = []corev1.PodReadinessGate{{ConditionType: "example.com/never"}}
		if _, err := cs.AppsV1().StatefulSets(ns).Create(ctx, set, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 30*time.Second, "three pods running", func() (bool, string) {
			pods := listPods(t, cs, ns)
			running := 0
			for _, p := range pods {
				if p.Status.Phase == corev1.PodRunning && p.Spec.Hostname == p.Name && p.Spec.Subdomain == "par" {
					running++
				}
			}
			return running == 3, fmt.Sprint(len(pods), " pods")
		})
		set = getSet(t, cs, ns, "par")
		eventually(t, 10*time.Second, "status", func() (bool, string) {
			set = getSet(t, cs, ns, "par")
			return set.Status.Replicas == 3 && set.Status.ReadyReplicas == 0, fmt.Sprintf("%+v", set.Status)
		})
		// Parallel scale-down removes both at once.
		if _, err := cs.AppsV1().StatefulSets(ns).Patch(ctx, "par", "application/merge-patch+json", []byte(`{"spec":{"replicas":1}}`), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 30*time.Second, "scaled down", func() (bool, string) {
			pods := listPods(t, cs, ns)
			_, ok := pods["par-0"]
			return len(pods) == 1 && ok, fmt.Sprint(len(pods), " pods")
		})
	})

	t.Run("FailedPodRecreated", func(t *testing.T) {
		const ns = "failed"
		namespace(t, cs, ns)
		set := newSet(ns, "db", 1, appsv1.OrderedReadyPodManagement)
		set.Spec.VolumeClaimTemplates = nil
		if _, err := cs.AppsV1().StatefulSets(ns).Create(ctx, set, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		waitSettled(t, cs, ns, "db", 1, 1)
		p, err := cs.CoreV1().Pods(ns).Get(ctx, "db-0", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		p.Status.Phase = corev1.PodFailed
		if _, err := cs.CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 30*time.Second, "db-0 recreated", func() (bool, string) {
			q, err := cs.CoreV1().Pods(ns).Get(ctx, "db-0", metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				return false, "gone"
			}
			if err != nil {
				return false, err.Error()
			}
			return q.UID != p.UID && ready(q), string(q.Status.Phase)
		})
		// The replacement fails too: replaced again, after a back-off.
		q, err := cs.CoreV1().Pods(ns).Get(ctx, "db-0", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		q.Status.Phase, q.Status.Reason = corev1.PodFailed, "NodePorts"
		if _, err := cs.CoreV1().Pods(ns).UpdateStatus(ctx, q, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 30*time.Second, "db-0 recreated again", func() (bool, string) {
			r, err := cs.CoreV1().Pods(ns).Get(ctx, "db-0", metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			return r.UID != q.UID && r.UID != p.UID && ready(r), string(r.Status.Phase)
		})
	})
}

// The garbage collector deletes the pods of a deleted StatefulSet right
// after it; the controller may see them go before it sees the set go (here
// its StatefulSet watch is held back) and must not recreate them.
func TestNoPodsForADeletedStatefulSet(t *testing.T) {
	in := testserver.Start(t, testserver.Options{DisableControllers: []string{"statefulset"}})
	cs := in.Clientset(t)
	ctx, cancel := context.WithCancel(context.Background())
	var lag lagtest.Lag
	cfg := in.RESTConfig()
	cfg.Wrap(lag.Wrap("statefulsets"))
	ccs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	factory := informers.NewSharedInformerFactory(ccs, 0)
	var wg sync.WaitGroup
	t.Cleanup(func() { lag.Release(); cancel(); factory.Shutdown(); wg.Wait() })
	simtest.Start(t, cs, sim.Config{Nodes: 2, NamePrefix: "n", CPU: resource.MustParse("8"), Memory: resource.MustParse("32Gi"), Pods: 110, LeaseRenewInterval: time.Second})
	const ns = "deleted"
	namespace(t, cs, ns)
	sc := statefulset.New(ccs, factory, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	factory.Start(ctx.Done())
	wg.Add(1)
	go func() { defer wg.Done(); sc.Run(ctx, 2) }()

	set := newSet(ns, "doomed", 2, appsv1.ParallelPodManagement)
	set.Spec.VolumeClaimTemplates = nil
	if _, err := cs.AppsV1().StatefulSets(ns).Create(ctx, set, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "two running pods", func() (bool, string) {
		pods := listPods(t, cs, ns)
		running := 0
		for _, p := range pods {
			if p.Status.Phase == corev1.PodRunning {
				running++
			}
		}
		return running == 2, fmt.Sprintf("%d pods, %d running", len(pods), running)
	})
	podsPath := "/api/v1/namespaces/" + ns + "/pods"
	before := len(lag.Requests("POST", podsPath))

	lag.Hold()
	if err := cs.AppsV1().StatefulSets(ns).Delete(ctx, "doomed", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// Done when the pods are gone and the controller has seen past its
	// cache that the set is gone, or has created pods.
	eventually(t, 30*time.Second, "the garbage collector deletes the pods and the controller rechecks", func() (bool, string) {
		pods := listPods(t, cs, ns)
		rechecked := lag.Answered("GET", "/apis/apps/v1/namespaces/"+ns+"/statefulsets/doomed", 404)
		created := len(lag.Requests("POST", podsPath)) - before
		return created > 0 || len(pods) == 0 && rechecked, fmt.Sprintf("%d pods; %d created; rechecked %v", len(pods), created, rechecked)
	})
	if created := lag.Requests("POST", podsPath)[before:]; len(created) > 0 {
		t.Fatalf("the deleted StatefulSet created %d pods: %v", len(created), created)
	}
}
