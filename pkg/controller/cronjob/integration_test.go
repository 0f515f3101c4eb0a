package cronjob_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"sync"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"

	"github.com/flotilla-io/flotilla/pkg/controller/cronjob"
	"github.com/flotilla-io/flotilla/pkg/server/testserver"
)

const ns = "cron"

func eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 15s; last state: %s", what, state)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// jobsOf lists the Jobs a CronJob controls, oldest first.
func jobsOf(t *testing.T, cs kubernetes.Interface, cj string) []batchv1.Job {
	t.Helper()
	l, err := cs.BatchV1().Jobs(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []batchv1.Job
	for _, j := range l.Items {
		if ref := metav1.GetControllerOf(&j); ref != nil && ref.Name == cj {
			out = append(out, j)
		}
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Name < out[b].Name })
	return out
}

func names(js []batchv1.Job) string {
	var s []string
	for _, j := range js {
		n := j.Name
		if j.DeletionTimestamp != nil {
			n += "(deleting)"
		}
		if done, _ := finishedJob(j); done {
			n += "(done)"
		}
		s = append(s, n)
	}
	return fmt.Sprint(s)
}

func complete(t *testing.T, cs kubernetes.Interface, j batchv1.Job, now time.Time) {
	t.Helper()
	at := metav1.NewTime(now)
	j.Status.StartTime, j.Status.CompletionTime, j.Status.Succeeded = &at, &at, 1
	j.Status.Conditions = []batchv1.JobCondition{
		{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue, LastTransitionTime: at},
		{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: at},
	}
	if _, err := cs.BatchV1().Jobs(ns).UpdateStatus(context.Background(), &j, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestCronJobs(t *testing.T) {
	in := testserver.Start(t, testserver.Options{DisableControllers: []string{"job", "cronjob", "ttlafterfinished"}})
	cs := in.Clientset(t)
	ctx, cancel := context.WithCancel(context.Background())
	clock := clocktesting.NewFakeClock(time.Now())
	factory := informers.NewSharedInformerFactory(cs, 0)
	c := cronjob.New(cs, factory, cronjob.Config{Clock: clock}, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); factory.Shutdown(); wg.Wait() })
	factory.Start(ctx.Done())
	wg.Add(1)
	go func() { defer wg.Done(); c.Run(ctx, 2) }()
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// tick moves the clock just past the next minute boundary.
	tick := func() time.Time {
		now := clock.Now()
		next := now.Truncate(time.Minute).Add(time.Minute + time.Second)
		clock.SetTime(next)
		return next.Truncate(time.Minute)
	}
	newCronJob := func(name string, policy batchv1.ConcurrencyPolicy, mutate ...func(*batchv1.CronJob)) *batchv1.CronJob {
		cj := &batchv1.CronJob{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Spec: batchv1.CronJobSpec{Schedule: "*/1 * * * *", ConcurrencyPolicy: policy,
				JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
					RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "c", Image: "busybox"}},
				}}}}},
		}
		for _, m := range mutate {
			m(cj)
		}
		out, err := cs.BatchV1().CronJobs(ns).Create(ctx, cj, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		// The cronjob's creation (real time) must precede the fake ticks.
		if out.CreationTimestamp.After(clock.Now()) {
			clock.SetTime(out.CreationTimestamp.Time)
		}
		time.Sleep(200 * time.Millisecond)
		return out
	}
	remove := func(name string) {
		if err := cs.BatchV1().CronJobs(ns).Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	waitJobs := func(cj string, n int) []batchv1.Job {
		t.Helper()
		var js []batchv1.Job
		eventually(t, fmt.Sprintf("%d jobs of %s", n, cj), func() (bool, string) {
			js = jobsOf(t, cs, cj)
			return len(js) == n, names(js)
		})
		return js
	}
	waitActive := func(cj string, n int) *batchv1.CronJob {
		t.Helper()
		var got *batchv1.CronJob
		eventually(t, fmt.Sprintf("%d active in %s", n, cj), func() (bool, string) {
			got, _ = cs.BatchV1().CronJobs(ns).Get(ctx, cj, metav1.GetOptions{})
			return got != nil && len(got.Status.Active) == n, fmt.Sprintf("%+v", got.Status)
		})
		return got
	}

	// waitActiveOther waits until the only active Job is not old.
	waitActiveOther := func(cj string, old types.UID) *batchv1.CronJob {
		t.Helper()
		var got *batchv1.CronJob
		eventually(t, fmt.Sprintf("one active in %s other than %s", cj, old), func() (bool, string) {
			got, _ = cs.BatchV1().CronJobs(ns).Get(ctx, cj, metav1.GetOptions{})
			return got != nil && len(got.Status.Active) == 1 && got.Status.Active[0].UID != old, fmt.Sprintf("%+v", got.Status)
		})
		return got
	}

	t.Run("allow", func(t *testing.T) {
		cj := newCronJob("every", batchv1.AllowConcurrent)
		at := tick()
		js := waitJobs("every", 1)
		j := js[0]
		if j.Name != fmt.Sprintf("every-%d", at.Unix()/60) || j.Annotations[batchv1.CronJobScheduledTimestampAnnotation] != at.Format(time.RFC3339) {
			t.Fatalf("job %s annotations %v (want time %v)", j.Name, j.Annotations, at)
		}
		if ref := metav1.GetControllerOf(&j); ref == nil || ref.UID != cj.UID {
			t.Fatalf("owner %+v", j.OwnerReferences)
		}
		got := waitActive("every", 1)
		if got.Status.LastScheduleTime == nil || !got.Status.LastScheduleTime.Time.Equal(at) {
			t.Fatalf("lastScheduleTime %v, want %v", got.Status.LastScheduleTime, at)
		}
		tick()
		waitJobs("every", 2)
		waitActive("every", 2)
		remove("every")
	})

	// @every, which validation accepts through the same cron library, runs:
	// its first time is one interval after creation.
	t.Run("every interval", func(t *testing.T) {
		cj := newCronJob("interval", batchv1.AllowConcurrent, func(cj *batchv1.CronJob) { cj.Spec.Schedule = "@every 2m" })
		clock.SetTime(clock.Now().Add(2*time.Minute + time.Second))
		js := waitJobs("interval", 1)
		want := cj.CreationTimestamp.Add(2 * time.Minute)
		if got := js[0].Annotations[batchv1.CronJobScheduledTimestampAnnotation]; got == "" {
			t.Fatalf("job %s has no scheduled timestamp", js[0].Name)
		} else if at, err := time.Parse(time.RFC3339, got); err != nil || at.Before(want) {
			t.Fatalf("job %s scheduled at %s, want %v or later", js[0].Name, got, want)
		}
		remove("interval")
	})

	t.Run("forbid", func(t *testing.T) {
		cj := newCronJob("forbid", batchv1.ForbidConcurrent)
		// A Job made by hand from the CronJob (kubectl create job --from)
		// is not the controller's.
		manual := &batchv1.Job{
			ObjectMeta: metav1.ObjectMeta{Name: "forbid-manual", Namespace: ns,
				Annotations:     map[string]string{"cronjob.kubernetes.io/instantiate": "manual"},
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "batch/v1", Kind: "CronJob", Name: cj.Name, UID: cj.UID}}},
			Spec: cj.Spec.JobTemplate.Spec,
		}
		if _, err := cs.BatchV1().Jobs(ns).Create(ctx, manual, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		tick()
		js := waitJobs("forbid", 1)
		waitActive("forbid", 1)
		tick()
		// The controller says when Forbid keeps it from starting a Job:
		// once it has, it has handled the new time.
		eventually(t, "a JobAlreadyActive event of forbid", func() (bool, string) {
			evs, err := cs.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				return false, err.Error()
			}
			var seen []string
			for _, e := range evs.Items {
				if e.InvolvedObject.Kind == "CronJob" && e.InvolvedObject.Name == "forbid" {
					if e.Reason == "JobAlreadyActive" {
						return true, ""
					}
					seen = append(seen, e.Reason)
				}
			}
			return false, fmt.Sprintf("events of forbid: %v", seen)
		})
		if js2 := jobsOf(t, cs, "forbid"); len(js2) != 1 {
			t.Fatalf("forbid started %s", names(js2))
		}
		// Once the running Job ends, the skipped (most recent missed)
		// time runs at once, as upstream without startingDeadlineSeconds.
		complete(t, cs, js[0], clock.Now())
		waitJobs("forbid", 2)
		// The status may still list the finished Job for a moment: wait
		// for the new one, then check what came with it.
		got := waitActiveOther("forbid", js[0].UID)
		if got.Status.LastSuccessfulTime == nil {
			t.Fatalf("no lastSuccessfulTime: %+v", got.Status)
		}
		remove("forbid")
	})

	t.Run("replace", func(t *testing.T) {
		newCronJob("replace", batchv1.ReplaceConcurrent)
		tick()
		first := waitJobs("replace", 1)[0]
		waitActive("replace", 1)
		tick()
		eventually(t, "replaced", func() (bool, string) {
			js := jobsOf(t, cs, "replace")
			return len(js) == 1 && js[0].UID != first.UID, names(js)
		})
		waitActiveOther("replace", first.UID)
		remove("replace")
	})

	t.Run("history and suspend", func(t *testing.T) {
		newCronJob("hist", batchv1.AllowConcurrent, func(cj *batchv1.CronJob) { cj.Spec.SuccessfulJobsHistoryLimit = ptr.To[int32](1) })
		var last string
		for range 3 {
			at := tick()
			last = fmt.Sprintf("hist-%d", at.Unix()/60)
			var j *batchv1.Job
			eventually(t, "job "+last, func() (bool, string) {
				var err error
				j, err = cs.BatchV1().Jobs(ns).Get(ctx, last, metav1.GetOptions{})
				return err == nil, fmt.Sprint(err)
			})
			complete(t, cs, *j, clock.Now())
		}
		eventually(t, "history pruned to 1", func() (bool, string) {
			var done []string
			for _, j := range jobsOf(t, cs, "hist") {
				if ok, _ := finishedJob(j); ok {
					done = append(done, j.Name)
				}
			}
			return len(done) == 1 && done[0] == last, fmt.Sprint(done)
		})
		if _, err := cs.BatchV1().CronJobs(ns).Patch(ctx, "hist", "application/merge-patch+json", []byte(`{"spec":{"suspend":true}}`), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		before := names(jobsOf(t, cs, "hist"))
		time.Sleep(300 * time.Millisecond)
		tick()
		time.Sleep(time.Second)
		if after := names(jobsOf(t, cs, "hist")); after != before {
			t.Fatalf("suspended cronjob made jobs: %s -> %s", before, after)
		}
	})
}

func finishedJob(j batchv1.Job) (bool, string) {
	for _, c := range j.Status.Conditions {
		if c.Type == batchv1.JobComplete && c.Status == corev1.ConditionTrue {
			return true, ""
		}
	}
	return false, ""
}
