package resourcequota

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	quotav1 "k8s.io/apiserver/pkg/quota/v1"
	"k8s.io/apiserver/pkg/quota/v1/generic"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"github.com/flotilla-io/flotilla/pkg/controller/worker"
	"github.com/flotilla-io/flotilla/pkg/quota"
)

// Config tunes the controller; zero fields take the defaults.
type Config struct {
	// ResyncPeriod is how often every quota is recalculated (0 = 5 min).
	ResyncPeriod time.Duration
}

// Controller keeps ResourceQuota status.
type Controller struct {
	client   kubernetes.Interface
	factory  informers.SharedInformerFactory
	quotas   corelisters.ResourceQuotaLister
	synced   []cache.InformerSynced
	queue    workqueue.TypedRateLimitingInterface[string]
	registry quotav1.Registry
	resync   time.Duration
	log      *slog.Logger

	// mu guards adding count evaluators for count/<resource>.<group>;
	// stop is Run's context, which the informers they add run under.
	mu   sync.Mutex
	stop <-chan struct{}
}

// replenished are the resources whose changes free quota: a delete, or
// an update that changes what the object uses.
var replenished = []schema.GroupVersionResource{
	corev1.SchemeGroupVersion.WithResource("pods"),
	corev1.SchemeGroupVersion.WithResource("services"),
	corev1.SchemeGroupVersion.WithResource("persistentvolumeclaims"),
	corev1.SchemeGroupVersion.WithResource("configmaps"),
	corev1.SchemeGroupVersion.WithResource("secrets"),
	corev1.SchemeGroupVersion.WithResource("replicationcontrollers"),
	corev1.SchemeGroupVersion.WithResource("resourcequotas"),
}

// New builds the controller on a shared informer factory; client writes
// quota status.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, cfg Config, log *slog.Logger) *Controller {
	if cfg.ResyncPeriod == 0 {
		cfg.ResyncPeriod = 5 * time.Minute
	}
	inf := factory.Core().V1().ResourceQuotas()
	c := &Controller{
		client: client, factory: factory, quotas: inf.Lister(),
		synced: []cache.InformerSynced{inf.Informer().HasSynced},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "resourcequota"}),
		registry: generic.NewRegistry(quota.Evaluators(generic.ListerFuncForResourceFunc(factory.ForResource))),
		resync:   cfg.ResyncPeriod,
		log:      log.With("controller", "resourcequota"),
	}
	_, _ = inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: c.enqueue,
		// Status writes are the controller's own and admission's: only a
		// changed spec needs a recalculation.
		UpdateFunc: func(old, cur any) {
			o, n := old.(*corev1.ResourceQuota), cur.(*corev1.ResourceQuota)
			if !quotav1.Equals(o.Spec.Hard, n.Spec.Hard) || !equality.Semantic.DeepEqual(o.Spec.Hard, n.Status.Hard) {
				c.enqueue(n)
			}
		},
	})
	for _, gvr := range replenished {
		gi, err := factory.ForResource(gvr)
		if err != nil {
			c.log.Error("no informer", "resource", gvr.String(), "err", err)
			continue
		}
		_, _ = gi.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
			UpdateFunc: func(old, cur any) {
				if usageChanged(c.registry.Get(gvr.GroupResource()), old, cur) {
					c.replenish(gvr.GroupResource(), cur)
				}
			},
			DeleteFunc: func(obj any) { c.replenish(gvr.GroupResource(), obj) },
		})
		c.synced = append(c.synced, gi.Informer().HasSynced)
	}
	return c
}

// Run works the queue until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	defer c.queue.ShutDown()
	c.mu.Lock()
	c.stop = ctx.Done()
	c.mu.Unlock()
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return
	}
	go func() {
		t := time.NewTicker(c.resync)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				c.enqueueAll()
			}
		}
	}()
	worker.Run(ctx, c.queue, workers, c.sync, c.log)
}

func (c *Controller) enqueue(obj any) {
	if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
		c.queue.Add(key)
	}
}

