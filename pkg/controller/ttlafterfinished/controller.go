package ttlafterfinished

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"

	"github.com/flotilla-io/flotilla/pkg/controller/worker"
)

// Config tunes the controller; zero fields take the defaults.
type Config struct {
	// Clock tells the time and drives the requeues at expiry (a real
	// clock when nil).
	Clock clock.WithTicker
}

// Controller deletes expired finished Jobs.
type Controller struct {
	client kubernetes.Interface
	jobs   batchlisters.JobLister
	synced []cache.InformerSynced
	queue  workqueue.TypedRateLimitingInterface[string]
	clock  clock.WithTicker
	log    *slog.Logger
}

// New builds the controller on a shared informer factory.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, cfg Config, log *slog.Logger) *Controller {
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	jobs := factory.Batch().V1().Jobs()
	c := &Controller{
		client: client, jobs: jobs.Lister(),
		synced: []cache.InformerSynced{jobs.Informer().HasSynced},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "ttlafterfinished", Clock: cfg.Clock}),
		clock: cfg.Clock,
		log:   log.With("controller", "ttlafterfinished"),
	}
	enqueue := func(obj any) {
		if j, ok := obj.(*batchv1.Job); ok && needsCleanup(j) {
			if key, err := cache.MetaNamespaceKeyFunc(j); err == nil {
				c.queue.Add(key)
			}
		}
	}
	_, _ = jobs.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: enqueue, UpdateFunc: func(_, n any) { enqueue(n) }})
	return c
}

// Run works the queue until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	defer c.queue.ShutDown()
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return
	}
	worker.Run(ctx, c.queue, workers, c.sync, c.log)
}

func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	job, err := c.jobs.Jobs(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if left, ok := c.timeLeft(job); !ok || left > 0 {
		if ok {
			c.queue.AddAfter(key, left)
		}
		return nil
	}
	// The cache may be stale: the TTL may have changed since.
	fresh, err := c.client.BatchV1().Jobs(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("get job: %w", err)
	}
	if left, ok := c.timeLeft(fresh); !ok || left > 0 {
		if ok {
			c.queue.AddAfter(key, left)
		}
		return nil
	}
	c.log.Debug("deleting expired job", "job", key)
	err = c.client.BatchV1().Jobs(ns).Delete(ctx, name, metav1.DeleteOptions{
		PropagationPolicy: ptr.To(metav1.DeletePropagationBackground),
		Preconditions:     &metav1.Preconditions{UID: &fresh.UID, ResourceVersion: &fresh.ResourceVersion},
	})
	if err != nil && !apierrors.IsNotFound(err) {
		if apierrors.IsConflict(err) {
			c.queue.Add(key) // changed meanwhile: look again
			return nil
		}
		return fmt.Errorf("delete job: %w", err)
	}
	return nil
}

// timeLeft is how long until job expires; ok is false when it never does.
func (c *Controller) timeLeft(job *batchv1.Job) (time.Duration, bool) {
	if !needsCleanup(job) {
		return 0, false
	}
	done := finishTime(job)
	if done.IsZero() {
		return 0, false
	}
	expire := done.Add(time.Duration(*job.Spec.TTLSecondsAfterFinished) * time.Second)
	return max(0, expire.Sub(c.clock.Now())), true
}

// needsCleanup: a finished Job with a TTL, not already being deleted.
func needsCleanup(job *batchv1.Job) bool {
	return job.Spec.TTLSecondsAfterFinished != nil && job.DeletionTimestamp == nil && !finishTime(job).IsZero()
}

// finishTime is when the Job's terminal condition became true.
func finishTime(job *batchv1.Job) time.Time {
	for _, c := range job.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			if !c.LastTransitionTime.IsZero() {
				return c.LastTransitionTime.Time
			}
			if job.Status.CompletionTime != nil {
				return job.Status.CompletionTime.Time
			}
			return time.Time{}
		}
	}
	return time.Time{}
}
