package deployment_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/flotilla-io/flotilla/pkg/controller/deployment"
	"github.com/flotilla-io/flotilla/pkg/controller/internal/lagtest"
	"github.com/flotilla-io/flotilla/pkg/server/testserver"
)

const ns = "deploy"

// heldImage marks templates whose pods never become available.
const heldImage = "held"

// statusFaker is a test double for the ReplicaSet controller, which the
// test server does not run: it reports every ReplicaSet as having exactly
// spec.replicas pods, all ready and available — except ReplicaSets whose
// first container image is heldImage, whose pods never become ready.
func statusFaker(ctx context.Context, cs kubernetes.Interface, factory informers.SharedInformerFactory) {
	report := func(obj any) {
		rs, ok := obj.(*appsv1.ReplicaSet)
		if !ok || ctx.Err() != nil {
			return
		}
		n := int32(1)
		if rs.Spec.Replicas != nil {
			n = *rs.Spec.Replicas
		}
		avail := n
		if c := rs.Spec.Template.Spec.Containers; len(c) > 0 && c[0].Image == heldImage {
			avail = 0
		}
		want := appsv1.ReplicaSetStatus{Replicas: n, FullyLabeledReplicas: n, ReadyReplicas: avail, AvailableReplicas: avail, ObservedGeneration: rs.Generation}
		if rs.Status.Replicas == want.Replicas && rs.Status.AvailableReplicas == want.AvailableReplicas && rs.Status.ReadyReplicas == want.ReadyReplicas && rs.Status.ObservedGeneration == want.ObservedGeneration {
			return
		}
		cp := rs.DeepCopy()
		cp.Status = want
		// A conflict means a newer version is on its way to this handler.
		_, _ = cs.AppsV1().ReplicaSets(rs.Namespace).UpdateStatus(ctx, cp, metav1.UpdateOptions{})
	}
	_, _ = factory.Apps().V1().ReplicaSets().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: report, UpdateFunc: func(_, n any) { report(n) },
	})
}

// eventually is the shared poll of the test server package.
var eventually = testserver.Eventually

// rolloutStatus is kubectl's deployment status viewer (kubectl rollout
// status): done, the message, and the deadline error.
func rolloutStatus(d *appsv1.Deployment) (bool, string, error) {
	if d.Generation > d.Status.ObservedGeneration {
		return false, "Waiting for deployment spec update to be observed...", nil
	}
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Reason == deployment.TimedOutReason {
			return false, "", fmt.Errorf("deployment %q exceeded its progress deadline", d.Name)
		}
	}
	st := d.Status
	switch {
	case d.Spec.Replicas != nil && st.UpdatedReplicas < *d.Spec.Replicas:
		return false, fmt.Sprintf("Waiting for deployment %q rollout to finish: %d out of %d new replicas have been updated...", d.Name, st.UpdatedReplicas, *d.Spec.Replicas), nil
	case st.Replicas > st.UpdatedReplicas:
		return false, fmt.Sprintf("Waiting for deployment %q rollout to finish: %d old replicas are pending termination...", d.Name, st.Replicas-st.UpdatedReplicas), nil
	case st.AvailableReplicas < st.UpdatedReplicas:
		return false, fmt.Sprintf("Waiting for deployment %q rollout to finish: %d of %d updated replicas are available...", d.Name, st.AvailableReplicas, st.UpdatedReplicas), nil
	}
	return true, fmt.Sprintf("deployment %q successfully rolled out", d.Name), nil
}

type env struct {
	t   *testing.T
	cs  kubernetes.Interface
	ctx context.Context
}

