package replicaset_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/flotilla-io/flotilla/pkg/controller/internal/lagtest"
	"github.com/flotilla-io/flotilla/pkg/controller/replicaset"
	"github.com/flotilla-io/flotilla/pkg/server/testserver"
	"github.com/flotilla-io/flotilla/pkg/sim"
	"github.com/flotilla-io/flotilla/pkg/sim/simtest"
)

// eventually is the shared poll of the test server package.
var eventually = testserver.Eventually

// consistently fails if cond stops holding within d.
func consistently(t *testing.T, d time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if ok, state := cond(); !ok {
			t.Fatalf("%s: stopped holding: %s", what, state)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// startControllers runs both controllers on their own client and informer
// factory until the returned stop is called (or the test ends).
func startControllers(t *testing.T, cfg *rest.Config, wrap func(http.RoundTripper) http.RoundTripper) (stop func()) {
	t.Helper()
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = 200, 400
	if wrap != nil {
		cfg.Wrap(wrap)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	factory := informers.NewSharedInformerFactory(cs, 0)
	rs := replicaset.New(cs, factory, log)
	rc := replicaset.NewReplicationController(cs, factory, log)
	ctx, cancel := context.WithCancel(context.Background())
	factory.Start(ctx.Done())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); rs.Run(ctx, 2) }()
	go func() { defer wg.Done(); rc.Run(ctx, 2) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); wg.Wait(); factory.Shutdown() }) }
	t.Cleanup(stop)
	return stop
}

func runSim(t *testing.T, cs kubernetes.Interface) {
	t.Helper()
	simtest.Start(t, cs, sim.Config{Nodes: 3, NamePrefix: "n", CPU: resource.MustParse("8"), Memory: resource.MustParse("32Gi"), Pods: 110,
		LeaseRenewInterval: time.Second, StatusInterval: 2 * time.Second})
}

// namespace creates ns and waits for its default ServiceAccount.
func namespace(t *testing.T, cs kubernetes.Interface, ns string) {
	t.Helper()
	ctx := context.Background()
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	testserver.Settled(t, cs, ns)
}

func template(lbls map[string]string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: lbls, Annotations: map[string]string{"note": "from-template"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "c", Image: "busybox",
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m")}},
		}}},
	}
}

func newRS(name string, replicas int32, lbls map[string]string) *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: &replicas, Selector: &metav1.LabelSelector{MatchLabels: lbls}, Template: template(lbls),
		},
	}
}

