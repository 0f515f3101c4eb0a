package ingress

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestNodeAddresses(t *testing.T) {
	node := func(ready corev1.ConditionStatus, mutate func(*corev1.Node), addrs ...corev1.NodeAddress) *corev1.Node {
		n := &corev1.Node{Status: corev1.NodeStatus{
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: ready}},
			Addresses:  addrs,
		}}
		if mutate != nil {
			mutate(n)
		}
		return n
	}
	internal := func(a string) corev1.NodeAddress { return corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: a} }
	external := func(a string) corev1.NodeAddress { return corev1.NodeAddress{Type: corev1.NodeExternalIP, Address: a} }
	hostname := corev1.NodeAddress{Type: corev1.NodeHostName, Address: "node-a"}
	for _, tc := range []struct {
		name string
		node *corev1.Node
		want string
	}{
		{"ready, internal", node(corev1.ConditionTrue, nil, hostname, internal("10.0.0.2"), internal("10.0.0.1")), "[10.0.0.1 10.0.0.2]"},
		{"external preferred", node(corev1.ConditionTrue, nil, internal("10.0.0.1"), external("203.0.113.5")), "[203.0.113.5]"},
		{"not ready", node(corev1.ConditionFalse, nil, internal("10.0.0.1")), "[]"},
		{"unknown", node(corev1.ConditionUnknown, nil, internal("10.0.0.1")), "[]"},
		{"excluded", node(corev1.ConditionTrue, func(n *corev1.Node) { n.Labels = map[string]string{excludeLabel: ""} }, internal("10.0.0.1")), "[]"},
		{"being deleted", node(corev1.ConditionTrue, func(n *corev1.Node) { n.DeletionTimestamp = ptr.To(metav1.Now()) }, internal("10.0.0.1")), "[]"},
		{"no Ready condition", node(corev1.ConditionTrue, func(n *corev1.Node) { n.Status.Conditions = nil }, internal("10.0.0.1")), "[]"},
	} {
		if got := fmt.Sprint(nodeAddresses(tc.node)); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestSameStatus(t *testing.T) {
	a := []networkingv1.IngressLoadBalancerIngress{{IP: "10.0.0.1"}}
	if !sameStatus(a, []networkingv1.IngressLoadBalancerIngress{{IP: "10.0.0.1"}}) {
		t.Error("equal statuses differ")
	}
	if sameStatus(a, nil) || sameStatus(a, []networkingv1.IngressLoadBalancerIngress{{IP: "10.0.0.2"}}) {
		t.Error("different statuses equal")
	}
	if sameStatus([]networkingv1.IngressLoadBalancerIngress{{IP: "10.0.0.1", Ports: []networkingv1.IngressPortStatus{{Port: 80}}}}, a) {
		t.Error("ports ignored")
	}
}