func (e *env) get(name string) *appsv1.Deployment {
	e.t.Helper()
	d, err := e.cs.AppsV1().Deployments(ns).Get(e.ctx, name, metav1.GetOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	return d
}

// update applies mutate to a fresh copy of the Deployment until it sticks.
func (e *env) update(name string, mutate func(*appsv1.Deployment)) {
	e.t.Helper()
	for range 20 {
		d := e.get(name)
		mutate(d)
		if _, err := e.cs.AppsV1().Deployments(ns).Update(e.ctx, d, metav1.UpdateOptions{}); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	e.t.Fatalf("update %s kept failing", name)
}

// replicaSets lists the Deployment's ReplicaSets, oldest revision first.
func (e *env) replicaSets(name string) []appsv1.ReplicaSet {
	e.t.Helper()
	list, err := e.cs.AppsV1().ReplicaSets(ns).List(e.ctx, metav1.ListOptions{LabelSelector: "app=" + name})
	if err != nil {
		e.t.Fatal(err)
	}
	out := list.Items
	sort.Slice(out, func(i, j int) bool {
		return out[i].Annotations[deployment.RevisionAnnotation] < out[j].Annotations[deployment.RevisionAnnotation]
	})
	return out
}

// waitRolledOut waits for kubectl rollout status to report success.
func (e *env) waitRolledOut(name string) *appsv1.Deployment {
	e.t.Helper()
	var d *appsv1.Deployment
	eventually(e.t, 20*time.Second, "rollout of "+name, func() (bool, string) {
		d = e.get(name)
		done, msg, err := rolloutStatus(d)
		if err != nil {
			return false, err.Error()
		}
		return done && msg == fmt.Sprintf("deployment %q successfully rolled out", name), fmt.Sprintf("%s %+v", msg, d.Status)
	})
	return d
}

func summary(rss []appsv1.ReplicaSet) string {
	var b strings.Builder
	for _, rs := range rss {
		fmt.Fprintf(&b, "[%s rev=%s spec=%d avail=%d] ", rs.Name, rs.Annotations[deployment.RevisionAnnotation], *rs.Spec.Replicas, rs.Status.AvailableReplicas)
	}
	return b.String()
}

func newDeployment(name string, n int32, image string) *appsv1.Deployment {
	lbl := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{deployment.ChangeCauseAnnotation: "create " + image}},
		Spec: appsv1.DeploymentSpec{
			Replicas: &n,
			Selector: &metav1.LabelSelector{MatchLabels: lbl},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: lbl},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: image}}},
			},
		},
	}
}

func (e *env) create(d *appsv1.Deployment) {
	e.t.Helper()
	if _, err := e.cs.AppsV1().Deployments(ns).Create(e.ctx, d, metav1.CreateOptions{}); err != nil {
		e.t.Fatal(err)
	}
}

// observer records every spec.replicas (and status.replicas) the watch
// shows for a Deployment's ReplicaSets, calling check with the sizes after
// each change.
type observer struct {
	mu     sync.Mutex
	spec   map[string]int32
	status map[string]int32
	states []string
	errs   []string
}

