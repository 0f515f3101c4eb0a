package sim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"github.com/flotilla-io/flotilla/pkg/extensions"
)

// Sim runs a set of simulated nodes against one cluster.
type Sim struct {
	cs     kubernetes.Interface
	cfg    Config
	log    *slog.Logger
	bootID string
	ran    atomic.Bool

	nodes  []*simNode
	byName map[string]*simNode

	// Set up by Run.
	queue    workqueue.TypedRateLimitingInterface[string]
	podStore cache.Store
	podIndex cache.Indexer // podStore by node, read by the usage endpoints
	states   podStates
	stats    *statsServer // nil when no usage is served
	started  time.Time
}

// New prepares cfg.Nodes simulated nodes; Run registers and runs them.
func New(client kubernetes.Interface, cfg Config, log *slog.Logger) (*Sim, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("sim config: %w", err)
	}
	if log == nil {
		log = slog.Default()
	}
	s := &Sim{cs: client, cfg: cfg, log: log.With("component", "sim", "prefix", cfg.NamePrefix), bootID: string(uuid.NewUUID()), byName: map[string]*simNode{}}
	for i := range cfg.Nodes {
		n := &simNode{name: nodeName(cfg.NamePrefix, i)}
		s.nodes = append(s.nodes, n)
		s.byName[n.name] = n
	}
	return s, nil
}

// NodeNames are the names of the simulated nodes.
func (s *Sim) NodeNames() []string {
	names := make([]string, len(s.nodes))
	for i, n := range s.nodes {
		names[i] = n.name
	}
	return names
}

// Run registers the nodes, then keeps their Leases and heartbeats fresh
// and runs the pods bound to them until ctx ends. The nodes stay behind
// (and go NotReady) unless DeleteNodesOnExit is set. A Sim runs once.
func (s *Sim) Run(ctx context.Context) error {
	if !s.ran.CompareAndSwap(false, true) {
		return errors.New("sim: Run called twice")
	}
	if err := s.planAddresses(ctx); err != nil {
		return err
	}
	s.started = time.Now()
	if s.cfg.Stats == nil {
		s.log.Info("node resource usage is not served: no join token to obtain a serving certificate with; nodes get no " + extensions.StatsEndpointAnnotation)
	} else {
		ss, err := s.openStats(ctx)
		if err != nil {
			return err
		}
		s.stats = ss
		defer ss.close(s.cfg.Stats.Dir == "")
		s.log.Info("serving node resource usage", "base", ss.base)
	}
	start := time.Now()
	if err := s.registerAll(ctx); err != nil {
		return err
	}
	s.log.Info("nodes registered", "nodes", len(s.nodes), "took", time.Since(start).Round(time.Millisecond))
	if s.cfg.DeleteNodesOnExit {
		defer s.deleteNodes()
	}

	s.queue = workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: "sim-pods"})
	selector := s.podFieldSelector(ctx)
	factory := informers.NewSharedInformerFactoryWithOptions(s.cs, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.FieldSelector = selector }))
	informer := factory.Core().V1().Pods().Informer()
	if _, err := informer.AddEventHandler(s.podEvents()); err != nil {
		return fmt.Errorf("pod informer: %w", err)
	}
	if err := informer.AddIndexers(cache.Indexers{podNodeIndex: podNode}); err != nil {
		return fmt.Errorf("pod informer: %w", err)
	}
	s.podStore = informer.GetStore()
	factory.Start(ctx.Done())
	defer factory.Shutdown()

	var wg sync.WaitGroup
	defer wg.Wait()
	defer s.queue.ShutDown()
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.heartbeats(ctx)
	}()
	if !cache.WaitForCacheSync(ctx.Done(), informer.HasSynced) {
		return nil // ctx ended first
	}
	s.reserveAdoptedAddresses(s.podStore.List())
	for range s.cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.podWorker(ctx)
		}()
	}
	if s.stats != nil {
		s.podIndex = informer.GetIndexer()
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.stats.serve(ctx); err != nil {
				s.log.Error("node resource usage endpoint", "err", err)
			}
		}()
	}
	<-ctx.Done()
	s.log.Info("stopping; leases are no longer renewed", "nodes", len(s.nodes))
	return nil
}

// registerAll registers every node, cfg.Workers at a time.
func (s *Sim) registerAll(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.cfg.Workers)
	for _, n := range s.nodes {
		g.Go(func() error { return s.register(gctx, n) })
	}
	return g.Wait()
}

// deleteNodes removes the nodes and their Leases, on a context of its
// own since Run's has ended.
func (s *Sim) deleteNodes() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.cfg.Workers)
	for _, n := range s.nodes {
		g.Go(func() error {
			if err := s.cs.CoordinationV1().Leases(corev1.NamespaceNodeLease).Delete(gctx, n.name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
				s.log.Warn("delete lease", "node", n.name, "err", err)
			}
			if err := s.cs.CoreV1().Nodes().Delete(gctx, n.name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
				s.log.Warn("delete node", "node", n.name, "err", err)
			}
			return nil
		})
	}
	_ = g.Wait()
	s.log.Info("nodes deleted", "nodes", len(s.nodes))
}
