package job_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"

	"github.com/flotilla-io/flotilla/pkg/controller/internal/lagtest"
	"github.com/flotilla-io/flotilla/pkg/controller/job"
	"github.com/flotilla-io/flotilla/pkg/server/testserver"
	"github.com/flotilla-io/flotilla/pkg/sim"
	"github.com/flotilla-io/flotilla/pkg/sim/simtest"
)

const ns = "jobs"

// eventually is the shared poll of the test server package.
var eventually = testserver.Eventually

func start(t *testing.T) kubernetes.Interface { return startWrapped(t, nil) }

// startWrapped is start with the controller's transport wrapped by wrap.
func startWrapped(t *testing.T, wrap func(http.RoundTripper) http.RoundTripper) kubernetes.Interface {
	in := testserver.Start(t, testserver.Options{DisableControllers: []string{"job", "cronjob", "ttlafterfinished"}})
	cs := in.Clientset(t)
	ccs := cs
	if wrap != nil {
		cfg := in.RESTConfig()
		cfg.Wrap(wrap)
		var err error
		if ccs, err = kubernetes.NewForConfig(cfg); err != nil {
			t.Fatal(err)
		}
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, cancel := context.WithCancel(context.Background())
	factory := informers.NewSharedInformerFactory(ccs, 0)
	c := job.New(ccs, factory, job.Config{PodFailureBackoff: 200 * time.Millisecond}, log)
	simtest.Start(t, cs, sim.Config{Nodes: 2, NamePrefix: "n", CPU: resource.MustParse("8"), Memory: resource.MustParse("32Gi"), Pods: 110, LeaseRenewInterval: time.Second, RestartDelay: 200 * time.Millisecond})
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); factory.Shutdown(); wg.Wait() })
	factory.Start(ctx.Done())
	wg.Add(1)
	go func() { defer wg.Done(); c.Run(ctx, 2) }()
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	testserver.Settled(t, cs, ns)
	return cs
}

// newJob is a Job whose pods exit with code after the given time.
func newJob(name, after string, code int) *batchv1.Job {
	ann := map[string]string{sim.AnnotationExitAfter: after, sim.AnnotationExitCode: fmt.Sprint(code)}
	if after == "" {
		ann = nil
	}
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Annotations: ann},
			Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, TerminationGracePeriodSeconds: ptr.To[int64](1),
				Containers: []corev1.Container{{Name: "c", Image: "busybox", Command: []string{"true"}}}},
		}},
	}
}

func create(t *testing.T, cs kubernetes.Interface, j *batchv1.Job) {
	t.Helper()
	if _, err := cs.BatchV1().Jobs(ns).Create(context.Background(), j, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func cond(j *batchv1.Job, t batchv1.JobConditionType) *batchv1.JobCondition {
	for i := range j.Status.Conditions {
		if c := &j.Status.Conditions[i]; c.Type == t && c.Status == corev1.ConditionTrue {
			return c
		}
	}
	return nil
}

func waitCondition(t *testing.T, cs kubernetes.Interface, name string, ct batchv1.JobConditionType, reason string) *batchv1.Job {
	t.Helper()
	var j *batchv1.Job
	eventually(t, 45*time.Second, name+" "+string(ct), func() (bool, string) {
		var err error
		if j, err = cs.BatchV1().Jobs(ns).Get(context.Background(), name, metav1.GetOptions{}); err != nil {
			return false, err.Error()
		}
		c := cond(j, ct)
		return c != nil && (reason == "" || c.Reason == reason), fmt.Sprintf("%+v", j.Status)
	})
	return j
}

func podsOf(t *testing.T, cs kubernetes.Interface, name string) []corev1.Pod {
	t.Helper()
	l, err := cs.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: batchv1.JobNameLabel + "=" + name})
	if err != nil {
		t.Fatal(err)
	}
	return l.Items
}

