package nodeipam

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"github.com/flotilla-io/flotilla/pkg/controller/worker"
	"github.com/flotilla-io/flotilla/pkg/eventrecorder"
)

// DefaultNodeMaskSize is the size of each Node's range, upstream's default
// for IPv4.
const DefaultNodeMaskSize = 24

// Config says which range to hand out.
type Config struct {
	ClusterCIDR  netip.Prefix
	NodeMaskSize int // 0 = DefaultNodeMaskSize
}

// Controller assigns pod CIDRs to Nodes.
type Controller struct {
	client   kubernetes.Interface
	nodes    corelisters.NodeLister
	synced   cache.InformerSynced
	queue    workqueue.TypedRateLimitingInterface[string]
	recorder eventrecorder.Recorder // set by Run
	log      *slog.Logger

	mu   sync.Mutex
	set  *cidrSet
	uids map[string]types.UID // node name -> UID of the Node holding its block
}

// New builds the controller on a shared informer factory.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, cfg Config, log *slog.Logger) (*Controller, error) {
	if cfg.NodeMaskSize == 0 {
		cfg.NodeMaskSize = DefaultNodeMaskSize
	}
	set, err := newCIDRSet(cfg.ClusterCIDR, cfg.NodeMaskSize)
	if err != nil {
		return nil, err
	}
	nodes := factory.Core().V1().Nodes()
	c := &Controller{
		client: client, nodes: nodes.Lister(), synced: nodes.Informer().HasSynced,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "nodeipam"}),
		log:  log.With("controller", "nodeipam"),
		set:  set,
		uids: map[string]types.UID{},
	}
	_, _ = nodes.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { c.enqueue(obj) },
		UpdateFunc: func(_, obj any) { c.enqueue(obj) },
		DeleteFunc: c.nodeDeleted,
	})
	return c, nil
}

func (c *Controller) enqueue(obj any) {
	if n, ok := obj.(*corev1.Node); ok {
		c.queue.Add(n.Name)
	}
}

// nodeDeleted returns the Node's block to the pool.
func (c *Controller) nodeDeleted(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	n, ok := obj.(*corev1.Node)
	if !ok {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if uid, held := c.uids[n.Name]; held && uid != n.UID {
		return // a newer Node of that name holds the block now
	}
	if p, ok := c.set.heldBy(n.Name); ok {
		c.set.release(p, n.Name)
		c.log.Info("released pod CIDR", "node", n.Name, "podCIDR", p)
	}
	delete(c.uids, n.Name)
}

// Run assigns ranges until ctx ends. One worker: the pool is decided in
// one place, in order.
func (c *Controller) Run(ctx context.Context) {
	defer c.queue.ShutDown()
	rec, stopEvents := eventrecorder.Start(ctx, c.client, "node-ipam-controller", "")
	defer stopEvents()
	c.recorder = rec
	if !cache.WaitForCacheSync(ctx.Done(), c.synced) {
		return
	}
	// Every range already taken is known before any is handed out.
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		c.log.Error("list nodes", "err", err)
		return
	}
	for _, n := range nodes {
		c.claim(n)
	}
	worker.Run(ctx, c.queue, 1, c.sync, c.log)
}

// claim records the ranges n already has; it reports whether n has one.
func (c *Controller) claim(n *corev1.Node) bool {
	cidrs := n.Spec.PodCIDRs
	if len(cidrs) == 0 && n.Spec.PodCIDR != "" {
		cidrs = []string{n.Spec.PodCIDR}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range cidrs {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			continue
		}
		if holder := c.set.occupy(p, n.Name); holder != "" {
			c.log.Warn("pod CIDR claimed by two nodes", "podCIDR", p, "node", n.Name, "holder", holder)
			if c.recorder != nil {
				c.recorder.Eventf(nodeRef(n), corev1.EventTypeWarning, "CIDRNotAvailable",
					"Node %s has pod CIDR %s, which node %s holds already", n.Name, p, holder)
			}
			continue
		}
		c.uids[n.Name] = n.UID
	}
	return len(cidrs) > 0
}

func (c *Controller) sync(ctx context.Context, name string) error {
	n, err := c.nodes.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if c.claim(n) {
		return nil
	}
	c.mu.Lock()
	p, held := c.set.heldBy(n.Name)
	if held && c.uids[n.Name] != n.UID {
		// An old Node of that name was deleted and created again before
		// we saw the deletion: its block goes with it.
		c.set.release(p, n.Name)
		held = false
	}
	if !held {
		// The cache may lag our own write of this Node: the block
		// remembered for its UID is reused then, not a second one.
		p, err = c.set.allocate(n.Name)
		if err != nil {
			c.mu.Unlock()
			c.recorder.Eventf(nodeRef(n), corev1.EventTypeWarning, "CIDRNotAvailable", "Node %s: %v", n.Name, err)
			return fmt.Errorf("node %s: %w", n.Name, err)
		}
		c.uids[n.Name] = n.UID
	}
	c.mu.Unlock()

	patch, _ := json.Marshal(map[string]any{
		"metadata": map[string]any{"uid": n.UID},
		"spec":     map[string]any{"podCIDR": p.String(), "podCIDRs": []string{p.String()}},
	})
	_, err = c.client.CoreV1().Nodes().Patch(ctx, n.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{FieldManager: "node-ipam-controller"})
	switch {
	case err == nil:
		c.log.Info("assigned pod CIDR", "node", n.Name, "podCIDR", p)
		return nil
	case apierrors.IsNotFound(err), apierrors.IsConflict(err), apierrors.IsInvalid(err):
		// Gone, replaced (the uid in the patch no longer matches) or
		// given a range by someone else meanwhile: give the block back
		// and look again at what the Node is now.
		c.mu.Lock()
		c.set.release(p, n.Name)
		delete(c.uids, n.Name)
		c.mu.Unlock()
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("assign pod CIDR %s to node %s: %w", p, n.Name, err)
	default:
		return fmt.Errorf("assign pod CIDR %s to node %s: %w", p, n.Name, err)
	}
}

func nodeRef(n *corev1.Node) *corev1.ObjectReference {
	return &corev1.ObjectReference{Kind: "Node", Name: n.Name, UID: types.UID(n.Name)}
}
