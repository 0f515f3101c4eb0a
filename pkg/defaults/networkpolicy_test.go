package defaults

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

func TestNetworkPolicyDefaults(t *testing.T) {
	udp := corev1.ProtocolUDP
	np := &networkingv1.NetworkPolicy{Spec: networkingv1.NetworkPolicySpec{
		Ingress: []networkingv1.NetworkPolicyIngressRule{{Ports: []networkingv1.NetworkPolicyPort{{Port: ptr.To(intstr.FromInt32(80))}, {Protocol: &udp}}}},
	}}
	Apply(np)
	if p := np.Spec.Ingress[0].Ports; *p[0].Protocol != corev1.ProtocolTCP || *p[1].Protocol != corev1.ProtocolUDP {
		t.Errorf("port protocols: %v %v", *p[0].Protocol, *p[1].Protocol)
	}
	if want := []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}; !equality.Semantic.DeepEqual(np.Spec.PolicyTypes, want) {
		t.Errorf("policyTypes without egress rules: %v", np.Spec.PolicyTypes)
	}

	eg := &networkingv1.NetworkPolicy{Spec: networkingv1.NetworkPolicySpec{Egress: []networkingv1.NetworkPolicyEgressRule{{}}}}
	Apply(eg)
	if want := []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}; !equality.Semantic.DeepEqual(eg.Spec.PolicyTypes, want) {
		t.Errorf("policyTypes with egress rules: %v", eg.Spec.PolicyTypes)
	}

	// Explicit types are kept: an egress-only policy stays one.
	only := &networkingv1.NetworkPolicy{Spec: networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress}}}
	Apply(only)
	if len(only.Spec.PolicyTypes) != 1 || only.Spec.PolicyTypes[0] != networkingv1.PolicyTypeEgress {
		t.Errorf("explicit policyTypes changed: %v", only.Spec.PolicyTypes)
	}
}
