package job

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	listersv1 "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"github.com/flotilla-io/flotilla/pkg/controller/worker"
	"github.com/flotilla-io/flotilla/pkg/eventrecorder"
)

const (
	fieldManager = "flotilla-job"
	component    = "job-controller"
	// orphanPrefix marks queue keys of pods whose Job is gone but which
	// still hold the tracking finalizer.
	orphanPrefix = "pod:"
)

// controllerKind is what the pods' controller references name.
var controllerKind = batchv1.SchemeGroupVersion.WithKind("Job")

// Config tunes the controller; zero fields take the defaults.
type Config struct {
	// PodFailureBackoff is the delay before replacing a failed pod after
	// the first failure; it doubles per consecutive failure
	// (DefaultPodFailureBackoff).
	PodFailureBackoff time.Duration
	// MaxPodFailureBackoff caps that delay (DefaultMaxPodFailureBackoff).
	MaxPodFailureBackoff time.Duration
}

// Controller runs the pods of Jobs.
type Controller struct {
	client   kubernetes.Interface
	recorder eventrecorder.Recorder // set by Run
	jobs     batchlisters.JobLister
	pods     listersv1.PodLister
	synced   []cache.InformerSynced
	queue    workqueue.TypedRateLimitingInterface[string]
	exp      expectations
	backoff  backoffStore
	cfg      Config
	log      *slog.Logger
}

// New builds the controller on a shared informer factory.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, cfg Config, log *slog.Logger) *Controller {
	if cfg.PodFailureBackoff <= 0 {
		cfg.PodFailureBackoff = DefaultPodFailureBackoff
	}
	if cfg.MaxPodFailureBackoff <= 0 {
		cfg.MaxPodFailureBackoff = DefaultMaxPodFailureBackoff
	}
	jobs, pods := factory.Batch().V1().Jobs(), factory.Core().V1().Pods()
	c := &Controller{
		recorder: eventrecorder.Discard(),
		client:   client, jobs: jobs.Lister(), pods: pods.Lister(),
		synced: []cache.InformerSynced{jobs.Informer().HasSynced, pods.Informer().HasSynced},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](time.Second, time.Minute),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "job"}),
		cfg: cfg,
		log: log.With("controller", "job"),
	}
	_, _ = jobs.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueue,
		UpdateFunc: func(_, n any) { c.enqueue(n) },
		DeleteFunc: c.jobDeleted,
	})
	_, _ = pods.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if pod, ok := obj.(*corev1.Pod); ok {
				if metav1.GetControllerOf(pod) == nil {
					c.enqueueAdopters(pod)
					return
				}
				c.podOfJob(pod, false, true)
			}
		},
		UpdateFunc: c.podUpdated,
		DeleteFunc: c.podDeleted,
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

func (c *Controller) enqueue(obj any) {
	if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
		c.queue.Add(key)
	}
}

// jobDeleted forgets the Job and frees pods still holding its finalizer.
func (c *Controller) jobDeleted(obj any) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	job, ok := obj.(*batchv1.Job)
	if !ok {
		return
	}
	key, _ := cache.MetaNamespaceKeyFunc(job)
	c.exp.forget(key)
	c.backoff.forget(key)
	pods, err := c.pods.Pods(job.Namespace).List(everything)
	if err != nil {
		return
	}
	for _, p := range pods {
		if ref := metav1.GetControllerOf(p); ref != nil && ref.UID == job.UID && hasTrackingFinalizer(p) {
			c.queue.Add(orphanPrefix + p.Namespace + "/" + p.Name)
		}
	}
}

// podUpdated also requeues the Job a pod was released from and, for an
// orphan whose labels or controller changed, the Jobs that may adopt it.
func (c *Controller) podUpdated(old, cur any) {
	op, ok1 := old.(*corev1.Pod)
	np, ok2 := cur.(*corev1.Pod)
	if !ok1 || !ok2 {
		return
	}
	oref, nref := metav1.GetControllerOf(op), metav1.GetControllerOf(np)
	if oref != nil && (nref == nil || oref.UID != nref.UID) {
		c.podOfJob(op, true, false)
	}
	if nref == nil {
		if oref != nil || !labels.Equals(op.Labels, np.Labels) {
			c.enqueueAdopters(np)
		}
		return
	}
	c.podOfJob(np, false, false)
}

// enqueueAdopters queues the Jobs whose selector matches an orphan pod:
// the candidates to adopt it.
func (c *Controller) enqueueAdopters(pod *corev1.Pod) {
	if pod.DeletionTimestamp != nil {
		return
	}
	jobs, err := c.jobs.Jobs(pod.Namespace).List(everything)
	if err != nil {
		return
	}
	for _, job := range jobs {
		sel, err := metav1.LabelSelectorAsSelector(job.Spec.Selector)
		if err != nil || job.Spec.Selector == nil || sel.Empty() || IsFinished(job) {
			continue
		}
		if sel.Matches(labels.Set(pod.Labels)) {
			c.enqueue(job)
		}
	}
}

func (c *Controller) podDeleted(obj any) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	if pod, ok := obj.(*corev1.Pod); ok {
		c.podOfJob(pod, true, false)
	}
}

// podOfJob enqueues the Job controlling a pod and notes what the pod
// shows of the Job's expected writes.
func (c *Controller) podOfJob(pod *corev1.Pod, deleted, added bool) {
	ref := metav1.GetControllerOf(pod)
	if ref == nil || ref.Kind != "Job" || !strings.HasPrefix(ref.APIVersion, "batch/") {
		return
	}
	job, err := c.jobs.Jobs(pod.Namespace).Get(ref.Name)
	if err != nil || job.UID != ref.UID {
		if !deleted && hasTrackingFinalizer(pod) {
			c.queue.Add(orphanPrefix + pod.Namespace + "/" + pod.Name)
		}
		return
	}
	key := pod.Namespace + "/" + ref.Name
	if added {
		c.exp.creationObserved(key)
	}
	if deleted || pod.DeletionTimestamp != nil {
		c.exp.deletionObserved(key, pod.UID)
	}
	if deleted || !hasTrackingFinalizer(pod) {
		c.exp.finalizerRemovalObserved(key, pod.UID)
	}
	c.queue.Add(key)
}

// syncKey dispatches a key: orphanPrefix keys name a pod to release,
// the rest name Jobs.
func (c *Controller) syncKey(ctx context.Context, key string) error {
	if pod, ok := strings.CutPrefix(key, orphanPrefix); ok {
		return c.releaseOrphan(ctx, pod)
	}
	return c.sync(ctx, key)
}

// releaseOrphan removes the tracking finalizer of a pod whose Job is gone.
func (c *Controller) releaseOrphan(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	pod, err := c.pods.Pods(ns).Get(name)
	if err != nil || !hasTrackingFinalizer(pod) {
		return nil
	}
	if ref := metav1.GetControllerOf(pod); ref != nil {
		if job, err := c.jobs.Jobs(ns).Get(ref.Name); err == nil && job.UID == ref.UID {
			return nil // the Job's own sync counts it
		}
	}
	return c.removeFinalizer(ctx, pod)
}

// event records an Event on the Job; a failure only costs the Event.
func (c *Controller) event(_ context.Context, job *batchv1.Job, typ, reason, message string) {
	c.recorder.Event(job, typ, reason, message)
}

func hasTrackingFinalizer(p *corev1.Pod) bool {
	return slices.Contains(p.Finalizers, batchv1.JobTrackingFinalizer)
}
