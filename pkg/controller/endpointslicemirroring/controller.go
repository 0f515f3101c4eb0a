package endpointslicemirroring

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	listersv1 "k8s.io/client-go/listers/core/v1"
	listersdiscoveryv1 "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/client-go/util/workqueue"

	"github.com/flotilla-io/flotilla/pkg/controller/internal/endpointutil"
	"github.com/flotilla-io/flotilla/pkg/controller/worker"
	"github.com/flotilla-io/flotilla/pkg/eventrecorder"
)

// ControllerName is the value of the endpointslice.kubernetes.io/managed-by
// label on mirrored slices.
const ControllerName = "endpointslicemirroring-controller.k8s.io"

// DefaultMaxEndpointsPerSubset is upstream's
// --mirroring-max-endpoints-per-subset default.
const DefaultMaxEndpointsPerSubset = 1000

// Config tunes the controller.
type Config struct {
	// MaxEndpointsPerSubset caps the addresses mirrored from one subset
	// (0 = 1000).
	MaxEndpointsPerSubset int
}

// Controller mirrors hand-written Endpoints into EndpointSlices.
type Controller struct {
	client    kubernetes.Interface
	endpoints listersv1.EndpointsLister
	services  listersv1.ServiceLister
	slices    listersdiscoveryv1.EndpointSliceLister
	synced    []cache.InformerSynced
	queue     workqueue.TypedRateLimitingInterface[string] // Endpoints (= Service) keys
	tracker   *endpointutil.SliceTracker
	rec       *reconciler
	log       *slog.Logger
}

// New builds the controller on a shared informer factory.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, cfg Config, log *slog.Logger) *Controller {
	if cfg.MaxEndpointsPerSubset <= 0 {
		cfg.MaxEndpointsPerSubset = DefaultMaxEndpointsPerSubset
	}
	eps, svcs, slices := factory.Core().V1().Endpoints(), factory.Core().V1().Services(), factory.Discovery().V1().EndpointSlices()
	c := &Controller{
		client: client, endpoints: eps.Lister(), services: svcs.Lister(), slices: slices.Lister(),
		synced:  []cache.InformerSynced{eps.Informer().HasSynced, svcs.Informer().HasSynced, slices.Informer().HasSynced},
		queue:   workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](), workqueue.TypedRateLimitingQueueConfig[string]{Name: "endpoint_slice_mirroring"}),
		tracker: &endpointutil.SliceTracker{},
		log:     log.With("controller", "endpointslicemirroring"),
	}
	c.rec = &reconciler{client: client, max: cfg.MaxEndpointsPerSubset, tracker: c.tracker, recorder: eventrecorder.Discard()}
	byKey := func(obj any) {
		if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
			c.queue.Add(key)
		}
	}
	_, _ = eps.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if e := endpointsOf(obj); e != nil && shouldMirror(e) {
				byKey(obj)
			}
		},
		UpdateFunc: func(oldObj, newObj any) {
			if o, n := endpointsOf(oldObj), endpointsOf(newObj); o != nil && n != nil && (shouldMirror(o) || shouldMirror(n)) {
				byKey(newObj)
			}
		},
		DeleteFunc: func(obj any) {
			if e := endpointsOf(obj); e != nil && shouldMirror(e) {
				byKey(obj)
			}
		},
	})
	_, _ = svcs.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if s := serviceOf(obj); s != nil && s.Spec.Selector == nil {
				byKey(obj)
			}
		},
		UpdateFunc: func(oldObj, newObj any) {
			if o, n := serviceOf(oldObj), serviceOf(newObj); o != nil && n != nil && (o.Spec.Selector == nil) != (n.Spec.Selector == nil) {
				byKey(newObj)
			}
		},
		DeleteFunc: func(obj any) {
			if s := serviceOf(obj); s != nil && s.Spec.Selector == nil {
				byKey(obj)
			}
		},
	})
	_, _ = slices.Informer().AddEventHandler(endpointutil.SliceHandlers(managed, c.tracker, c.queue.Add))
	return c
}

// Run works the queue until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	defer c.queue.ShutDown()
	rec, stopEvents := eventrecorder.Start(ctx, c.client, "endpoint-slice-mirroring-controller", "")
	defer stopEvents()
	c.rec.recorder = rec
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return
	}
	worker.Run(ctx, c.queue, workers, c.sync, c.log)
}

func endpointsOf(obj any) *corev1.Endpoints {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	e, _ := obj.(*corev1.Endpoints)
	return e
}

func serviceOf(obj any) *corev1.Service {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	s, _ := obj.(*corev1.Service)
	return s
}

// shouldMirror: not switched off by label, and no leader-election lock.
func shouldMirror(e *corev1.Endpoints) bool {
	if e.Labels[discoveryv1.LabelSkipMirror] == "true" {
		return false
	}
	_, lock := e.Annotations[resourcelock.LeaderElectionRecordAnnotationKey]
	return !lock
}

func managed(s *discoveryv1.EndpointSlice) bool {
	return s.Labels[discoveryv1.LabelManagedBy] == ControllerName
}

func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	ep, err := c.endpoints.Endpoints(ns).Get(name)
	switch {
	case apierrors.IsNotFound(err):
		return c.deleteMirrored(ctx, ns, name)
	case err != nil:
		return err
	case !shouldMirror(ep):
		return c.deleteMirrored(ctx, ns, name)
	}
	svc, err := c.services.Services(ns).Get(name)
	switch {
	case apierrors.IsNotFound(err):
		return c.deleteMirrored(ctx, ns, name)
	case err != nil:
		return err
	case svc.Spec.Selector != nil:
		// The Service's own controllers write its endpoints now.
		return c.deleteMirrored(ctx, ns, name)
	}
	slices, err := c.mirrored(ns, name)
	if err != nil {
		return err
	}
	if c.tracker.Stale(svc, slices) {
		return endpointutil.StaleCache("endpointslices", key)
	}
	return c.rec.reconcile(ctx, ep, slices)
}

func (c *Controller) mirrored(ns, name string) ([]*discoveryv1.EndpointSlice, error) {
	sel := labels.SelectorFromValidatedSet(labels.Set{discoveryv1.LabelServiceName: name, discoveryv1.LabelManagedBy: ControllerName})
	out, err := c.slices.EndpointSlices(ns).List(sel)
	if err != nil {
		return nil, fmt.Errorf("list mirrored slices: %w", err)
	}
	return out, nil
}

// deleteMirrored deletes every slice mirrored for ns/name.
func (c *Controller) deleteMirrored(ctx context.Context, ns, name string) error {
	c.tracker.DeleteService(ns, name)
	slices, err := c.mirrored(ns, name)
	if err != nil {
		return err
	}
	var errs []error
	for _, s := range slices {
		if err := c.client.DiscoveryV1().EndpointSlices(ns).Delete(ctx, s.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete mirrored slice %s/%s: %w", ns, s.Name, err))
		}
	}
	return errors.Join(errs...)
}
