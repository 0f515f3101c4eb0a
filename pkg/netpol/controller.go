package netpol

import (
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	listersv1 "k8s.io/client-go/listers/core/v1"
	networkinglisters "k8s.io/client-go/listers/networking/v1"
	"k8s.io/client-go/tools/cache"
)

// Config is what a node's policy enforcement needs to know.
type Config struct {
	// NodeName is this node's name: pods whose spec.nodeName equals it
	// are the ones whose traffic is filtered here.
	NodeName string
	// NetNSPath names the network namespace to program (a file such as
	// /run/netns/NAME or /proc/PID/ns/net); empty: the caller's.
	NetNSPath string
	// MinSyncInterval spaces syncs: changes arriving within it are
	// applied together (default 100 ms). A change after a quiet period
	// is applied at once.
	MinSyncInterval time.Duration
	// FullSyncInterval is how often the whole table is replaced from the
	// model, which also undoes whatever someone else changed in it
	// (default 10 minutes).
	FullSyncInterval time.Duration
	// OnSync, if set, is called after every sync that sent a transaction
	// or failed, on the sync goroutine (keep it short).
	OnSync func(SyncResult)
	Log    *slog.Logger
}

// SyncResult describes one sync.
type SyncResult struct {
	Full     bool
	Ops      int // operations in the transaction (a chain's rules or a chunk of elements count one)
	Start    time.Time
	Duration time.Duration
	Err      error
}

// Controller programs NetworkPolicies into a network namespace's
// nftables.
type Controller struct {
	cfg        Config
	log        *slog.Logger
	pods       listersv1.PodLister
	namespaces listersv1.NamespaceLister
	policies   networkinglisters.NetworkPolicyLister
	synced     []cache.InformerSynced
	factory    informers.SharedInformerFactory

	mu            sync.Mutex
	dirtyPods     map[types.NamespacedName]struct{}
	dirtyPolicies map[types.NamespacedName]struct{}
	dirtyNS       map[string]struct{}
	resync        bool
	trigger       chan struct{}

	// Owned by the sync goroutine (Run).
	nft      *nftConn
	tr       *tracker
	applied  *tableState
	needFull bool
}

// New builds a controller on factory's Pod, Namespace and NetworkPolicy
// informers. Run starts the factory's informers if the caller has not.
func New(factory informers.SharedInformerFactory, cfg Config) (*Controller, error) {
	if cfg.NodeName == "" {
		return nil, errors.New("netpol: the node name is required")
	}
	if cfg.MinSyncInterval <= 0 {
		cfg.MinSyncInterval = 100 * time.Millisecond
	}
	if cfg.FullSyncInterval <= 0 {
		cfg.FullSyncInterval = 10 * time.Minute
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	podInf := factory.Core().V1().Pods()
	nsInf := factory.Core().V1().Namespaces()
	npInf := factory.Networking().V1().NetworkPolicies()
	c := &Controller{
		cfg: cfg, log: cfg.Log.With("component", "netpol"), factory: factory,
		pods: podInf.Lister(), namespaces: nsInf.Lister(), policies: npInf.Lister(),
		synced:    []cache.InformerSynced{podInf.Informer().HasSynced, nsInf.Informer().HasSynced, npInf.Informer().HasSynced},
		dirtyPods: map[types.NamespacedName]struct{}{}, dirtyPolicies: map[types.NamespacedName]struct{}{}, dirtyNS: map[string]struct{}{},
		trigger: make(chan struct{}, 1),
	}
	if _, err := podInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: c.podChanged,
		UpdateFunc: func(o, n any) {
			// Status writes (probes, conditions) are most pod updates;
			// only what the rules read matters.
			op, ok1 := o.(*corev1.Pod)
			np, ok2 := n.(*corev1.Pod)
			if ok1 && ok2 && reflect.DeepEqual(podInfoOf(op, cfg.NodeName), podInfoOf(np, cfg.NodeName)) {
				return
			}
			c.podChanged(n)
		},
		DeleteFunc: c.podChanged,
	}); err != nil {
		return nil, fmt.Errorf("netpol: pod handler: %w", err)
	}
	if _, err := nsInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: c.namespaceChanged,
		UpdateFunc: func(o, n any) {
			on, ok1 := o.(*corev1.Namespace)
			nn, ok2 := n.(*corev1.Namespace)
			if ok1 && ok2 && reflect.DeepEqual(on.Labels, nn.Labels) {
				return
			}
			c.namespaceChanged(n)
		},
		DeleteFunc: c.namespaceChanged,
	}); err != nil {
		return nil, fmt.Errorf("netpol: namespace handler: %w", err)
	}
	if _, err := npInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: c.policyChanged,
		UpdateFunc: func(o, n any) {
			op, ok1 := o.(*networkingv1.NetworkPolicy)
			np, ok2 := n.(*networkingv1.NetworkPolicy)
			if ok1 && ok2 && reflect.DeepEqual(op.Spec, np.Spec) {
				return
			}
			c.policyChanged(n)
		},
		DeleteFunc: c.policyChanged,
	}); err != nil {
		return nil, fmt.Errorf("netpol: policy handler: %w", err)
	}
	return c, nil
}

func unwrapTombstone(obj any) any {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		return t.Obj
	}
	return obj
}

func (c *Controller) podChanged(obj any) {
	if p, ok := unwrapTombstone(obj).(*corev1.Pod); ok {
		c.mark(func() { c.dirtyPods[types.NamespacedName{Namespace: p.Namespace, Name: p.Name}] = struct{}{} })
	}
}

func (c *Controller) namespaceChanged(obj any) {
	if ns, ok := unwrapTombstone(obj).(*corev1.Namespace); ok {
		c.mark(func() { c.dirtyNS[ns.Name] = struct{}{} })
	}
}

func (c *Controller) policyChanged(obj any) {
	if np, ok := unwrapTombstone(obj).(*networkingv1.NetworkPolicy); ok {
		c.mark(func() { c.dirtyPolicies[types.NamespacedName{Namespace: np.Namespace, Name: np.Name}] = struct{}{} })
	}
}

func (c *Controller) mark(fn func()) {
	c.mu.Lock()
	fn()
	c.mu.Unlock()
	c.kick()
}

func (c *Controller) kick() {
	select {
	case c.trigger <- struct{}{}:
	default:
	}
}

// Resync asks for a full sync as soon as the minimum interval allows:
// the table replaced from the model, as at start (say after someone
// flushed the ruleset).
func (c *Controller) Resync() {
	c.mark(func() { c.resync = true })
}
