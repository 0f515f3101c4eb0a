package cronjob

import (
	"context"
	"log/slog"

	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	"github.com/flotilla-io/flotilla/pkg/controller/worker"
	"github.com/flotilla-io/flotilla/pkg/eventrecorder"
)

const (
	fieldManager = "flotilla-cronjob"
	component    = "cronjob-controller"
)

// Config tunes the controller; zero fields take the defaults.
type Config struct {
	// Clock tells the time and drives the delayed requeues (a real clock
	// when nil; tests pass a k8s.io/utils/clock/testing FakeClock).
	Clock clock.WithTicker
}

// Controller creates the Jobs of CronJobs.
type Controller struct {
	client   kubernetes.Interface
	recorder eventrecorder.Recorder // set by Run
	cronJobs batchlisters.CronJobLister
	jobs     batchlisters.JobLister
	synced   []cache.InformerSynced
	queue    workqueue.TypedRateLimitingInterface[string]
	clock    clock.WithTicker
	log      *slog.Logger
}

// New builds the controller on a shared informer factory.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, cfg Config, log *slog.Logger) *Controller {
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	cjs, jobs := factory.Batch().V1().CronJobs(), factory.Batch().V1().Jobs()
	c := &Controller{
		recorder: eventrecorder.Discard(),
		client:   client, cronJobs: cjs.Lister(), jobs: jobs.Lister(),
		synced: []cache.InformerSynced{cjs.Informer().HasSynced, jobs.Informer().HasSynced},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "cronjob", Clock: cfg.Clock}),
		clock: cfg.Clock,
		log:   log.With("controller", "cronjob"),
	}
	enqueue := func(obj any) {
		if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
			c.queue.Add(key)
		}
	}
	_, _ = cjs.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: enqueue, UpdateFunc: func(_, n any) { enqueue(n) }, DeleteFunc: enqueue})
	_, _ = jobs.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.jobChanged,
		UpdateFunc: func(_, n any) { c.jobChanged(n) },
		DeleteFunc: c.jobChanged,
	})
	return c
}

// Run works the queue until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	defer c.queue.ShutDown()
	rec, stopEvents := eventrecorder.Start(ctx, c.client, component, "")
	defer stopEvents()
	c.recorder = rec
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return
	}
	worker.Run(ctx, c.queue, workers, c.syncKey, c.log)
}

// jobChanged enqueues the CronJob controlling a Job.
func (c *Controller) jobChanged(obj any) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	job, ok := obj.(*batchv1.Job)
	if !ok {
		return
	}
	if ref := metav1.GetControllerOf(job); ref != nil && ref.Kind == "CronJob" {
		c.queue.Add(job.Namespace + "/" + ref.Name)
	}
}

// syncKey syncs the CronJob and, on success, schedules its next look.
func (c *Controller) syncKey(ctx context.Context, key string) error {
	requeue, err := c.sync(ctx, key)
	if err != nil {
		return err
	}
	if requeue > 0 {
		c.queue.AddAfter(key, requeue)
	}
	return nil
}

// event records an Event on the CronJob; a failure only costs the Event.
func (c *Controller) event(_ context.Context, cj *batchv1.CronJob, typ, reason, message string) {
	c.recorder.Event(cj, typ, reason, message)
}