func TestJobs(t *testing.T) {
	cs := start(t)
	ctx := context.Background()

	t.Run("non-parallel completes", func(t *testing.T) {
		create(t, cs, newJob("pi", "1s", 0))
		j := waitCondition(t, cs, "pi", batchv1.JobComplete, batchv1.JobReasonCompletionsReached)
		if j.Status.Succeeded != 1 || j.Status.CompletionTime == nil || cond(j, batchv1.JobSuccessCriteriaMet) == nil {
			t.Fatalf("status %+v", j.Status)
		}
		for _, p := range podsOf(t, cs, "pi") {
			if len(p.Finalizers) != 0 {
				t.Errorf("pod %s keeps finalizers %v", p.Name, p.Finalizers)
			}
			if p.Labels[batchv1.ControllerUidLabel] != string(j.UID) || p.Labels["job-name"] != "pi" {
				t.Errorf("pod %s labels %v", p.Name, p.Labels)
			}
		}
	})

	t.Run("completions with parallelism", func(t *testing.T) {
		j := newJob("par", "1s", 0)
		j.Spec.Completions, j.Spec.Parallelism = ptr.To[int32](5), ptr.To[int32](2)
		create(t, cs, j)
		var maxActive atomic.Int32
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				select {
				case <-stop:
					return
				case <-time.After(50 * time.Millisecond):
				}
				n := int32(0)
				for _, p := range podsOf(t, cs, "par") {
					if p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed && p.DeletionTimestamp == nil {
						n++
					}
				}
				if n > maxActive.Load() {
					maxActive.Store(n)
				}
			}
		}()
		got := waitCondition(t, cs, "par", batchv1.JobComplete, "")
		close(stop)
		<-done
		if got.Status.Succeeded != 5 || maxActive.Load() > 2 {
			t.Fatalf("succeeded %d, max active %d", got.Status.Succeeded, maxActive.Load())
		}
	})

	t.Run("indexed", func(t *testing.T) {
		j := newJob("idx", "1s", 0)
		j.Spec.Completions, j.Spec.Parallelism = ptr.To[int32](3), ptr.To[int32](3)
		j.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
		create(t, cs, j)
		got := waitCondition(t, cs, "idx", batchv1.JobComplete, "")
		if got.Status.CompletedIndexes != "0-2" || got.Status.Succeeded != 3 {
			t.Fatalf("status %+v", got.Status)
		}
		seen := map[string]bool{}
		for _, p := range podsOf(t, cs, "idx") {
			ix := p.Annotations[batchv1.JobCompletionIndexAnnotation]
			seen[ix] = true
			env := p.Spec.Containers[0].Env
			if p.Labels[batchv1.JobCompletionIndexAnnotation] != ix || p.Spec.Hostname != "idx-"+ix ||
				len(env) == 0 || env[len(env)-1].Name != "JOB_COMPLETION_INDEX" {
				t.Errorf("pod %s: labels %v hostname %q env %+v", p.Name, p.Labels, p.Spec.Hostname, env)
			}
		}
		if len(seen) != 3 {
			t.Errorf("indexes %v", seen)
		}
	})

	t.Run("backoff limit", func(t *testing.T) {
		j := newJob("fail", "500ms", 1)
		j.Spec.BackoffLimit = ptr.To[int32](1)
		create(t, cs, j)
		got := waitCondition(t, cs, "fail", batchv1.JobFailed, batchv1.JobReasonBackoffLimitExceeded)
		if got.Status.Failed != 2 || cond(got, batchv1.JobFailureTarget) == nil {
			t.Fatalf("status %+v", got.Status)
		}
		if n := len(podsOf(t, cs, "fail")); n != 2 {
			t.Errorf("%d pods, want 2", n)
		}
	})

	t.Run("active deadline", func(t *testing.T) {
		j := newJob("slow", "", 0)
		j.Spec.ActiveDeadlineSeconds = ptr.To[int64](2)
		create(t, cs, j)
		got := waitCondition(t, cs, "slow", batchv1.JobFailed, batchv1.JobReasonDeadlineExceeded)
		if got.Status.Active != 0 {
			t.Fatalf("status %+v", got.Status)
		}
		eventually(t, 20*time.Second, "pods deleted", func() (bool, string) {
			ps := podsOf(t, cs, "slow")
			return len(ps) == 0, fmt.Sprint(len(ps))
		})
	})

	t.Run("pod failure policy", func(t *testing.T) {
		j := newJob("pfp", "500ms", 1)
		j.Spec.BackoffLimit = ptr.To[int32](5)
		j.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
			Action:      batchv1.PodFailurePolicyActionFailJob,
			OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{1}},
		}}}
		create(t, cs, j)
		got := waitCondition(t, cs, "pfp", batchv1.JobFailed, batchv1.JobReasonPodFailurePolicy)
		if got.Status.Failed != 1 {
			t.Fatalf("status %+v", got.Status)
		}
	})

	t.Run("work queue", func(t *testing.T) {
		j := newJob("wq", "1s", 0)
		j.Spec.Parallelism = ptr.To[int32](3)
		create(t, cs, j)
		got := waitCondition(t, cs, "wq", batchv1.JobComplete, "")
		if got.Spec.Completions != nil || got.Status.Succeeded != 3 || got.Status.Active != 0 {
			t.Fatalf("status %+v", got.Status)
		}
	})

	t.Run("suspend and resume", func(t *testing.T) {
		j := newJob("sus", "", 0)
		create(t, cs, j)
		eventually(t, 20*time.Second, "running", func() (bool, string) {
			got, _ := cs.BatchV1().Jobs(ns).Get(ctx, "sus", metav1.GetOptions{})
			return got != nil && got.Status.Active == 1, fmt.Sprintf("%+v", got.Status)
		})
		patch := func(v bool) {
			p := fmt.Sprintf(`{"spec":{"suspend":%v}}`, v)
			if _, err := cs.BatchV1().Jobs(ns).Patch(ctx, "sus", "application/merge-patch+json", []byte(p), metav1.PatchOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		patch(true)
		waitCondition(t, cs, "sus", batchv1.JobSuspended, "JobSuspended")
		eventually(t, 20*time.Second, "pods gone", func() (bool, string) {
			n := 0
			for _, p := range podsOf(t, cs, "sus") {
				if p.Status.Phase != corev1.PodFailed && p.Status.Phase != corev1.PodSucceeded {
					n++
				}
			}
			got, _ := cs.BatchV1().Jobs(ns).Get(ctx, "sus", metav1.GetOptions{})
			return n == 0 && got.Status.Active == 0, fmt.Sprint(n)
		})
		patch(false)
		eventually(t, 20*time.Second, "resumed", func() (bool, string) {
			got, _ := cs.BatchV1().Jobs(ns).Get(ctx, "sus", metav1.GetOptions{})
			return got.Status.Active == 1 && cond(got, batchv1.JobSuspended) == nil, fmt.Sprintf("%+v", got.Status)
		})
	})
}

// The garbage collector deletes the pods of a deleted Job right after it;
// the controller may see them go before it sees the Job go (here its Job
// watch is held back) and must not replace them.
func TestNoPodsForADeletedJob(t *testing.T) {
	var lag lagtest.Lag
	cs := startWrapped(t, lag.Wrap("jobs"))
	defer lag.Release()
	ctx := context.Background()
	j := newJob("doomed", "", 0)
	j.Spec.Parallelism = ptr.To[int32](2)
	create(t, cs, j)
	eventually(t, 30*time.Second, "two running pods", func() (bool, string) {
		pods := podsOf(t, cs, "doomed")
		running := 0
		for _, p := range pods {
			if p.Status.Phase == corev1.PodRunning {
				running++
			}
		}
		return running == 2, fmt.Sprintf("%d pods, %d running", len(pods), running)
	})
	podsPath := "/api/v1/namespaces/" + ns + "/pods"
	before := len(lag.Requests(http.MethodPost, podsPath))

	lag.Hold()
	if err := cs.BatchV1().Jobs(ns).Delete(ctx, "doomed", metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationBackground)}); err != nil {
		t.Fatal(err)
	}
	// Done when the pods are being deleted and the controller has seen
	// past its cache that the Job is gone, or has created pods.
	eventually(t, 30*time.Second, "the garbage collector deletes the pods and the controller rechecks", func() (bool, string) {
		pods := podsOf(t, cs, "doomed")
		deleting := 0
		for _, p := range pods {
			if p.DeletionTimestamp != nil {
				deleting++
			}
		}
		rechecked := lag.Answered(http.MethodGet, "/apis/batch/v1/namespaces/"+ns+"/jobs/doomed", http.StatusNotFound)
		created := len(lag.Requests(http.MethodPost, podsPath)) - before
		return created > 0 || len(pods) == deleting && rechecked, fmt.Sprintf("%d pods, %d deleting; %d created; rechecked %v", len(pods), deleting, created, rechecked)
	})
	if created := lag.Requests(http.MethodPost, podsPath)[before:]; len(created) > 0 {
		t.Fatalf("the deleted Job created %d pods: %v", len(created), created)
	}
}

