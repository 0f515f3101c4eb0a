package ttlafterfinished_test

import (
	"context"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/utils/ptr"

	"github.com/flotilla-io/flotilla/pkg/controller/ttlafterfinished"
	"github.com/flotilla-io/flotilla/pkg/server/testserver"
)

func TestTTLAfterFinished(t *testing.T) {
	in := testserver.Start(t, testserver.Options{DisableControllers: []string{"job", "cronjob", "ttlafterfinished"}})
	cs := in.Clientset(t)
	ctx, cancel := context.WithCancel(context.Background())
	factory := informers.NewSharedInformerFactory(cs, 0)
	c := ttlafterfinished.New(cs, factory, ttlafterfinished.Config{}, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); factory.Shutdown(); wg.Wait() })
	factory.Start(ctx.Done())
	wg.Add(1)
	go func() { defer wg.Done(); c.Run(ctx, 2) }()
	const ns = "ttl"
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	mk := func(name string, ttl *int32) *batchv1.Job {
		j, err := cs.BatchV1().Jobs(ns).Create(ctx, &batchv1.Job{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: batchv1.JobSpec{TTLSecondsAfterFinished: ttl, Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "c", Image: "busybox"}},
			}}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	finish := func(j *batchv1.Job) time.Time {
		now := metav1.Now()
		j.Status.StartTime, j.Status.CompletionTime, j.Status.Succeeded = &now, &now, 1
		j.Status.Conditions = []batchv1.JobCondition{
			{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: now},
		}
		if _, err := cs.BatchV1().Jobs(ns).UpdateStatus(ctx, j, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		return now.Time
	}
	expiring, keep, running := mk("expiring", ptr.To[int32](1)), mk("keep", nil), mk("running", ptr.To[int32](0))
	done := finish(expiring)
	finish(keep)
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, err := cs.BatchV1().Jobs(ns).Get(ctx, "expiring", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("job not deleted: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Second granularity of the stored condition time allows a second early.
	if took := time.Since(done); took < 0 || took > 5*time.Second {
		t.Errorf("deleted %v after finishing, want about 1s", took)
	}
	time.Sleep(1500 * time.Millisecond)
	for _, j := range []*batchv1.Job{keep, running} {
		if _, err := cs.BatchV1().Jobs(ns).Get(ctx, j.Name, metav1.GetOptions{}); err != nil {
			t.Errorf("%s: %v", j.Name, err)
		}
	}
}
