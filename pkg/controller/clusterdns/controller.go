package clusterdns

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"

	"github.com/flotilla-io/flotilla/pkg/controller/worker"
)

const (
	// Namespace and Name of the Service (and its Endpoints).
	Namespace = metav1.NamespaceSystem
	Name      = "kube-dns"
	// AnnotationDNSAddress is set on a Node by its agent to the address
	// its DNS server answers on (port 53, UDP and TCP).
	AnnotationDNSAddress = "flotilla.io/cluster-dns-address"
	// key is the only key of the queue: everything is one object pair.
	key = Namespace + "/" + Name
)

// Controller keeps the kube-dns Service and Endpoints.
type Controller struct {
	client    kubernetes.Interface
	ip        netip.Addr
	nodes     corelisters.NodeLister
	services  corelisters.ServiceLister
	endpoints corelisters.EndpointsLister
	synced    []cache.InformerSynced
	queue     workqueue.TypedRateLimitingInterface[string]
	log       *slog.Logger
}

// New builds the controller on factory for the Service address ip.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, ip netip.Addr, log *slog.Logger) (*Controller, error) {
	if !ip.Is4() {
		return nil, fmt.Errorf("clusterdns: the DNS Service address must be IPv4, got %v", ip)
	}
	nodes := factory.Core().V1().Nodes()
	svcs := factory.Core().V1().Services()
	eps := factory.Core().V1().Endpoints()
	c := &Controller{
		client: client, ip: ip,
		nodes: nodes.Lister(), services: svcs.Lister(), endpoints: eps.Lister(),
		synced: []cache.InformerSynced{nodes.Informer().HasSynced, svcs.Informer().HasSynced, eps.Informer().HasSynced},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "clusterdns"}),
		log: log.With("controller", "clusterdns"),
	}
	always := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { c.queue.Add(key) },
		UpdateFunc: func(_, _ any) { c.queue.Add(key) },
		DeleteFunc: func(any) { c.queue.Add(key) },
	}
	ours := cache.FilteringResourceEventHandler{FilterFunc: isOurs, Handler: always}
	_, _ = nodes.Informer().AddEventHandler(always)
	_, _ = svcs.Informer().AddEventHandler(ours)
	_, _ = eps.Informer().AddEventHandler(ours)
	return c, nil
}

func isOurs(obj any) bool {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	m, ok := obj.(metav1.Object)
	return ok && m.GetNamespace() == Namespace && m.GetName() == Name
}

// Run works until ctx ends.
func (c *Controller) Run(ctx context.Context) {
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		c.queue.ShutDown()
		return
	}
	c.queue.Add(key)
	worker.Run(ctx, c.queue, 1, func(ctx context.Context, _ string) error { return c.sync(ctx) }, c.log)
}

func (c *Controller) sync(ctx context.Context) error {
	if err := c.syncService(ctx); err != nil {
		return err
	}
	return c.syncEndpoints(ctx)
}

// Labels of the Service, as k3s's CoreDNS Service carries them (tools
// look the cluster DNS up by k8s-app=kube-dns).
var serviceLabels = map[string]string{
	"k8s-app":                       "kube-dns",
	"kubernetes.io/cluster-service": "true",
	"kubernetes.io/name":            "CoreDNS",
}

var servicePorts = []corev1.ServicePort{
	{Name: "dns", Protocol: corev1.ProtocolUDP, Port: 53, TargetPort: intstr.FromInt32(53)},
	{Name: "dns-tcp", Protocol: corev1.ProtocolTCP, Port: 53, TargetPort: intstr.FromInt32(53)},
}

