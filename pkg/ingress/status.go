package ingress

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	networkinglisters "k8s.io/client-go/listers/networking/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"github.com/flotilla-io/flotilla/pkg/controller/worker"
)

// excludeLabel takes a node out of load balancers, as upstream's service
// controller reads it.
const excludeLabel = "node.kubernetes.io/exclude-from-external-load-balancers"

// StatusController writes status.loadBalancer.ingress of the Ingresses
// this package serves: the addresses of the nodes that serve them. The
// server runs one, on the leader, so there is a single writer.
type StatusController struct {
	client    kubernetes.Interface
	ingresses networkinglisters.IngressLister
	classes   networkinglisters.IngressClassLister
	nodes     corelisters.NodeLister
	synced    []cache.InformerSynced
	queue     workqueue.TypedRateLimitingInterface[string]
	log       *slog.Logger
}

// NewStatusController builds the controller on factory's Ingress,
// IngressClass and Node informers.
func NewStatusController(client kubernetes.Interface, factory informers.SharedInformerFactory, log *slog.Logger) *StatusController {
	ings := factory.Networking().V1().Ingresses()
	classes := factory.Networking().V1().IngressClasses()
	nodes := factory.Core().V1().Nodes()
	c := &StatusController{
		client: client, ingresses: ings.Lister(), classes: classes.Lister(), nodes: nodes.Lister(),
		synced: []cache.InformerSynced{ings.Informer().HasSynced, classes.Informer().HasSynced, nodes.Informer().HasSynced},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "ingress-status"}),
		log: log.With("controller", "ingress-status"),
	}
	enqueue := func(obj any) {
		if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
			c.queue.Add(key)
		}
	}
	_, _ = ings.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, n any) { enqueue(n) },
	})
	// A class change may make Ingresses ours.
	_, _ = classes.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { c.enqueueAll() },
		UpdateFunc: func(any, any) { c.enqueueAll() },
		DeleteFunc: func(any) { c.enqueueAll() },
	})
	// Nodes change every few seconds (heartbeats): only a change of what
	// a node contributes touches the Ingresses.
	_, _ = nodes.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(n any) {
			if node, ok := n.(*corev1.Node); ok && len(nodeAddresses(node)) > 0 {
				c.enqueueAll()
			}
		},
		UpdateFunc: func(o, n any) {
			on, ok1 := o.(*corev1.Node)
			nn, ok2 := n.(*corev1.Node)
			if ok1 && ok2 && !slices.Equal(nodeAddresses(on), nodeAddresses(nn)) {
				c.enqueueAll()
			}
		},
		DeleteFunc: func(any) { c.enqueueAll() },
	})
	return c
}

func (c *StatusController) enqueueAll() {
	all, _ := c.ingresses.List(labels.Everything())
	for _, ing := range all {
		if key, err := cache.MetaNamespaceKeyFunc(ing); err == nil {
			c.queue.Add(key)
		}
	}
}

// Run works the queue until ctx ends.
func (c *StatusController) Run(ctx context.Context, workers int) {
	defer c.queue.ShutDown()
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return
	}
	worker.Run(ctx, c.queue, workers, c.sync, c.log)
}

func (c *StatusController) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	ing, err := c.ingresses.Ingresses(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	classList, err := c.classes.List(labels.Everything())
	if err != nil {
		return err
	}
	if !readClasses(classList).serves(ing) {
		// Another controller's: its status is not ours to write.
		return nil
	}
	want, err := c.addresses()
	if err != nil {
		return err
	}
	if sameStatus(ing.Status.LoadBalancer.Ingress, want) {
		return nil
	}
	ing = ing.DeepCopy()
	ing.Status.LoadBalancer.Ingress = want
	if _, err := c.client.NetworkingV1().Ingresses(ns).UpdateStatus(ctx, ing, metav1.UpdateOptions{FieldManager: "flotilla-ingress"}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("update status of ingress %s: %w", key, err)
	}
	c.log.Debug("ingress status", "ingress", key, "addresses", want)
	return nil
}

// addresses are the load balancer entries of the nodes that serve the
// Ingresses, sorted by address.
func (c *StatusController) addresses() ([]networkingv1.IngressLoadBalancerIngress, error) {
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		return nil, err
	}
	var ips []netip.Addr
	for _, n := range nodes {
		ips = append(ips, nodeAddresses(n)...)
	}
	slices.SortFunc(ips, netip.Addr.Compare)
	ips = slices.Compact(ips)
	var out []networkingv1.IngressLoadBalancerIngress
	for _, ip := range ips {
		out = append(out, networkingv1.IngressLoadBalancerIngress{IP: ip.String()})
	}
	return out, nil
}

// nodeAddresses are what node adds to the status: its ExternalIPs, else
// its InternalIPs, when it is Ready, not being deleted and not excluded
// from load balancers; sorted.
func nodeAddresses(node *corev1.Node) []netip.Addr {
	if node.DeletionTimestamp != nil {
		return nil
	}
	if _, ok := node.Labels[excludeLabel]; ok {
		return nil
	}
	ready := false
	for _, cond := range node.Status.Conditions {
		if cond.Type == corev1.NodeReady {
			ready = cond.Status == corev1.ConditionTrue
		}
	}
	if !ready {
		return nil
	}
	var external, internal []netip.Addr
	for _, a := range node.Status.Addresses {
		ip, err := netip.ParseAddr(a.Address)
		if err != nil {
			continue
		}
		switch a.Type {
		case corev1.NodeExternalIP:
			external = append(external, ip.Unmap())
		case corev1.NodeInternalIP:
			internal = append(internal, ip.Unmap())
		}
	}
	out := internal
	if len(external) > 0 {
		out = external
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}

// sameStatus compares the entries this controller writes.
func sameStatus(have, want []networkingv1.IngressLoadBalancerIngress) bool {
	return slices.EqualFunc(have, want, func(a, b networkingv1.IngressLoadBalancerIngress) bool {
		return a.IP == b.IP && a.Hostname == b.Hostname && len(a.Ports) == 0 && len(b.Ports) == 0
	})
}
