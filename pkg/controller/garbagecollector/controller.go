package garbagecollector

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// Config tunes the collector.
type Config struct {
	// DiscoveryPeriod is how often served resources are discovered again
	// to watch new ones and stop watching removed ones (0 = 30 s).
	DiscoveryPeriod time.Duration
	// SyncTimeout bounds the wait for the first listing of every resource
	// before workers start (0 = 60 s). Resources that cannot be listed in
	// time are still watched; decisions never rest on their absence alone.
	SyncTimeout time.Duration
}

func (c Config) withDefaults() Config {
	if c.DiscoveryPeriod <= 0 {
		c.DiscoveryPeriod = 30 * time.Second
	}
	if c.SyncTimeout <= 0 {
		c.SyncTimeout = 60 * time.Second
	}
	return c
}

// resourceInfo is what discovery says about one kind.
type resourceInfo struct {
	gvr        schema.GroupVersionResource
	kind       string
	namespaced bool
}

// restMap resolves the kinds in ownerReferences to resources. It is built
// from every served version, so a reference may name any of them.
type restMap struct {
	byGVK map[schema.GroupVersionKind]resourceInfo
	byGK  map[schema.GroupKind]resourceInfo // any version: the fallback
}

func (m *restMap) resolve(apiVersion, kind string) (resourceInfo, bool) {
	if m == nil {
		return resourceInfo{}, false
	}
	gv, err := schema.ParseGroupVersion(apiVersion)
	if err != nil {
		return resourceInfo{}, false
	}
	if r, ok := m.byGVK[gv.WithKind(kind)]; ok {
		return r, true
	}
	r, ok := m.byGK[schema.GroupKind{Group: gv.Group, Kind: kind}]
	return r, ok
}

// monitor watches one resource.
type monitor struct {
	info     resourceInfo
	informer cache.SharedIndexInformer
	cancel   context.CancelFunc
}

// Controller is the garbage collector.
type Controller struct {
	md   metadata.Interface
	disc discovery.DiscoveryInterface
	cfg  Config
	log  *slog.Logger

	// deleteQueue holds objects to check: a dependent that may have lost
	// its owners, or an owner waiting for its dependents (Foreground).
	deleteQueue workqueue.TypedRateLimitingInterface[types.UID]
	// orphanQueue holds owners deleted with the Orphan policy.
	orphanQueue workqueue.TypedRateLimitingInterface[types.UID]

	mapper atomic.Pointer[restMap]

	monMu    sync.Mutex
	monitors map[schema.GroupVersionResource]*monitor

	// mu guards the graph and what hangs off it.
	mu    sync.Mutex
	nodes map[types.UID]*node
	// unresolved are objects with a reference to a kind no resource
	// serves; they are checked again when discovery changes.
	unresolved map[types.UID]struct{}

	absent absentCache

	wg sync.WaitGroup
	// started is closed once the workers run (tests wait for it).
	started chan struct{}
}

// New builds the collector. md reads and writes object metadata of every
// resource; disc finds the resources.
func New(md metadata.Interface, disc discovery.DiscoveryInterface, cfg Config, log *slog.Logger) *Controller {
	return &Controller{
		md:   md,
		disc: disc,
		cfg:  cfg.withDefaults(),
		log:  log.With("controller", "garbagecollector"),
		deleteQueue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[types.UID](),
			workqueue.TypedRateLimitingQueueConfig[types.UID]{Name: "garbage_collector_attempt_to_delete"}),
		orphanQueue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[types.UID](),
			workqueue.TypedRateLimitingQueueConfig[types.UID]{Name: "garbage_collector_attempt_to_orphan"}),
		monitors:   map[schema.GroupVersionResource]*monitor{},
		nodes:      map[types.UID]*node{},
		unresolved: map[types.UID]struct{}{},
		absent:     absentCache{max: 10000},
		started:    make(chan struct{}),
	}
}

// Run collects garbage until ctx ends. Every goroutine it starts has
// returned when it does.
// Started is closed once the collector's workers run.
func (c *Controller) Started() <-chan struct{} { return c.started }

func (c *Controller) Run(ctx context.Context, workers int) {
	defer utilruntime.HandleCrash()
	defer c.wg.Wait()
	defer c.orphanQueue.ShutDown()
	defer c.deleteQueue.ShutDown()

	// The first discovery has to succeed: without it nothing is watched.
	err := wait.PollUntilContextCancel(ctx, time.Second, true, func(ctx context.Context) (bool, error) {
		if err := c.rediscover(ctx); err != nil {
			c.log.Warn("discover resources", "err", err)
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		return
	}
	if !c.waitForSync(ctx) {
		if ctx.Err() != nil {
			return
		}
		c.log.Warn("not every resource listed in time; starting anyway", "timeout", c.cfg.SyncTimeout)
	}
	c.log.Info("garbage collector started", "resources", c.monitorCount())
	for range max(workers, 1) {
		c.wg.Go(func() { c.work(ctx, c.deleteQueue, "delete", c.attemptToDelete) })
		c.wg.Go(func() { c.work(ctx, c.orphanQueue, "orphan", c.attemptToOrphan) })
	}
	close(c.started)
	t := time.NewTicker(c.cfg.DiscoveryPeriod)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := c.rediscover(ctx); err != nil && ctx.Err() == nil {
				c.log.Warn("discover resources", "err", err)
			}
		}
	}
}

