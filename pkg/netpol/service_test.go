package netpol_test

import (
	"context"
	"net/netip"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/utils/ptr"

	"github.com/flotilla-io/flotilla/pkg/proxy"
	"github.com/flotilla-io/flotilla/pkg/proxy/nettest"
)

// TestPolicyThroughServices runs the Service proxy beside the controller:
// a Service's traffic is DNATed before the forward hook, so policies see
// the pod behind it; an ipBlock sees an outside client's own address on
// a NodePort (the proxy masquerades later, at postrouting); a pod
// reaching itself through its Service is never cut off.
func TestPolicyThroughServices(t *testing.T) {
	e := newEnv(t, 3)
	pod0, pod1, pod2 := e.node.Pods[0], e.node.Pods[1], e.node.Pods[2]
	ctx, cancel := context.WithCancel(e.ctx)
	p, err := proxy.New(informers.NewSharedInformerFactory(e.cs, 0), proxy.Config{
		NodeName: nodeName, NodeAddresses: []netip.Addr{e.node.NodeAddr()},
		ClusterCIDR: netip.MustParsePrefix(nettest.ClusterCIDR), NetNSPath: e.node.NS.Path,
	})
	if err != nil {
		t.Fatalf("proxy: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("proxy: %v", err)
		}
	})

	const ns = "np-s"
	e.namespace(ns, nil)
	e.pod(ns, "web", nodeName, nettest.PodIP(0), map[string]string{"app": "web"}, nil)
	e.pod(ns, "client", nodeName, nettest.PodIP(1), map[string]string{"role": "client"}, nil)
	e.pod(ns, "other", nodeName, nettest.PodIP(2), map[string]string{"role": "other"}, nil)
	svc, err := e.cs.CoreV1().Services(ns).Create(e.ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Ports: []corev1.ServicePort{{
			Name: "http", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(httpPort)}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.cs.DiscoveryV1().EndpointSlices(ns).Create(e.ctx, &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: "web-1", Labels: map[string]string{
			discoveryv1.LabelServiceName: "web", discoveryv1.LabelManagedBy: "netpol-test"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To[int32](httpPort), Protocol: ptr.To(corev1.ProtocolTCP)}},
		Endpoints: []discoveryv1.Endpoint{{Addresses: []string{nettest.PodIP(0)}, NodeName: ptr.To(nodeName),
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true), Serving: ptr.To(true), Terminating: ptr.To(false)}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cip := hostPort(svc.Spec.ClusterIP, 80)
	nodePort := hostPort(nettest.NodeIP, int(svc.Spec.Ports[0].NodePort))
	e.reaches("pod2 → the ClusterIP before any policy", pod2, cip, "pod0")
	e.reaches("the client → the NodePort before any policy", e.node.Client, nodePort, "pod0")

	e.policy(ingressPolicy(ns, "allow-client", sel("app", "web"), from(networkingv1.NetworkPolicyPeer{PodSelector: sel("role", "client")})))
	e.prohibited("pod2 → the ClusterIP", pod2, cip)
	e.reaches("pod1 (a client) → the ClusterIP", pod1, cip, "pod0")
	e.reaches("pod0 → its own Service (hairpin)", pod0, cip, "pod0")
	e.prohibited("the client → the NodePort", e.node.Client, nodePort)

	e.policy(ingressPolicy(ns, "allow-outside", sel("app", "web"), from(networkingv1.NetworkPolicyPeer{
		IPBlock: &networkingv1.IPBlock{CIDR: nettest.ClientIP + "/32"}})))
	e.reaches("the client → the NodePort, allowed by its own address", e.node.Client, nodePort, "pod0")
	e.prohibited("pod2 → the ClusterIP still", pod2, cip)
}
