package endpoints

import (
	"context"
	"log/slog"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	listersv1 "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/client-go/util/workqueue"

	"github.com/flotilla-io/flotilla/pkg/controller/internal/endpointutil"
	"github.com/flotilla-io/flotilla/pkg/controller/worker"
	"github.com/flotilla-io/flotilla/pkg/eventrecorder"
)

// Controller keeps the Endpoints of Services with a selector.
type Controller struct {
	client    kubernetes.Interface
	services  listersv1.ServiceLister
	pods      listersv1.PodLister
	endpoints listersv1.EndpointsLister
	synced    []cache.InformerSynced
	queue     workqueue.TypedRateLimitingInterface[string] // Service keys
	recorder  eventrecorder.Recorder                       // set by Run
	triggers  endpointutil.TriggerTimes
	stale     staleTracker
	log       *slog.Logger
}

// New builds the controller on a shared informer factory.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, log *slog.Logger) *Controller {
	svcs, pods, eps := factory.Core().V1().Services(), factory.Core().V1().Pods(), factory.Core().V1().Endpoints()
	c := &Controller{
		client: client, services: svcs.Lister(), pods: pods.Lister(), endpoints: eps.Lister(),
		synced:   []cache.InformerSynced{svcs.Informer().HasSynced, pods.Informer().HasSynced, eps.Informer().HasSynced},
		queue:    workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](), workqueue.TypedRateLimitingQueueConfig[string]{Name: "endpoint"}),
		recorder: eventrecorder.Discard(),
		log:      log.With("controller", "endpoint"),
	}
	c.stale.rv = map[types.NamespacedName]string{}
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
	// Endpoints deleted by someone else are written again (or, for a
	// Service that is gone, confirmed gone).
	_, _ = eps.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{DeleteFunc: byKey})
	return c
}

// Run works the queue until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	defer c.queue.ShutDown()
	rec, stopEvents := eventrecorder.Start(ctx, c.client, "endpoint-controller", "")
	defer stopEvents()
	c.recorder = rec
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return
	}
	c.queueLeftovers()
	worker.Run(ctx, c.queue, workers, c.sync, c.log)
}

// queueLeftovers looks at every Endpoints object once at start: those of
// Services deleted while no controller ran are then deleted, as
// upstream's checkLeftoverEndpoints does. Leader-election records (old
// clients still keep locks in Endpoints) are no Service's.
func (c *Controller) queueLeftovers() {
	all, err := c.endpoints.List(labels.Everything())
	if err != nil {
		c.log.Warn("list endpoints; leftovers of deleted Services stay", "err", err)
		return
	}
	for _, ep := range all {
		if _, ok := ep.Annotations[resourcelock.LeaderElectionRecordAnnotationKey]; ok {
			continue
		}
		c.queue.Add(ep.Namespace + "/" + ep.Name)
	}
}

// staleTracker remembers, per Endpoints, the resourceVersion an update of
// the controller replaced: a cache still showing it is behind that write.
type staleTracker struct {
	mu sync.Mutex
	rv map[types.NamespacedName]string
}

func (t *staleTracker) mark(ep *corev1.Endpoints) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.rv[types.NamespacedName{Namespace: ep.Namespace, Name: ep.Name}] = ep.ResourceVersion
}

func (t *staleTracker) isStale(ep *corev1.Endpoints) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	rv, ok := t.rv[types.NamespacedName{Namespace: ep.Namespace, Name: ep.Name}]
	return ok && rv == ep.ResourceVersion
}

func (t *staleTracker) forget(namespace, name string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.rv, types.NamespacedName{Namespace: namespace, Name: name})
}