func (c *Controller) work(ctx context.Context, q workqueue.TypedRateLimitingInterface[types.UID], what string, sync func(context.Context, types.UID) error) {
	for {
		uid, quit := q.Get()
		if quit {
			return
		}
		if err := sync(ctx, uid); err != nil {
			switch {
			case ctx.Err() != nil:
			case apierrors.IsConflict(err):
				// A concurrent write: look again with fresh metadata.
				c.log.Debug("attempt to "+what+" raced a write; retrying", "uid", uid, "err", err)
			default:
				c.log.Warn("attempt to "+what+" failed; retrying", "uid", uid, "err", err)
			}
			q.AddRateLimited(uid)
		} else {
			q.Forget(uid)
		}
		q.Done(uid)
	}
}

func (c *Controller) monitorCount() int {
	c.monMu.Lock()
	defer c.monMu.Unlock()
	return len(c.monitors)
}

// waitForSync waits for the first listing of every resource watched.
func (c *Controller) waitForSync(ctx context.Context) bool {
	c.monMu.Lock()
	synced := make([]cache.InformerSynced, 0, len(c.monitors))
	for _, m := range c.monitors {
		synced = append(synced, m.informer.HasSynced)
	}
	c.monMu.Unlock()
	sctx, cancel := context.WithTimeout(ctx, c.cfg.SyncTimeout)
	defer cancel()
	return cache.WaitForCacheSync(sctx.Done(), synced...)
}

// rediscover reads the served resources, refreshes the kind map, and
// starts and stops monitors to match. Groups that fail discovery keep
// their monitors.
func (c *Controller) rediscover(ctx context.Context) error {
	groups, lists, err := c.disc.ServerGroupsAndResources()
	partial := discovery.IsGroupDiscoveryFailedError(err)
	if err != nil && !partial {
		return fmt.Errorf("discovery: %w", err)
	}
	preferred := map[string]string{}
	for _, g := range groups {
		preferred[g.Name] = g.PreferredVersion.Version
	}
	next := &restMap{byGVK: map[schema.GroupVersionKind]resourceInfo{}, byGK: map[schema.GroupKind]resourceInfo{}}
	want := map[schema.GroupVersionResource]resourceInfo{}
	for _, list := range lists {
		gv, err := schema.ParseGroupVersion(list.GroupVersion)
		if err != nil {
			continue
		}
		for _, r := range list.APIResources {
			if strings.Contains(r.Name, "/") {
				continue // a subresource
			}
			info := resourceInfo{gvr: gv.WithResource(r.Name), kind: r.Kind, namespaced: r.Namespaced}
			next.byGVK[gv.WithKind(r.Kind)] = info
			gk := schema.GroupKind{Group: gv.Group, Kind: r.Kind}
			if _, ok := next.byGK[gk]; !ok || preferred[gv.Group] == gv.Version {
				next.byGK[gk] = info
			}
			if preferred[gv.Group] == gv.Version && hasVerbs(r.Verbs, "list", "watch", "delete") {
				want[info.gvr] = info
			}
		}
	}
	if partial {
		// Keep what failed discovery as it was rather than drop it.
		failed := err.(*discovery.ErrGroupDiscoveryFailed).Groups
		if old := c.mapper.Load(); old != nil {
			for gvk, info := range old.byGVK {
				if _, ok := failed[gvk.GroupVersion()]; ok {
					next.byGVK[gvk] = info
					if _, ok := next.byGK[gvk.GroupKind()]; !ok {
						next.byGK[gvk.GroupKind()] = info
					}
				}
			}
		}
		c.monMu.Lock()
		for gvr, m := range c.monitors {
			if _, ok := failed[gvr.GroupVersion()]; ok {
				want[gvr] = m.info
			}
		}
		c.monMu.Unlock()
	}
	old := c.mapper.Swap(next)
	c.syncMonitors(ctx, want)
	if old != nil && !maps.Equal(old.byGVK, next.byGVK) {
		// New kinds may resolve references that could not be before.
		c.mu.Lock()
		for uid := range c.unresolved {
			c.deleteQueue.Add(uid)
		}
		clear(c.unresolved)
		c.mu.Unlock()
	}
	return nil
}

func hasVerbs(verbs metav1.Verbs, want ...string) bool {
	for _, v := range want {
		if !slices.Contains(verbs, v) {
			return false
		}
	}
	return true
}

// syncMonitors watches exactly the resources in want.
func (c *Controller) syncMonitors(ctx context.Context, want map[schema.GroupVersionResource]resourceInfo) {
	c.monMu.Lock()
	defer c.monMu.Unlock()
	for gvr, m := range c.monitors {
		if _, ok := want[gvr]; !ok {
			c.log.Info("resource no longer served; stop watching", "resource", gvr.String())
			m.cancel()
			delete(c.monitors, gvr)
		}
	}
	for gvr, info := range want {
		if _, ok := c.monitors[gvr]; ok {
			continue
		}
		if ctx.Err() != nil {
			return
		}
		c.monitors[gvr] = c.startMonitor(ctx, info)
	}
}

func (c *Controller) startMonitor(ctx context.Context, info resourceInfo) *monitor {
	inf := metadatainformer.NewFilteredMetadataInformer(c.md, info.gvr, metav1.NamespaceAll, 0, cache.Indexers{}, nil).Informer()
	_ = inf.SetTransform(slimMetadata)
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { c.observe(info, obj) },
		UpdateFunc: func(_, obj any) { c.observe(info, obj) },
		DeleteFunc: func(obj any) { c.forget(obj) },
	})
	mctx, cancel := context.WithCancel(ctx)
	c.wg.Go(func() { inf.RunWithContext(mctx) })
	return &monitor{info: info, informer: inf, cancel: cancel}
}

// slimMetadata drops what the collector never reads, to keep the
// informer caches small.
func slimMetadata(obj any) (any, error) {
	if m, ok := obj.(*metav1.PartialObjectMetadata); ok {
		m.ManagedFields = nil
		m.Annotations = nil
		m.Labels = nil
	}
	return obj, nil
}