func (e *env) observe(name string, check func(spec, status map[string]int32) string) (*observer, func()) {
	e.t.Helper()
	w, err := e.cs.AppsV1().ReplicaSets(ns).Watch(e.ctx, metav1.ListOptions{LabelSelector: "app=" + name})
	if err != nil {
		e.t.Fatal(err)
	}
	o := &observer{spec: map[string]int32{}, status: map[string]int32{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range w.ResultChan() {
			rs, ok := ev.Object.(*appsv1.ReplicaSet)
			if !ok {
				continue
			}
			o.mu.Lock()
			if ev.Type == watch.Deleted {
				delete(o.spec, rs.Name)
				delete(o.status, rs.Name)
			} else {
				o.spec[rs.Name], o.status[rs.Name] = *rs.Spec.Replicas, rs.Status.Replicas
			}
			o.states = append(o.states, fmt.Sprint(o.spec))
			if msg := check(o.spec, o.status); msg != "" {
				o.errs = append(o.errs, msg)
			}
			o.mu.Unlock()
		}
	}()
	return o, func() { w.Stop(); <-done }
}

func TestDeploymentController(t *testing.T) {
	in := testserver.Start(t, testserver.Options{DisableControllers: []string{"deployment", "replicaset"}})
	cs := in.Clientset(t)
	ctx, cancel := context.WithCancel(context.Background())
	factory := informers.NewSharedInformerFactory(cs, 0)
	fakerFactory := informers.NewSharedInformerFactory(cs, 0)
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); factory.Shutdown(); fakerFactory.Shutdown(); wg.Wait() })

	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	c := deployment.New(cs, factory, log)
	statusFaker(ctx, cs, fakerFactory)
	factory.Start(ctx.Done())
	fakerFactory.Start(ctx.Done())
	wg.Add(1)
	go func() { defer wg.Done(); c.Run(ctx, 2) }()

	t.Run("rolling update, undo, pause", func(t *testing.T) {
		e := &env{t: t, cs: cs, ctx: ctx}
		e.create(newDeployment("web", 4, "nginx:1"))
		d := e.waitRolledOut("web")
		rss := e.replicaSets("web")
		if len(rss) != 1 {
			t.Fatalf("replica sets: %s", summary(rss))
		}
		v1 := rss[0]
		hash := v1.Labels[appsv1.DefaultDeploymentUniqueLabelKey]
		ref := metav1.GetControllerOf(&v1)
		switch {
		case v1.Name != "web-"+hash || hash == "" || v1.Spec.Selector.MatchLabels[appsv1.DefaultDeploymentUniqueLabelKey] != hash ||
			v1.Spec.Template.Labels[appsv1.DefaultDeploymentUniqueLabelKey] != hash:
			t.Fatalf("hash naming/labels: %s %v %v", v1.Name, v1.Labels, v1.Spec.Selector)
		case ref == nil || ref.UID != d.UID || ref.Kind != "Deployment":
			t.Fatalf("controller ref %+v", v1.OwnerReferences)
		case *v1.Spec.Replicas != 4 || v1.Annotations[deployment.RevisionAnnotation] != "1" ||
			v1.Annotations[deployment.DesiredReplicasAnnotation] != "4" || v1.Annotations[deployment.MaxReplicasAnnotation] != "5" ||
			v1.Annotations[deployment.ChangeCauseAnnotation] != "create nginx:1":
			t.Fatalf("first replica set: %d %v", *v1.Spec.Replicas, v1.Annotations)
		case d.Annotations[deployment.RevisionAnnotation] != "1":
			t.Fatalf("deployment revision %v", d.Annotations)
		}
		expectConditions(t, d, "MinimumReplicasAvailable", deployment.NewRSAvailableReason)
		if st := d.Status; st.Replicas != 4 || st.UpdatedReplicas != 4 || st.ReadyReplicas != 4 || st.AvailableReplicas != 4 || st.UnavailableReplicas != 0 {
			t.Fatalf("status %+v", st)
		}

		// kubectl set image: a rolling update within 25%/25% of 4 = surge 1, unavailable 1.
		o, stop := e.observe("web", func(spec, _ map[string]int32) string {
			var total int32
			for _, n := range spec {
				total += n
			}
			if total > 5 || total < 3 {
				return fmt.Sprintf("total %d outside [3,5]: %v", total, spec)
			}
			return ""
		})
		e.update("web", func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.Containers[0].Image = "nginx:2"
			d.Annotations[deployment.ChangeCauseAnnotation] = "kubectl set image deployment/web c=nginx:2"
		})
		d = e.waitRolledOut("web")
		stop()
		if len(o.errs) > 0 {
			t.Fatalf("rolling bounds violated: %v\nstates: %v", o.errs, o.states)
		}
		mixed := false
		for _, s := range o.states {
			mixed = mixed || strings.Count(s, ":0") == 0 && strings.Count(s, ":") == 2
		}
		if !mixed {
			t.Fatalf("never saw both replica sets running: %v", o.states)
		}
		rss = e.replicaSets("web")
		if len(rss) != 2 || rss[0].Name != v1.Name || *rss[0].Spec.Replicas != 0 || *rss[1].Spec.Replicas != 4 ||
			rss[1].Annotations[deployment.RevisionAnnotation] != "2" ||
			rss[1].Annotations[deployment.ChangeCauseAnnotation] != "kubectl set image deployment/web c=nginx:2" ||
			d.Annotations[deployment.RevisionAnnotation] != "2" {
			t.Fatalf("after set image: %s deployment %v", summary(rss), d.Annotations)
		}
		expectConditions(t, d, "MinimumReplicasAvailable", deployment.NewRSAvailableReason)
		expectEvent(t, e, "web", fmt.Sprintf("Scaled up replica set %s to 1", rss[1].Name))
		expectEvent(t, e, "web", fmt.Sprintf("Scaled down replica set %s to 3 from 4", v1.Name))

		// kubectl rollout undo: the template goes back; the old replica set is reused as revision 3.
		e.update("web", func(d *appsv1.Deployment) {
			d.Spec.Template = *v1.Spec.Template.DeepCopy()
			delete(d.Spec.Template.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
			d.Annotations[deployment.ChangeCauseAnnotation] = "create nginx:1"
		})
		d = e.waitRolledOut("web")
		eventually(t, 10*time.Second, "undo", func() (bool, string) {
			rss = e.replicaSets("web")
			ok := len(rss) == 2 && rss[1].Name == v1.Name && *rss[1].Spec.Replicas == 4 && *rss[0].Spec.Replicas == 0 &&
				rss[1].Annotations[deployment.RevisionAnnotation] == "3" && rss[1].Annotations[deployment.RevisionHistoryAnnotation] == "1"
			return ok, summary(rss)
		})
		if d = e.get("web"); d.Annotations[deployment.RevisionAnnotation] != "3" {
			t.Fatalf("deployment revision after undo: %v", d.Annotations)
		}

		// Paused: no rollout; scaling still applies; resuming rolls out.
		e.update("web", func(d *appsv1.Deployment) {
			d.Spec.Paused = true
		})
		eventually(t, 10*time.Second, "paused condition", func() (bool, string) {
			d = e.get("web")
			c := condition(d, appsv1.DeploymentProgressing)
			return c != nil && c.Reason == deployment.PausedReason && d.Status.ObservedGeneration == d.Generation, fmt.Sprintf("%+v", d.Status.Conditions)
		})
		e.update("web", func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.Containers[0].Image = "nginx:3"
			d.Spec.Replicas = ptr(int32(6))
		})
		eventually(t, 10*time.Second, "paused scale", func() (bool, string) {
			rss = e.replicaSets("web")
			return len(rss) == 2 && *rss[1].Spec.Replicas == 6 && rss[1].Name == v1.Name, summary(rss)
		})
		time.Sleep(time.Second)
		if rss = e.replicaSets("web"); len(rss) != 2 {
			t.Fatalf("paused deployment rolled out: %s", summary(rss))
		}
		e.update("web", func(d *appsv1.Deployment) { d.Spec.Paused = false })
		d = e.waitRolledOut("web")
		rss = e.replicaSets("web")
		if len(rss) != 3 || rss[2].Spec.Template.Spec.Containers[0].Image != "nginx:3" || *rss[2].Spec.Replicas != 6 ||
			rss[2].Annotations[deployment.RevisionAnnotation] != "4" || d.Annotations[deployment.RevisionAnnotation] != "4" {
			t.Fatalf("after resume: %s", summary(rss))
		}
	})

	t.Run("recreate", func(t *testing.T) {
		e := &env{t: t, cs: cs, ctx: ctx}
		d := newDeployment("rec", 3, "app:1")
		d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
		e.create(d)
		e.waitRolledOut("rec")
		old := e.replicaSets("rec")[0].Name
		o, stop := e.observe("rec", func(spec, status map[string]int32) string {
			for name, n := range spec {
				if name != old && n > 0 && (spec[old] > 0 || status[old] > 0) {
					return fmt.Sprintf("new replica set up while old has spec %d status %d", spec[old], status[old])
				}
			}
			return ""
		})
		e.update("rec", func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "app:2" })
		e.waitRolledOut("rec")
		stop()
		if len(o.errs) > 0 {
			t.Fatalf("recreate order: %v\nstates %v", o.errs, o.states)
		}
		if rss := e.replicaSets("rec"); len(rss) != 2 || *rss[0].Spec.Replicas != 0 || *rss[1].Spec.Replicas != 3 {
			t.Fatalf("recreate result: %s", summary(rss))
		}
	})

	t.Run("revision history limit", func(t *testing.T) {
		e := &env{t: t, cs: cs, ctx: ctx}
		d := newDeployment("hist", 2, "h:1")
		d.Spec.RevisionHistoryLimit = ptr(int32(1))
		e.create(d)
		e.waitRolledOut("hist")
		for _, img := range []string{"h:2", "h:3", "h:4"} {
			e.update("hist", func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = img })
			e.waitRolledOut("hist")
		}
		eventually(t, 10*time.Second, "pruning", func() (bool, string) {
			rss := e.replicaSets("hist")
			return len(rss) == 2 && rss[1].Spec.Template.Spec.Containers[0].Image == "h:4" && rss[0].Spec.Template.Spec.Containers[0].Image == "h:3", summary(rss)
		})
	})

	t.Run("progress deadline", func(t *testing.T) {
		e := &env{t: t, cs: cs, ctx: ctx}
		d := newDeployment("stuck", 2, heldImage)
		d.Spec.ProgressDeadlineSeconds = ptr(int32(2))
		e.create(d)
		eventually(t, 15*time.Second, "ProgressDeadlineExceeded", func() (bool, string) {
			d = e.get("stuck")
			c := condition(d, appsv1.DeploymentProgressing)
			return c != nil && c.Reason == deployment.TimedOutReason && c.Status == corev1.ConditionFalse, fmt.Sprintf("%+v", d.Status)
		})
		if _, _, err := rolloutStatus(d); err == nil || !strings.Contains(err.Error(), "exceeded its progress deadline") {
			t.Fatalf("rollout status: %v", err)
		}
		expectConditions(t, d, "MinimumReplicasUnavailable", deployment.TimedOutReason)
	})

	t.Run("proportional scaling", func(t *testing.T) {
		e := &env{t: t, cs: cs, ctx: ctx}
		d := newDeployment("prop", 10, "p:1")
		three, two := intstr.FromInt32(3), intstr.FromInt32(2)
		d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxSurge: &three, MaxUnavailable: &two}
		e.create(d)
		e.waitRolledOut("prop")
		e.update("prop", func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = heldImage })
		sizes := func(old, cur int32) func() (bool, string) {
			return func() (bool, string) {
				rss := e.replicaSets("prop")
				return len(rss) == 2 && *rss[0].Spec.Replicas == old && *rss[1].Spec.Replicas == cur, summary(rss)
			}
		}
		eventually(t, 10*time.Second, "stalled rollout 8/5", sizes(8, 5))
		e.update("prop", func(d *appsv1.Deployment) { d.Spec.Replicas = ptr(int32(30)) })
		eventually(t, 10*time.Second, "proportional 20/13", sizes(20, 13))
		e.update("prop", func(d *appsv1.Deployment) { d.Spec.Replicas = ptr(int32(5)) })
		eventually(t, 10*time.Second, "proportional down", func() (bool, string) {
			rss := e.replicaSets("prop")
			return len(rss) == 2 && *rss[0].Spec.Replicas+*rss[1].Spec.Replicas <= 8 && *rss[0].Spec.Replicas >= 3, summary(rss)
		})
	})
}

