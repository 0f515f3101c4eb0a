package rollingupdate_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/flotilla-io/flotilla/cmd/kubectl-rolling_update/internal/rollingupdate"
	"github.com/flotilla-io/flotilla/pkg/server/testserver"
)

const ns = "ru"

// rcFaker is a unit-level test double for the ReplicationController
// controller (not part of this test's server): it reports every
// controller's spec.replicas as created, ready and available at once. It
// also checks, while both controllers of an update exist, that they
// never ask for more than desired+1 pods nor report fewer than desired
// available, and records each scale step.
type rcFaker struct {
	t       *testing.T
	cs      kubernetes.Interface
	desired int32
	prefix  string // the controllers of the update being checked

	mu       sync.Mutex
	spec     map[string]int32
	avail    map[string]int32
	deleted  bool
	steps    []string
	problems []string
	onStep   func(spec map[string]int32)
}

func startFaker(t *testing.T, ctx context.Context, cs kubernetes.Interface) *rcFaker {
	f := &rcFaker{t: t, cs: cs, spec: map[string]int32{}, avail: map[string]int32{}}
	factory := informers.NewSharedInformerFactoryWithOptions(cs, 0, informers.WithNamespace(ns))
	inf := factory.Core().V1().ReplicationControllers().Informer()
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { f.observe(ctx, obj.(*corev1.ReplicationController)) },
		UpdateFunc: func(_, obj any) { f.observe(ctx, obj.(*corev1.ReplicationController)) },
		DeleteFunc: func(obj any) {
			if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = tomb.Obj
			}
			rc := obj.(*corev1.ReplicationController)
			f.mu.Lock()
			defer f.mu.Unlock()
			delete(f.spec, rc.Name)
			delete(f.avail, rc.Name)
			f.deleted = f.deleted || strings.HasPrefix(rc.Name, f.prefix)
		},
	})
	fctx, stop := context.WithCancel(ctx)
	factory.Start(fctx.Done())
	t.Cleanup(func() { stop(); factory.Shutdown() })
	cache.WaitForCacheSync(ctx.Done(), inf.HasSynced)
	return f
}

// reset starts checking a new update of desired replicas between
// controllers named with prefix.
func (f *rcFaker) reset(desired int32, prefix string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.desired, f.prefix, f.deleted, f.steps, f.problems = desired, prefix, false, nil, nil
}

func (f *rcFaker) observe(ctx context.Context, rc *corev1.ReplicationController) {
	want := int32(1)
	if rc.Spec.Replicas != nil {
		want = *rc.Spec.Replicas
	}
	f.mu.Lock()
	if prev, ok := f.spec[rc.Name]; (!ok || prev != want) && strings.HasPrefix(rc.Name, f.prefix) {
		f.steps = append(f.steps, fmt.Sprintf("%s=%d", rc.Name, want))
	}
	f.spec[rc.Name], f.avail[rc.Name] = want, rc.Status.AvailableReplicas
	var total, avail int32
	for name, n := range f.spec {
		if !strings.HasPrefix(name, f.prefix) {
			continue
		}
		total += n
		avail += f.avail[name]
	}
	if !f.deleted && f.desired > 0 {
		if total > f.desired+1 {
			f.problems = append(f.problems, fmt.Sprintf("%d pods asked for (max %d): %v", total, f.desired+1, f.spec))
		}
		if avail < f.desired {
			f.problems = append(f.problems, fmt.Sprintf("%d available (min %d): %v", avail, f.desired, f.avail))
		}
	}
	onStep := f.onStep
	snapshot := map[string]int32{}
	for k, v := range f.spec {
		snapshot[k] = v
	}
	f.mu.Unlock()
	if onStep != nil {
		onStep(snapshot)
	}
	st := rc.Status
	if st.Replicas == want && st.ReadyReplicas == want && st.AvailableReplicas == want && st.ObservedGeneration == rc.Generation {
		return
	}
	fresh := rc.DeepCopy()
	fresh.Status = corev1.ReplicationControllerStatus{Replicas: want, FullyLabeledReplicas: want, ReadyReplicas: want, AvailableReplicas: want, ObservedGeneration: rc.Generation}
	if _, err := f.cs.CoreV1().ReplicationControllers(ns).UpdateStatus(ctx, fresh, metav1.UpdateOptions{}); err != nil && !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) && ctx.Err() == nil {
		f.t.Errorf("fake status of %s: %v", rc.Name, err)
	}
}