// As the conformance test "should adopt matching orphans and release
// non-matching pods": a pod whose controller reference is removed is
// adopted again; a pod whose labels stop matching is released (and loses
// the tracking finalizer, or nothing would ever remove it); relabelled
// to match again, the orphan is adopted again.
func TestAdoptAndRelease(t *testing.T) {
	cs := start(t)
	ctx := context.Background()
	j := newJob("adopt", "", 0)
	j.Spec.Parallelism = ptr.To[int32](2)
	j.Spec.Completions = ptr.To[int32](4)
	create(t, cs, j)
	var name string
	eventually(t, 30*time.Second, "two running pods", func() (bool, string) {
		pods := podsOf(t, cs, "adopt")
		running := 0
		for _, p := range pods {
			if p.Status.Phase == corev1.PodRunning {
				running++
				name = p.Name
			}
		}
		return running == 2, fmt.Sprintf("%d pods, %d running", len(pods), running)
	})
	jb, err := cs.BatchV1().Jobs(ns).Get(ctx, "adopt", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// update changes the pod and returns the resource version it wrote.
	update := func(change func(*corev1.Pod)) string {
		t.Helper()
		var rv string
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			p, err := cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			change(p)
			if p, err = cs.CoreV1().Pods(ns).Update(ctx, p, metav1.UpdateOptions{}); err != nil {
				return err
			}
			rv = p.ResourceVersion
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return rv
	}
	// controlled watches the pod from rv until the Job controls it (with
	// the tracking finalizer) or, !want, until nothing controls it and it
	// has no tracking finalizer: a watch sees the pod's every state, even
	// one the controller changes again at once.
	controlled := func(what, rv string, want bool) {
		t.Helper()
		wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		w, err := cs.CoreV1().Pods(ns).Watch(wctx, metav1.ListOptions{FieldSelector: "metadata.name=" + name, ResourceVersion: rv})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		last := "no event"
		for ev := range w.ResultChan() {
			p, ok := ev.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			ref := metav1.GetControllerOf(p)
			held := slices.Contains(p.Finalizers, batchv1.JobTrackingFinalizer)
			if want && ref != nil && ref.Kind == "Job" && ref.Name == "adopt" && ref.UID == jb.UID && held || !want && ref == nil && !held {
				return
			}
			last = fmt.Sprintf("%s: owners %+v, finalizers %v", ev.Type, p.OwnerReferences, p.Finalizers)
		}
		t.Fatalf("%s: not within 20s; last: %s", what, last)
	}

	controlled("orphan readopted", update(func(p *corev1.Pod) { p.OwnerReferences = nil }), true)

	labels := map[string]string{}
	controlled("relabelled pod released", update(func(p *corev1.Pod) { labels, p.Labels = p.Labels, nil }), false)
	// Its place is taken.
	eventually(t, 30*time.Second, "a replacement", func() (bool, string) {
		var active []string
		for _, p := range podsOf(t, cs, "adopt") {
			if ref := metav1.GetControllerOf(&p); ref != nil && ref.UID == jb.UID && p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning {
				active = append(active, p.Name)
			}
		}
		return len(active) == 2 && !slices.Contains(active, name), fmt.Sprint(active)
	})

	// Adopted once it matches again (the Job then has a pod too many and
	// may delete it).
	controlled("orphan matching again adopted", update(func(p *corev1.Pod) { p.Labels = labels }), true)
}