func (c *Controller) syncService(ctx context.Context) error {
	cur, err := c.services.Services(Namespace).Get(Name)
	if apierrors.IsNotFound(err) {
		svc := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Namespace: Namespace, Name: Name, Labels: serviceLabels},
			Spec: corev1.ServiceSpec{
				Type: corev1.ServiceTypeClusterIP, ClusterIP: c.ip.String(), ClusterIPs: []string{c.ip.String()},
				Ports: servicePorts, InternalTrafficPolicy: ptr.To(corev1.ServiceInternalTrafficPolicyLocal),
			},
		}
		_, err := c.client.CoreV1().Services(Namespace).Create(ctx, svc, metav1.CreateOptions{FieldManager: "clusterdns"})
		if apierrors.IsAlreadyExists(err) {
			return nil // the informer brings it
		}
		if err != nil {
			return fmt.Errorf("create Service %s: %w", key, err)
		}
		c.log.Info("created the cluster DNS Service", "clusterIP", c.ip)
		return nil
	}
	if err != nil {
		return err
	}
	if cur.Spec.ClusterIP != c.ip.String() {
		// The address cannot be changed in place; pods are told this one.
		c.log.Warn("the kube-dns Service has another address than --cluster-dns; pods' DNS will fail until it is deleted", "clusterIP", cur.Spec.ClusterIP, "want", c.ip)
		return nil
	}
	want := cur.DeepCopy()
	for k, v := range serviceLabels {
		if want.Labels == nil {
			want.Labels = map[string]string{}
		}
		want.Labels[k] = v
	}
	want.Spec.Selector = nil
	want.Spec.Ports = keepNodePorts(servicePorts, cur.Spec.Ports)
	want.Spec.InternalTrafficPolicy = ptr.To(corev1.ServiceInternalTrafficPolicyLocal)
	if apiequality.Semantic.DeepEqual(want.Labels, cur.Labels) && apiequality.Semantic.DeepEqual(want.Spec, cur.Spec) {
		return nil
	}
	_, err = c.client.CoreV1().Services(Namespace).Update(ctx, want, metav1.UpdateOptions{FieldManager: "clusterdns"})
	if err != nil {
		return fmt.Errorf("restore Service %s: %w", key, err)
	}
	return nil
}

// keepNodePorts returns want with the node ports cur allocated, so an
// edit to NodePort type does not make every sync reallocate them.
func keepNodePorts(want, cur []corev1.ServicePort) []corev1.ServicePort {
	out := slices.Clone(want)
	for i := range out {
		for _, p := range cur {
			if p.Name == out[i].Name && p.Protocol == out[i].Protocol {
				out[i].NodePort = p.NodePort
			}
		}
	}
	return out
}

// syncEndpoints lists every Node's announced DNS address.
func (c *Controller) syncEndpoints(ctx context.Context) error {
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		return err
	}
	var ready, notReady []corev1.EndpointAddress
	for _, n := range nodes {
		addr, ok := n.Annotations[AnnotationDNSAddress]
		ip, err := netip.ParseAddr(addr)
		if !ok || err != nil || !ip.Is4() {
			continue
		}
		ea := corev1.EndpointAddress{IP: ip.String(), NodeName: ptr.To(n.Name),
			TargetRef: &corev1.ObjectReference{Kind: "Node", Name: n.Name, UID: n.UID}}
		if nodeReady(n) && n.DeletionTimestamp == nil {
			ready = append(ready, ea)
		} else {
			notReady = append(notReady, ea)
		}
	}
	byIP := func(a, b corev1.EndpointAddress) int { return strings.Compare(a.IP, b.IP) }
	slices.SortFunc(ready, byIP)
	slices.SortFunc(notReady, byIP)
	var subsets []corev1.EndpointSubset
	if len(ready)+len(notReady) > 0 {
		ports := make([]corev1.EndpointPort, 0, len(servicePorts))
		for _, p := range servicePorts {
			ports = append(ports, corev1.EndpointPort{Name: p.Name, Port: p.TargetPort.IntVal, Protocol: p.Protocol})
		}
		subsets = []corev1.EndpointSubset{{Addresses: ready, NotReadyAddresses: notReady, Ports: ports}}
	}
	cur, err := c.endpoints.Endpoints(Namespace).Get(Name)
	if apierrors.IsNotFound(err) {
		ep := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Namespace: Namespace, Name: Name, Labels: serviceLabels}, Subsets: subsets}
		_, err := c.client.CoreV1().Endpoints(Namespace).Create(ctx, ep, metav1.CreateOptions{FieldManager: "clusterdns"})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create Endpoints %s: %w", key, err)
		}
		return nil
	}
	if err != nil {
		return err
	}
	if apiequality.Semantic.DeepEqual(cur.Subsets, subsets) {
		return nil
	}
	want := cur.DeepCopy()
	want.Subsets = subsets
	if _, err := c.client.CoreV1().Endpoints(Namespace).Update(ctx, want, metav1.UpdateOptions{FieldManager: "clusterdns"}); err != nil {
		return fmt.Errorf("update Endpoints %s: %w", key, err)
	}
	return nil
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