func ready(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// owned lists the active pods of ns controlled by uid, sorted by name.
func owned(t *testing.T, cs kubernetes.Interface, ns string, uid types.UID) []corev1.Pod {
	t.Helper()
	list, err := cs.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []corev1.Pod
	for _, p := range list.Items {
		if ref := metav1.GetControllerOf(&p); ref != nil && ref.UID == uid && p.DeletionTimestamp == nil &&
			p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b corev1.Pod) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func podNames(pods []corev1.Pod) []string {
	out := make([]string, len(pods))
	for i, p := range pods {
		out[i] = p.Name
	}
	return out
}

// waitRunning waits until uid controls exactly n active pods, all
// Running and Ready, and returns them.
func waitRunning(t *testing.T, cs kubernetes.Interface, ns string, uid types.UID, n int) []corev1.Pod {
	t.Helper()
	var pods []corev1.Pod
	eventually(t, 30*time.Second, fmt.Sprintf("%d running pods", n), func() (bool, string) {
		pods = owned(t, cs, ns, uid)
		var state []string
		ok := len(pods) == n
		for _, p := range pods {
			state = append(state, fmt.Sprintf("%s:%s/%v/%s", p.Name, p.Status.Phase, ready(&p), p.Spec.NodeName))
			ok = ok && p.Status.Phase == corev1.PodRunning && ready(&p)
		}
		return ok, strings.Join(state, " ")
	})
	return pods
}

func waitRSStatus(t *testing.T, cs kubernetes.Interface, ns, name string, replicas, readyN, available int32) *appsv1.ReplicaSet {
	t.Helper()
	var rs *appsv1.ReplicaSet
	eventually(t, 30*time.Second, "status of "+name, func() (bool, string) {
		var err error
		if rs, err = cs.AppsV1().ReplicaSets(ns).Get(context.Background(), name, metav1.GetOptions{}); err != nil {
			return false, err.Error()
		}
		st := rs.Status
		return st.Replicas == replicas && st.ReadyReplicas == readyN && st.AvailableReplicas == available &&
			st.FullyLabeledReplicas == replicas && st.ObservedGeneration == rs.Generation, fmt.Sprintf("gen %d %+v", rs.Generation, st)
	})
	return rs
}

func scale(t *testing.T, cs kubernetes.Interface, ns, name string, n int32, mutate func(*appsv1.ReplicaSet)) {
	t.Helper()
	ctx := context.Background()
	for {
		rs, err := cs.AppsV1().ReplicaSets(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		rs.Spec.Replicas = &n
		if mutate != nil {
			mutate(rs)
		}
		if _, err = cs.AppsV1().ReplicaSets(ns).Update(ctx, rs, metav1.UpdateOptions{}); err == nil {
			return
		} else if !strings.Contains(err.Error(), "modified") {
			t.Fatal(err)
		}
	}
}

func events(t *testing.T, cs kubernetes.Interface, ns, name, reason string) []corev1.Event {
	t.Helper()
	list, err := cs.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []corev1.Event
	for _, e := range list.Items {
		if e.InvolvedObject.Name == name && e.Reason == reason {
			out = append(out, e)
		}
	}
	return out
}

func TestControllers(t *testing.T) {
	in := testserver.Start(t, testserver.Options{DisableControllers: []string{"replicaset", "replicationcontroller"}})
	cs := in.Clientset(t)
	runSim(t, cs)
	ctx := context.Background()

	t.Run("ReplicaSet", func(t *testing.T) {
		const ns = "rs"
		namespace(t, cs, ns)
		web := map[string]string{"app": "web"}
		// An orphan matching the selector, there before the ReplicaSet.
		if _, err := cs.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "adoptee", Labels: web}, Spec: template(web).Spec}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		stop := startControllers(t, in.RESTConfig(), nil)
		defer stop()
		rs, err := cs.AppsV1().ReplicaSets(ns).Create(ctx, newRS("web", 3, web), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		pods := waitRunning(t, cs, ns, rs.UID, 3)
		if !slices.Contains(podNames(pods), "adoptee") {
			t.Fatalf("orphan not adopted: %v", podNames(pods))
		}
		for _, p := range pods {
			ref := metav1.GetControllerOf(&p)
			if ref.Kind != "ReplicaSet" || ref.APIVersion != "apps/v1" || ref.Name != "web" || ref.BlockOwnerDeletion == nil || !*ref.BlockOwnerDeletion {
				t.Fatalf("pod %s owner reference %+v", p.Name, ref)
			}
			if p.Name != "adoptee" && (p.GenerateName != "web-" || p.Annotations["note"] != "from-template") {
				t.Fatalf("pod %s: generateName %q annotations %v", p.Name, p.GenerateName, p.Annotations)
			}
		}
		waitRSStatus(t, cs, ns, "web", 3, 3, 3)
		if n := len(events(t, cs, ns, "web", "SuccessfulCreate")); n != 2 {
			t.Fatalf("%d SuccessfulCreate events, want 2 (one pod adopted)", n)
		}

		// A deleted pod is replaced at once, while it is still terminating.
		victim := pods[0].Name
		if err := cs.CoreV1().Pods(ns).Delete(ctx, victim, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		pods = waitRunning(t, cs, ns, rs.UID, 3)
		if slices.Contains(podNames(pods), victim) {
			t.Fatalf("deleted pod %s still counted", victim)
		}
		waitRSStatus(t, cs, ns, "web", 3, 3, 3)

		// Up to 5.
		scale(t, cs, ns, "web", 5, nil)
		five := waitRunning(t, cs, ns, rs.UID, 5)
		waitRSStatus(t, cs, ns, "web", 5, 5, 5)

		// A sixth pod that cannot be scheduled; back to 5 removes it.
		scale(t, cs, ns, "web", 6, func(rs *appsv1.ReplicaSet) {
			rs.Spec.Template.Spec.NodeSelector = map[string]string{"no-such": "label"}
		})
		var stuck string
		eventually(t, 20*time.Second, "an unschedulable sixth pod", func() (bool, string) {
			all := owned(t, cs, ns, rs.UID)
			for _, p := range all {
				if p.Spec.NodeName == "" {
					stuck = p.Name
				}
			}
			return len(all) == 6 && stuck != "", fmt.Sprint(podNames(all))
		})
		waitRSStatus(t, cs, ns, "web", 6, 5, 5)
		scale(t, cs, ns, "web", 5, func(rs *appsv1.ReplicaSet) { rs.Spec.Template.Spec.NodeSelector = nil })
		eventually(t, 20*time.Second, "the unscheduled pod removed first", func() (bool, string) {
			now := owned(t, cs, ns, rs.UID)
			return slices.Equal(podNames(now), podNames(five)), fmt.Sprint(podNames(now))
		})

		// Down to 1: four of the running pods go, with their grace period.
		scale(t, cs, ns, "web", 1, nil)
		one := waitRunning(t, cs, ns, rs.UID, 1)
		waitRSStatus(t, cs, ns, "web", 1, 1, 1)
		// The recorder writes Events asynchronously: wait for the fifth,
		// then make sure there is no sixth.
		eventually(t, 20*time.Second, "5 SuccessfulDelete events", func() (bool, string) {
			n := len(events(t, cs, ns, "web", "SuccessfulDelete"))
			return n >= 5, fmt.Sprint(n)
		})
		if n := len(events(t, cs, ns, "web", "SuccessfulDelete")); n != 5 {
			t.Fatalf("%d SuccessfulDelete events, want 5", n)
		}

		// Relabelling releases the pod; a replacement takes its place.
		released := one[0].Name
		patch := []byte(`{"metadata":{"labels":{"app":"elsewhere"}}}`)
		if _, err := cs.CoreV1().Pods(ns).Patch(ctx, released, types.StrategicMergePatchType, patch, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 20*time.Second, "pod released", func() (bool, string) {
			p, err := cs.CoreV1().Pods(ns).Get(ctx, released, metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			return metav1.GetControllerOf(p) == nil, fmt.Sprintf("%+v", p.OwnerReferences)
		})
		one = waitRunning(t, cs, ns, rs.UID, 1)
		if one[0].Name == released {
			t.Fatal("released pod still owned")
		}
		consistently(t, 2*time.Second, "one pod", func() (bool, string) {
			pods := owned(t, cs, ns, rs.UID)
			return len(pods) == 1, fmt.Sprint(podNames(pods))
		})
	})

	// The garbage collector deletes the pods of a deleted ReplicaSet right
	// after it; the controller may see the pods go before it sees the
	// ReplicaSet go (here its ReplicaSet watch is held back) and must not
	// replace them.
	t.Run("NoPodsForADeletedReplicaSet", func(t *testing.T) {
		const ns = "deleted"
		namespace(t, cs, ns)
		var lag lagtest.Lag
		stop := startControllers(t, in.RESTConfig(), lag.Wrap("replicasets"))
		defer stop()
		rs, err := cs.AppsV1().ReplicaSets(ns).Create(ctx, newRS("doomed", 2, map[string]string{"app": "doomed"}), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		pods := waitRunning(t, cs, ns, rs.UID, 2)
		waitRSStatus(t, cs, ns, "doomed", 2, 2, 2)
		podsPath := "/api/v1/namespaces/" + ns + "/pods"
		before := len(lag.Requests(http.MethodPost, podsPath))

		lag.Hold()
		defer lag.Release()
		if err := cs.AppsV1().ReplicaSets(ns).Delete(ctx, "doomed", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		// Done when the pods are being deleted and the controller has seen
		// past its cache that the ReplicaSet is gone, or has created pods.
		eventually(t, 30*time.Second, "the garbage collector deletes the pods and the controller rechecks", func() (bool, string) {
			list, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				return false, err.Error()
			}
			deleting := 0
			for _, p := range list.Items {
				if p.DeletionTimestamp != nil {
					deleting++
				}
			}
			rechecked := lag.Answered(http.MethodGet, "/apis/apps/v1/namespaces/"+ns+"/replicasets/doomed", http.StatusNotFound)
			created := len(lag.Requests(http.MethodPost, podsPath)) - before
			return created > 0 || len(list.Items) == deleting && rechecked, fmt.Sprintf("%d pods, %d deleting; %d created; rechecked %v", len(list.Items), deleting, created, rechecked)
		})
		if created := lag.Requests(http.MethodPost, podsPath)[before:]; len(created) > 0 {
			t.Fatalf("the deleted ReplicaSet created %d pods (%v) to replace %v", len(created), created, podNames(pods))
		}
	})

	t.Run("ReplicaFailure", func(t *testing.T) {
		const ns = "failure"
		namespace(t, cs, ns)
		startControllers(t, in.RESTConfig(), nil)
		lbls := map[string]string{"app": "prio"}
		rs := newRS("prio", 2, lbls)
		rs.Spec.Template.Spec.PriorityClassName = "later"
		rs, err := cs.AppsV1().ReplicaSets(ns).Create(ctx, rs, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, 20*time.Second, "ReplicaFailure", func() (bool, string) {
			got, err := cs.AppsV1().ReplicaSets(ns).Get(ctx, "prio", metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			for _, c := range got.Status.Conditions {
				if c.Type == appsv1.ReplicaSetReplicaFailure && c.Status == corev1.ConditionTrue && c.Reason == "FailedCreate" {
					return len(events(t, cs, ns, "prio", "FailedCreate")) > 0, "no FailedCreate event"
				}
			}
			return false, fmt.Sprintf("%+v", got.Status)
		})
		if _, err := cs.SchedulingV1().PriorityClasses().Create(ctx, &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "later"}, Value: 10}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		waitRunning(t, cs, ns, rs.UID, 2)
		eventually(t, 30*time.Second, "condition cleared", func() (bool, string) {
			got, err := cs.AppsV1().ReplicaSets(ns).Get(ctx, "prio", metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			return len(got.Status.Conditions) == 0 && got.Status.ReadyReplicas == 2, fmt.Sprintf("%+v", got.Status)
		})
	})

	t.Run("ReplicationController", func(t *testing.T) {
		const ns = "rc"
		namespace(t, cs, ns)
		startControllers(t, in.RESTConfig(), nil)
		two := int32(2)
		lbls := map[string]string{"app": "legacy"}
		tmpl := template(lbls)
		rc, err := cs.CoreV1().ReplicationControllers(ns).Create(ctx, &corev1.ReplicationController{
			ObjectMeta: metav1.ObjectMeta{Name: "legacy"},
			// Available only 2 s after Ready: nothing but the controller's
			// own timer tells it when.
			Spec: corev1.ReplicationControllerSpec{Replicas: &two, Selector: lbls, Template: &tmpl, MinReadySeconds: 2},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		pods := waitRunning(t, cs, ns, rc.UID, 2)
		if ref := metav1.GetControllerOf(&pods[0]); ref.Kind != "ReplicationController" || ref.APIVersion != "v1" {
			t.Fatalf("owner reference %+v", ref)
		}
		eventually(t, 20*time.Second, "rc ready, not yet available", func() (bool, string) {
			got, err := cs.CoreV1().ReplicationControllers(ns).Get(ctx, "legacy", metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			return got.Status.ReadyReplicas == 2, fmt.Sprintf("%+v", got.Status)
		})
		eventually(t, 20*time.Second, "rc status", func() (bool, string) {
			got, err := cs.CoreV1().ReplicationControllers(ns).Get(ctx, "legacy", metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			st := got.Status
			return st.Replicas == 2 && st.ReadyReplicas == 2 && st.AvailableReplicas == 2 && st.FullyLabeledReplicas == 2 &&
				st.ObservedGeneration == got.Generation, fmt.Sprintf("%+v", st)
		})
		if err := cs.CoreV1().Pods(ns).Delete(ctx, pods[1].Name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		after := waitRunning(t, cs, ns, rc.UID, 2)
		if slices.Contains(podNames(after), pods[1].Name) {
			t.Fatalf("deleted pod still counted: %v", podNames(after))
		}
	})

	t.Run("RestartMidScaleUp", func(t *testing.T) {
		const ns = "restart"
		const total, first = 30, 7
		namespace(t, cs, ns)
		// The first controller gets 7 pods through; later creations hang
		// until it stops, never reaching the server.
		var created atomic.Int32
		stop := startControllers(t, in.RESTConfig(), func(rt http.RoundTripper) http.RoundTripper {
			return roundTripFunc(func(r *http.Request) (*http.Response, error) {
				if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/namespaces/"+ns+"/pods") && created.Add(1) > first {
					<-r.Context().Done()
					return nil, r.Context().Err()
				}
				return rt.RoundTrip(r)
			})
		})
		rs, err := cs.AppsV1().ReplicaSets(ns).Create(ctx, newRS("burst", total, map[string]string{"app": "burst"}), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, 20*time.Second, "first pods", func() (bool, string) {
			n := len(owned(t, cs, ns, rs.UID))
			return n == first && created.Load() > first, fmt.Sprintf("%d pods, %d creations", n, created.Load())
		})
		stop()
		startControllers(t, in.RESTConfig(), nil)
		waitRunning(t, cs, ns, rs.UID, total)
		consistently(t, 3*time.Second, "exactly 30 pods, none deleted", func() (bool, string) {
			list, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				return false, err.Error()
			}
			return len(list.Items) == total && len(events(t, cs, ns, "burst", "SuccessfulDelete")) == 0, fmt.Sprintf("%d pods", len(list.Items))
		})
		// The recorder folds similar Events into one with a count, and
		// its spam filter passes 25 Events of one object at once (then
		// one per 5 min), as upstream's: the creations counted are at
		// least those 25 and never more than the pods.
		eventually(t, 10*time.Second, "SuccessfulCreate Events", func() (bool, string) {
			n := int32(0)
			for _, e := range events(t, cs, ns, "burst", "SuccessfulCreate") {
				n += max(e.Count, 1)
			}
			return n >= 25 && n <= total, fmt.Sprintf("%d SuccessfulCreate counted, want 25 to %d", n, total)
		})
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