func (f *rcFaker) check(t *testing.T) []string {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.problems) > 0 {
		t.Fatalf("invariants broken:\n%s\nsteps: %v", strings.Join(f.problems, "\n"), f.steps)
	}
	return append([]string(nil), f.steps...)
}

func rc(name string, replicas int32, image string, sel map[string]string) *corev1.ReplicationController {
	return &corev1.ReplicationController{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.ReplicationControllerSpec{
			Replicas: &replicas, Selector: sel,
			Template: &corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: sel},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: image}}},
			},
		},
	}
}

func TestRollingUpdate(t *testing.T) {
	in := testserver.Start(t, testserver.Options{DisableControllers: []string{"replicationcontroller"}})
	cs := in.Clientset(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	faker := startFaker(t, ctx, cs)
	base := rollingupdate.Config{Client: cs, Namespace: ns, UpdatePeriod: 10 * time.Millisecond, PollInterval: 20 * time.Millisecond, Timeout: 20 * time.Second}
	create := func(r *corev1.ReplicationController) {
		t.Helper()
		if _, err := cs.CoreV1().ReplicationControllers(ns).Create(ctx, r, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	waitAvailable := func(name string, n int32) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			r, err := cs.CoreV1().ReplicationControllers(ns).Get(ctx, name, metav1.GetOptions{})
			if err == nil && r.Status.AvailableReplicas == n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s not available: %v", name, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	// Deletion may wait for the garbage collector's finalizers.
	waitGone := func(name string) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			_, err := cs.CoreV1().ReplicationControllers(ns).Get(ctx, name, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("replicationcontroller %s not deleted: %v", name, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	t.Run("file", func(t *testing.T) {
		create(rc("web", 3, "nginx:1", map[string]string{"app": "web", "version": "v1"}))
		waitAvailable("web", 3)
		faker.reset(3, "web")
		var out bytes.Buffer
		cfg := base
		cfg.Out, cfg.OldName = &out, "web"
		cfg.NewRC = rc("web-v2", 3, "nginx:2", map[string]string{"app": "web", "version": "v1"})
		if err := rollingupdate.Run(ctx, cfg); err == nil || !strings.Contains(err.Error(), "non-equal value in Selector") {
			t.Fatalf("same selector accepted: %v", err)
		}
		cfg.NewRC = rc("web-v2", 3, "nginx:2", map[string]string{"app": "web", "version": "v2"})
		if err := rollingupdate.Run(ctx, cfg); err != nil {
			t.Fatalf("%v\n%s", err, out.String())
		}
		want := `Created web-v2
Scaling up web-v2 from 0 to 3, scaling down web from 3 to 0 (keep 3 pods available, don't exceed 4 pods)
Scaling web-v2 up to 1
Scaling web down to 2
Scaling web-v2 up to 2
Scaling web down to 1
Scaling web-v2 up to 3
Scaling web down to 0
Update succeeded. Deleting web
replicationcontroller/web rolling updated to "web-v2"
`
		if out.String() != want {
			t.Fatalf("output:\n%s\nwant:\n%s", out.String(), want)
		}
		steps := faker.check(t)
		t.Logf("steps: %v", steps)
		waitGone("web")
		got, err := cs.CoreV1().ReplicationControllers(ns).Get(ctx, "web-v2", metav1.GetOptions{})
		if err != nil || *got.Spec.Replicas != 3 || got.Annotations[rollingupdate.AnnotationDesiredReplicas] != "" || got.Annotations[rollingupdate.AnnotationSourceID] != "" {
			t.Fatalf("new controller: %+v %v", got, err)
		}
	})

	t.Run("image", func(t *testing.T) {
		create(rc("api", 2, "api:1", map[string]string{"app": "api"}))
		waitAvailable("api", 2)
		faker.reset(2, "api")
		var out bytes.Buffer
		cfg := base
		cfg.Out, cfg.OldName, cfg.Image = &out, "api", "api:2"
		if err := rollingupdate.Run(ctx, cfg); err != nil {
			t.Fatalf("%v\n%s", err, out.String())
		}
		faker.check(t)
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		if !strings.HasPrefix(lines[0], "Created api-") || lines[len(lines)-1] != "replicationcontroller/api rolling updated" ||
			!strings.Contains(out.String(), "Update succeeded. Deleting old controller: api\nRenaming api-") {
			t.Fatalf("output:\n%s", out.String())
		}
		list, err := cs.CoreV1().ReplicationControllers(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=api"})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, r := range list.Items {
			names = append(names, r.Name)
		}
		if len(list.Items) != 1 {
			t.Fatalf("controllers after update: %v", names)
		}
		got := list.Items[0]
		hash := got.Spec.Selector["deployment"]
		if got.Name != "api" || *got.Spec.Replicas != 2 || got.Spec.Template.Spec.Containers[0].Image != "api:2" || hash == "" || got.Spec.Template.Labels["deployment"] != hash {
			t.Fatalf("renamed controller: %+v", got)
		}
	})

	t.Run("rollback", func(t *testing.T) {
		create(rc("db", 3, "db:1", map[string]string{"app": "db"}))
		waitAvailable("db", 3)
		faker.reset(3, "db")
		// Interrupt the update once the new controller has two pods.
		uctx, interrupt := context.WithCancel(ctx)
		faker.mu.Lock()
		faker.onStep = func(spec map[string]int32) {
			for name, n := range spec {
				if strings.HasPrefix(name, "db-") && n == 2 {
					interrupt()
				}
			}
		}
		faker.mu.Unlock()
		var out bytes.Buffer
		cfg := base
		cfg.Out, cfg.OldName, cfg.Image = &out, "db", "db:2"
		if err := rollingupdate.Run(uctx, cfg); !errors.Is(err, context.Canceled) {
			t.Fatalf("interrupted update: %v\n%s", err, out.String())
		}
		faker.mu.Lock()
		faker.onStep = nil
		faker.mu.Unlock()
		old, err := cs.CoreV1().ReplicationControllers(ns).Get(ctx, "db", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		next := old.Annotations[rollingupdate.AnnotationNextController]
		if next == "" || old.Annotations[rollingupdate.AnnotationOriginalReplicas] != "3" {
			t.Fatalf("old controller annotations: %v", old.Annotations)
		}
		faker.check(t)
		faker.reset(3, "db")
		out.Reset()
		cfg = base
		cfg.Out, cfg.OldName, cfg.Rollback = &out, "db", true
		if err := rollingupdate.Run(ctx, cfg); err != nil {
			t.Fatalf("%v\n%s", err, out.String())
		}
		t.Logf("rollback steps: %v", faker.check(t))
		if !strings.Contains(out.String(), "Setting \"db\" replicas to 3\nContinuing update with existing controller db.\n") ||
			!strings.Contains(out.String(), "Update succeeded. Deleting "+next+"\n") {
			t.Fatalf("output:\n%s", out.String())
		}
		waitGone(next)
		old, err = cs.CoreV1().ReplicationControllers(ns).Get(ctx, "db", metav1.GetOptions{})
		if err != nil || *old.Spec.Replicas != 3 || old.Spec.Template.Spec.Containers[0].Image != "db:1" {
			t.Fatalf("old controller after rollback: %+v %v", old, err)
		}
	})

	t.Run("dry-run", func(t *testing.T) {
		var out bytes.Buffer
		cfg := base
		cfg.Out, cfg.OldName, cfg.Image, cfg.DryRun = &out, "db", "db:3", true
		if err := rollingupdate.Run(ctx, cfg); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(out.String(), "Rolling from:\ndb\nTo:\ndb-") {
			t.Fatalf("output:\n%s", out.String())
		}
		list, _ := cs.CoreV1().ReplicationControllers(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=db"})
		if len(list.Items) != 1 {
			t.Fatalf("dry run created controllers: %d", len(list.Items))
		}
	})
}