func (c *Controller) enqueueAll() {
	qs, err := c.quotas.List(labels.Everything())
	if err != nil {
		return
	}
	for _, q := range qs {
		c.enqueue(q)
	}
}

// replenish queues the quotas of obj's namespace that count its kind.
func (c *Controller) replenish(gr schema.GroupResource, obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	m, ok := obj.(metav1.Object)
	if !ok || m.GetNamespace() == "" {
		return
	}
	qs, err := c.quotas.ResourceQuotas(m.GetNamespace()).List(labels.Everything())
	if err != nil {
		return
	}
	e := c.registry.Get(gr)
	for _, q := range qs {
		if e == nil || len(e.MatchingResources(quotav1.ResourceNames(q.Status.Hard))) > 0 {
			c.enqueue(q)
		}
	}
}

// usageChanged: an update changes what the object uses (a pod turning
// terminal, a service changing type).
func usageChanged(e quotav1.Evaluator, old, cur any) bool {
	if e == nil {
		return false
	}
	o, err1 := e.Usage(old.(runtime.Object))
	n, err2 := e.Usage(cur.(runtime.Object))
	return err1 != nil || err2 != nil || !quotav1.Equals(o, n)
}

func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	q, err := c.quotas.ResourceQuotas(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	return c.syncQuota(ctx, q)
}

// syncQuota recalculates one quota and writes its status if it changed.
func (c *Controller) syncQuota(ctx context.Context, q *corev1.ResourceQuota) error {
	c.addCountEvaluators(q.Spec.Hard)
	hard := quotav1.Add(corev1.ResourceList{}, q.Spec.Hard)
	used := quotav1.Add(corev1.ResourceList{}, q.Status.Used)
	usage, calcErr := quotav1.CalculateUsage(q.Namespace, q.Spec.Scopes, hard, c.registry, q.Spec.ScopeSelector)
	for name, v := range usage {
		used[name] = v
	}
	used = quotav1.Mask(used, quotav1.ResourceNames(hard))
	dirty := q.Status.Hard == nil || q.Status.Used == nil ||
		!equality.Semantic.DeepEqual(q.Spec.Hard, q.Status.Hard) || !quotav1.Equals(used, q.Status.Used)
	if dirty {
		next := q.DeepCopy()
		next.Status = corev1.ResourceQuotaStatus{Hard: hard, Used: used}
		if _, err := c.client.CoreV1().ResourceQuotas(q.Namespace).UpdateStatus(ctx, next, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("update status of quota %s/%s: %w", q.Namespace, q.Name, err)
		}
	}
	if calcErr != nil {
		return fmt.Errorf("calculate usage of quota %s/%s: %w", q.Namespace, q.Name, calcErr)
	}
	return nil
}

// addCountEvaluators registers object counts a quota names as
// count/<resource>.<group> for resources without an evaluator yet. The
// informer comes from the shared factory (built-in kinds only), started
// at once; until it syncs the count fails and the quota is retried.
func (c *Controller) addCountEvaluators(hard corev1.ResourceList) {
	c.mu.Lock()
	defer c.mu.Unlock()
	added := false
	for name := range hard {
		rest, ok := strings.CutPrefix(string(name), "count/")
		if !ok {
			continue
		}
		gr := schema.ParseGroupResource(rest)
		if c.registry.Get(gr) != nil {
			continue
		}
		for _, v := range []string{"v1", "v2", "v1beta1"} {
			gvr := gr.WithVersion(v)
			if gi, err := c.factory.ForResource(gvr); err == nil {
				c.registry.Add(generic.NewObjectCountEvaluator(gr, generic.ListResourceUsingListerFunc(generic.ListerFuncForResourceFunc(c.factory.ForResource), gvr), ""))
				// Admission charges a create; a delete is given back here,
				// as for the kinds replenished from the start.
				_, _ = gi.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
					DeleteFunc: func(obj any) { c.replenish(gr, obj) },
				})
				added = true
				break
			}
		}
	}
	if added && c.stop != nil {
		c.factory.Start(c.stop)
	}
}
