package podautoscaler

import (
	"context"
	"log/slog"
	"sync"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	autoscalinglisters "k8s.io/client-go/listers/autoscaling/v2"
	listersv1 "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/scale"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	metricsclient "k8s.io/metrics/pkg/client/clientset/versioned/typed/metrics/v1beta1"

	"github.com/flotilla-io/flotilla/pkg/eventrecorder"
)

// component is the event source, as upstream's.
const component = "horizontal-pod-autoscaler"

// Config tunes the controller; zero fields take upstream's defaults.
type Config struct {
	// SyncPeriod is how often every HPA is synced (15 s).
	SyncPeriod time.Duration
	// DownscaleStabilization is the scale-down window of HPAs without a
	// behavior, and of behaviors leaving it unset (5 min).
	DownscaleStabilization time.Duration
	// Tolerance is the usage ratio change below which nothing scales (0.1).
	Tolerance float64
	// CPUInitializationPeriod is how long after start a pod's CPU sample
	// is used only once taken fully after readiness (5 min).
	CPUInitializationPeriod time.Duration
	// InitialReadinessDelay is how long after start a pod not ready is
	// taken as never ready yet (30 s).
	InitialReadinessDelay time.Duration
}

func (c Config) withDefaults() Config {
	if c.SyncPeriod <= 0 {
		c.SyncPeriod = 15 * time.Second
	}
	if c.DownscaleStabilization <= 0 {
		c.DownscaleStabilization = 5 * time.Minute
	}
	if c.Tolerance <= 0 {
		c.Tolerance = 0.1
	}
	if c.CPUInitializationPeriod <= 0 {
		c.CPUInitializationPeriod = 5 * time.Minute
	}
	if c.InitialReadinessDelay <= 0 {
		c.InitialReadinessDelay = 30 * time.Second
	}
	return c
}

// RESTMapper maps the kind an HPA targets to resources; a mapper caching
// discovery is Reset when a kind is not found, so new kinds are seen.
type RESTMapper interface {
	meta.RESTMapper
	Reset()
}

// Clients are what the controller reads and writes through.
type Clients struct {
	Kube    kubernetes.Interface
	Scales  scale.ScalesGetter
	Mapper  RESTMapper
	Metrics metricsclient.PodMetricsesGetter
}

// Controller syncs HorizontalPodAutoscalers.
type Controller struct {
	client  kubernetes.Interface
	scales  scale.ScalesGetter
	mapper  RESTMapper
	metrics metricsclient.PodMetricsesGetter
	hpas    autoscalinglisters.HorizontalPodAutoscalerLister
	pods    listersv1.PodLister
	synced  []cache.InformerSynced
	queue   workqueue.TypedDelayingInterface[string]
	cfg     Config
	log     *slog.Logger
	now     func() time.Time

	// recorder is set by Run (or a test).
	recorder  eventrecorder.Recorder
	history   *history
	selectors *selectorIndex

	resetMu   sync.Mutex
	lastReset time.Time

	// ready is closed once Run has its recorder and synced caches.
	ready chan struct{}
}

// New builds the controller on a shared informer factory.
func New(clients Clients, factory informers.SharedInformerFactory, cfg Config, log *slog.Logger) *Controller {
	hpas, pods := factory.Autoscaling().V2().HorizontalPodAutoscalers(), factory.Core().V1().Pods()
	c := &Controller{
		client: clients.Kube, scales: clients.Scales, mapper: clients.Mapper, metrics: clients.Metrics,
		hpas: hpas.Lister(), pods: pods.Lister(),
		synced:    []cache.InformerSynced{hpas.Informer().HasSynced, pods.Informer().HasSynced},
		queue:     workqueue.NewTypedDelayingQueueWithConfig(workqueue.TypedDelayingQueueConfig[string]{Name: "horizontalpodautoscaler"}),
		cfg:       cfg.withDefaults(),
		log:       log.With("controller", "horizontalpodautoscaler"),
		now:       time.Now,
		history:   newHistory(),
		selectors: newSelectorIndex(),
		ready:     make(chan struct{}),
	}
	_, _ = hpas.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: c.enqueue,
		// Status writes (this controller's own) do not move the
		// generation; only spec changes are synced at once.
		UpdateFunc: func(o, n any) {
			old, ok1 := o.(*autoscalingv2.HorizontalPodAutoscaler)
			cur, ok2 := n.(*autoscalingv2.HorizontalPodAutoscaler)
			if ok1 && ok2 && old.Generation != cur.Generation {
				c.enqueue(n)
			}
		},
		DeleteFunc: c.enqueue,
	})
	return c
}

// Run works the queue with the given number of workers until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	defer c.queue.ShutDown()
	if c.recorder == nil {
		rec, stopEvents := eventrecorder.Start(ctx, c.client, component, "")
		defer stopEvents()
		c.recorder = rec
	}
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return
	}
	close(c.ready)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c.next(ctx) {
			}
		}()
	}
	<-ctx.Done()
	c.queue.ShutDown()
	wg.Wait()
}

func (c *Controller) enqueue(obj any) {
	if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
		c.queue.Add(key)
	}
}

// next syncs one HPA and, as long as it exists, looks at it again one
// sync period later: every HPA is synced once a period whatever happens.
func (c *Controller) next(ctx context.Context) bool {
	key, quit := c.queue.Get()
	if quit {
		return false
	}
	defer c.queue.Done(key)
	deleted, err := c.Sync(ctx, key)
	if err != nil && ctx.Err() == nil {
		c.log.Debug("sync", "hpa", key, "err", err)
	}
	if !deleted {
		c.queue.AddAfter(key, c.cfg.SyncPeriod)
	}
	return true
}

// Sync reconciles one HPA by key; deleted reports that it is gone.
func (c *Controller) Sync(ctx context.Context, key string) (deleted bool, err error) {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return true, nil
	}
	hpa, err := c.hpas.HorizontalPodAutoscalers(ns).Get(name)
	if err != nil {
		c.history.forget(key)
		c.selectors.forget(key)
		return true, nil
	}
	return false, c.reconcile(ctx, hpa.DeepCopy(), key)
}

// SyncAll syncs every HPA of the cache once with the given number of
// workers, beside the periodic syncs, and returns how many it synced: a
// full sync round, as the benchmark measures it. Run must be running.
func (c *Controller) SyncAll(ctx context.Context, workers int) (int, error) {
	select {
	case <-c.ready:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	all, err := c.hpas.List(labels.Everything())
	if err != nil {
		return 0, err
	}
	keys := make(chan string)
	var wg sync.WaitGroup
	for range max(workers, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for key := range keys {
				_, _ = c.Sync(ctx, key)
			}
		}()
	}
	for _, h := range all {
		keys <- h.Namespace + "/" + h.Name
	}
	close(keys)
	wg.Wait()
	return len(all), ctx.Err()
}
