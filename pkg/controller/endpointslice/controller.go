package endpointslice

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	listersv1 "k8s.io/client-go/listers/core/v1"
	listersdiscoveryv1 "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"github.com/flotilla-io/flotilla/pkg/controller/internal/endpointutil"
	"github.com/flotilla-io/flotilla/pkg/controller/worker"
	"github.com/flotilla-io/flotilla/pkg/eventrecorder"
)

// ControllerName is the value of the endpointslice.kubernetes.io/managed-by
// label on the slices this controller owns.
const ControllerName = "endpointslice-controller.k8s.io"

// DefaultMaxEndpointsPerSlice is upstream's --max-endpoints-per-slice default.
const DefaultMaxEndpointsPerSlice = 100

// sliceChangeDelay batches the syncs that slice changes by others cause,
// as upstream's endpointSliceChangeMinSyncDelay.
const sliceChangeDelay = time.Second

// Config tunes the controller.
type Config struct {
	// MaxEndpointsPerSlice caps the endpoints of one slice (0 = 100;
	// the API allows at most 1000).
	MaxEndpointsPerSlice int
}

// Controller keeps the EndpointSlices of Services with a selector.
type Controller struct {
	client   kubernetes.Interface
	services listersv1.ServiceLister
	pods     listersv1.PodLister
	slices   listersdiscoveryv1.EndpointSliceLister
	synced   []cache.InformerSynced
	queue    workqueue.TypedRateLimitingInterface[string] // Service keys
	recorder eventrecorder.Recorder                       // set by Run
	triggers endpointutil.TriggerTimes
	tracker  *endpointutil.SliceTracker
	rec      *reconciler
	log      *slog.Logger
}

// New builds the controller on a shared informer factory.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, cfg Config, log *slog.Logger) *Controller {
	if cfg.MaxEndpointsPerSlice <= 0 {
		cfg.MaxEndpointsPerSlice = DefaultMaxEndpointsPerSlice
	}
	svcs, pods, nodes := factory.Core().V1().Services(), factory.Core().V1().Pods(), factory.Core().V1().Nodes()
	slices := factory.Discovery().V1().EndpointSlices()
	c := &Controller{
		client: client, services: svcs.Lister(), pods: pods.Lister(), slices: slices.Lister(),
		synced:   []cache.InformerSynced{svcs.Informer().HasSynced, pods.Informer().HasSynced, nodes.Informer().HasSynced, slices.Informer().HasSynced},
		queue:    workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](), workqueue.TypedRateLimitingQueueConfig[string]{Name: "endpoint_slice"}),
		recorder: eventrecorder.Discard(),
		tracker:  &endpointutil.SliceTracker{},
		log:      log.With("controller", "endpointslice"),
	}
	c.rec = &reconciler{client: client, nodes: nodes.Lister(), max: cfg.MaxEndpointsPerSlice, tracker: c.tracker}
	byKey := func(obj any) {
		if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
			c.queue.Add(key)
		}
	}
	_, _ = svcs.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: byKey, UpdateFunc: func(_, n any) { byKey(n) }, DeleteFunc: byKey,
	})
	podEvent := func(oldObj, newObj any) {
		for key := range endpointutil.ServicesToUpdate(c.services, oldObj, newObj) {
			c.queue.Add(key)
		}
	}
	_, _ = pods.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { podEvent(nil, obj) },
		UpdateFunc: podEvent,
		DeleteFunc: func(obj any) { podEvent(obj, nil) },
	})
	_, _ = slices.Informer().AddEventHandler(endpointutil.SliceHandlers(managed, c.tracker, c.queue.Add))
	return c
}

// Run works the queue until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	defer c.queue.ShutDown()
	rec, stopEvents := eventrecorder.Start(ctx, c.client, "endpoint-slice-controller", "")
	defer stopEvents()
	c.recorder = rec
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return
	}
	worker.Run(ctx, c.queue, workers, c.sync, c.log)
}

func managed(s *discoveryv1.EndpointSlice) bool {
	return s.Labels[discoveryv1.LabelManagedBy] == ControllerName
}

// Slice events: only changes this controller did not make itself matter
// (someone edited or deleted one of its slices, or took it over).

func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	svc, err := c.services.Services(ns).Get(name)
	if apierrors.IsNotFound(err) {
		// The garbage collector deletes the slices through their owner
		// reference.
		c.triggers.Forget(ns, name)
		c.tracker.DeleteService(ns, name)
		return nil
	}
	if err != nil {
		return err
	}
	if svc.Spec.Type == corev1.ServiceTypeExternalName || svc.Spec.Selector == nil {
		return nil
	}
	pods, err := c.pods.Pods(ns).List(labels.SelectorFromValidatedSet(svc.Spec.Selector))
	if err != nil {
		c.recorder.Eventf(svc, corev1.EventTypeWarning, "FailedToListPods", "Error listing Pods for Service %s/%s: %v", ns, name, err)
		return fmt.Errorf("list pods: %w", err)
	}
	sel := labels.SelectorFromValidatedSet(labels.Set{discoveryv1.LabelServiceName: name, discoveryv1.LabelManagedBy: ControllerName})
	all, err := c.slices.EndpointSlices(ns).List(sel)
	if err != nil {
		c.recorder.Eventf(svc, corev1.EventTypeWarning, "FailedToListEndpointSlices", "Error listing Endpoint Slices for Service %s/%s: %v", ns, name, err)
		return fmt.Errorf("list endpoint slices: %w", err)
	}
	existing := all[:0:0]
	for _, s := range all {
		if s.DeletionTimestamp == nil {
			existing = append(existing, s)
		}
	}
	if c.tracker.Stale(svc, existing) {
		return endpointutil.StaleCache("endpointslices", key)
	}
	trigger := c.triggers.Compute(svc, pods)
	if err := c.rec.reconcile(ctx, svc, pods, existing, trigger); err != nil {
		if !apierrors.IsConflict(err) { // a conflict is a lagging cache, retried
			c.recorder.Eventf(svc, corev1.EventTypeWarning, "FailedToUpdateEndpointSlices", "Error updating Endpoint Slices for Service %s/%s: %v", ns, name, err)
		}
		return err
	}
	return nil
}
