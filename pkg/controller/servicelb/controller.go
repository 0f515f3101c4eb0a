package servicelb

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"github.com/flotilla-io/flotilla/pkg/controller/worker"
	"github.com/flotilla-io/flotilla/pkg/extensions"
)

const (
	// LabelEnableLB, set to "true" on some nodes, limits the addresses
	// to those nodes (k3s's label).
	LabelEnableLB = "svccontroller.k3s.cattle.io/enablelb"
)

// Controller keeps LoadBalancer Services' status.
type Controller struct {
	client   kubernetes.Interface
	nodes    corelisters.NodeLister
	services corelisters.ServiceLister
	synced   []cache.InformerSynced
	queue    workqueue.TypedRateLimitingInterface[string]
	log      *slog.Logger
}

// New builds the controller on factory.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, log *slog.Logger) *Controller {
	nodes := factory.Core().V1().Nodes()
	svcs := factory.Core().V1().Services()
	c := &Controller{
		client: client, nodes: nodes.Lister(), services: svcs.Lister(),
		synced: []cache.InformerSynced{nodes.Informer().HasSynced, svcs.Informer().HasSynced},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "servicelb"}),
		log: log.With("controller", "servicelb"),
	}
	_, _ = svcs.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueue,
		UpdateFunc: func(_, n any) { c.enqueue(n) },
	})
	// A node change can change every LoadBalancer's addresses; only
	// changes of what counts (readiness, addresses, labels) requeue.
	_, _ = nodes.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(any) { c.enqueueAll() },
		UpdateFunc: func(o, n any) {
			on, ok1 := o.(*corev1.Node)
			nn, ok2 := n.(*corev1.Node)
			if !ok1 || !ok2 || nodeReady(on) != nodeReady(nn) || !apiequality.Semantic.DeepEqual(on.Status.Addresses, nn.Status.Addresses) ||
				on.Labels[LabelEnableLB] != nn.Labels[LabelEnableLB] {
				c.enqueueAll()
			}
		},
		DeleteFunc: func(any) { c.enqueueAll() },
	})
	return c
}

func (c *Controller) enqueue(obj any) {
	if key, err := cache.MetaNamespaceKeyFunc(obj); err == nil {
		c.queue.Add(key)
	}
}

func (c *Controller) enqueueAll() {
	svcs, err := c.services.List(labels.Everything())
	if err != nil {
		return
	}
	for _, s := range svcs {
		if s.Spec.Type == corev1.ServiceTypeLoadBalancer {
			c.enqueue(s)
		}
	}
}

// Run works until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		c.queue.ShutDown()
		return
	}
	worker.Run(ctx, c.queue, workers, c.sync, c.log)
}

func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	svc, err := c.services.Services(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	var want []corev1.LoadBalancerIngress
	switch {
	case svc.Spec.Type == corev1.ServiceTypeLoadBalancer && svc.Spec.LoadBalancerClass == nil:
		if want, err = c.addresses(); err != nil {
			return err
		}
	case svc.Spec.Type == corev1.ServiceTypeLoadBalancer:
		return nil // another load balancer's Service
	case len(svc.Status.LoadBalancer.Ingress) == 0:
		return nil
	}
	// Not a LoadBalancer (any more): the addresses we gave go.
	if apiequality.Semantic.DeepEqual(svc.Status.LoadBalancer.Ingress, want) {
		return nil
	}
	upd := svc.DeepCopy()
	upd.Status.LoadBalancer.Ingress = want
	if _, err := c.client.CoreV1().Services(ns).UpdateStatus(ctx, upd, metav1.UpdateOptions{FieldManager: "servicelb"}); err != nil {
		return fmt.Errorf("update load balancer status of %s: %w", key, err)
	}
	c.log.Info("load balancer addresses", "service", key, "ingress", want)
	return nil
}

// addresses are the load balancer's: one per Ready node that may serve.
func (c *Controller) addresses() ([]corev1.LoadBalancerIngress, error) {
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		return nil, err
	}
	labelled := slices.ContainsFunc(nodes, func(n *corev1.Node) bool { return n.Labels[LabelEnableLB] == "true" })
	var ips []netip.Addr
	for _, n := range nodes {
		if !nodeReady(n) || n.Annotations[extensions.SimulatedNodeAnnotation] == "true" || (labelled && n.Labels[LabelEnableLB] != "true") {
			continue
		}
		if ip, ok := nodeAddress(n); ok && !slices.Contains(ips, ip) {
			ips = append(ips, ip)
		}
	}
	slices.SortFunc(ips, netip.Addr.Compare)
	var out []corev1.LoadBalancerIngress
	for _, ip := range ips {
		out = append(out, corev1.LoadBalancerIngress{IP: ip.String()})
	}
	return out, nil
}

// nodeAddress is the node's ExternalIP, else its InternalIP.
func nodeAddress(n *corev1.Node) (netip.Addr, bool) {
	for _, typ := range []corev1.NodeAddressType{corev1.NodeExternalIP, corev1.NodeInternalIP} {
		for _, a := range n.Status.Addresses {
			if a.Type != typ {
				continue
			}
			if ip, err := netip.ParseAddr(a.Address); err == nil {
				return ip, true
			}
		}
	}
	return netip.Addr{}, false
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