func condition(d *appsv1.Deployment, t appsv1.DeploymentConditionType) *appsv1.DeploymentCondition {
	for i := range d.Status.Conditions {
		if d.Status.Conditions[i].Type == t {
			return &d.Status.Conditions[i]
		}
	}
	return nil
}

func expectConditions(t *testing.T, d *appsv1.Deployment, available, progressing string) {
	t.Helper()
	a, p := condition(d, appsv1.DeploymentAvailable), condition(d, appsv1.DeploymentProgressing)
	if a == nil || a.Reason != available || p == nil || p.Reason != progressing {
		t.Fatalf("conditions %+v, want Available/%s Progressing/%s", d.Status.Conditions, available, progressing)
	}
}

func expectEvent(t *testing.T, e *env, name, message string) {
	t.Helper()
	eventually(t, 5*time.Second, "event "+message, func() (bool, string) {
		evs, err := e.cs.CoreV1().Events(ns).List(e.ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		var seen []string
		for _, ev := range evs.Items {
			if ev.InvolvedObject.Name == name && ev.Reason == "ScalingReplicaSet" {
				if ev.Message == message {
					return true, ""
				}
				seen = append(seen, ev.Message)
			}
		}
		return false, strings.Join(seen, "; ")
	})
}

func ptr[T any](v T) *T { return &v }

// The garbage collector deletes the ReplicaSets of a deleted Deployment
// right after it; the controller may see them go before it sees the
// Deployment go (here its Deployment watch is held back) and must not
// make a new one.
func TestNoReplicaSetForADeletedDeployment(t *testing.T) {
	in := testserver.Start(t, testserver.Options{DisableControllers: []string{"deployment", "replicaset"}})
	cs := in.Clientset(t)
	ctx, cancel := context.WithCancel(context.Background())
	var lag lagtest.Lag
	cfg := in.RESTConfig()
	cfg.Wrap(lag.Wrap("deployments"))
	ccs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	factory := informers.NewSharedInformerFactory(ccs, 0)
	fakerFactory := informers.NewSharedInformerFactory(cs, 0)
	var wg sync.WaitGroup
	t.Cleanup(func() { lag.Release(); cancel(); factory.Shutdown(); fakerFactory.Shutdown(); wg.Wait() })
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	c := deployment.New(ccs, factory, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	statusFaker(ctx, cs, fakerFactory)
	factory.Start(ctx.Done())
	fakerFactory.Start(ctx.Done())
	wg.Add(1)
	go func() { defer wg.Done(); c.Run(ctx, 2) }()
	e := &env{t: t, cs: cs, ctx: ctx}

	e.create(newDeployment("doomed", 2, "nginx"))
	e.waitRolledOut("doomed")
	rsPath := "/apis/apps/v1/namespaces/" + ns + "/replicasets"
	before := len(lag.Requests("POST", rsPath))

	lag.Hold()
	if err := cs.AppsV1().Deployments(ns).Delete(ctx, "doomed", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// Done when the ReplicaSet is gone and the controller has seen past its
	// cache that the Deployment is gone, or has made a ReplicaSet.
	eventually(t, 30*time.Second, "the garbage collector deletes the ReplicaSet and the controller rechecks", func() (bool, string) {
		rss := e.replicaSets("doomed")
		rechecked := lag.Answered("GET", "/apis/apps/v1/namespaces/"+ns+"/deployments/doomed", 404)
		created := len(lag.Requests("POST", rsPath)) - before
		return created > 0 || len(rss) == 0 && rechecked, fmt.Sprintf("%s; %d created; rechecked %v", summary(rss), created, rechecked)
	})
	if created := lag.Requests("POST", rsPath)[before:]; len(created) > 0 {
		t.Fatalf("the deleted Deployment made %d ReplicaSets: %v", len(created), created)
	}
}
