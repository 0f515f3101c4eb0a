package validation

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func validNetworkPolicy() *networkingv1.NetworkPolicy {
	tcp, udp := corev1.ProtocolTCP, corev1.ProtocolUDP
	return &networkingv1.NetworkPolicy{
		ObjectMeta: objMeta("allow-web", "default"),
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{
				Ports: []networkingv1.NetworkPolicyPort{
					{Protocol: &tcp, Port: ptr(intstr.FromInt32(8000)), EndPort: ptr(int32(9000))},
					{Protocol: &udp, Port: ptr(intstr.FromString("dns"))},
					{Protocol: &tcp},
				},
				From: []networkingv1.NetworkPolicyPeer{
					{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"role": "client"}}},
					{NamespaceSelector: &metav1.LabelSelector{}, PodSelector: &metav1.LabelSelector{}},
					{IPBlock: &networkingv1.IPBlock{CIDR: "10.0.0.0/8", Except: []string{"10.1.0.0/16"}}},
				},
			}},
			Egress: []networkingv1.NetworkPolicyEgressRule{{
				To: []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "fd00::/64", Except: []string{"fd00::/80"}}}},
			}},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress},
		},
	}
}

func TestValidNetworkPolicy(t *testing.T) {
	np := validNetworkPolicy()
	if errs := ValidateCreate(np); len(errs) != 0 {
		t.Fatalf("valid policy refused: %v", errs)
	}
	// v1.32 still parses CIDRs leniently: an address with its length.
	np.Spec.Ingress[0].From[2].IPBlock = &networkingv1.IPBlock{CIDR: "10.0.0.1/8", Except: []string{"10.1.2.3/16"}}
	if errs := ValidateCreate(np); len(errs) != 0 {
		t.Fatalf("interface-style CIDR refused: %v", errs)
	}
	// An empty policy (default deny of ingress) is valid.
	empty := &networkingv1.NetworkPolicy{ObjectMeta: objMeta("deny", "default")}
	if errs := ValidateCreate(empty); len(errs) != 0 {
		t.Fatalf("empty policy refused: %v", errs)
	}
}

// TestInvalidNetworkPolicy pins the field paths, types and messages of
// upstream's ValidateNetworkPolicy for each kind of mistake.
func TestInvalidNetworkPolicy(t *testing.T) {
	sctp, icmp := corev1.ProtocolSCTP, corev1.Protocol("ICMP")
	type want struct {
		typ   field.ErrorType
		field string
		msg   string // a substring of the detail
	}
	tests := []struct {
		name   string
		mutate func(*networkingv1.NetworkPolicy)
		want   []want
	}{
		{"bad pod selector", func(np *networkingv1.NetworkPolicy) {
			np.Spec.PodSelector = metav1.LabelSelector{MatchLabels: map[string]string{"app": "no spaces"}}
		}, []want{{field.ErrorTypeInvalid, "spec.podSelector.matchLabels", "a valid label must be"}}},
		{"bad selector operator", func(np *networkingv1.NetworkPolicy) {
			np.Spec.PodSelector = metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: "Near"}}}
		}, []want{{field.ErrorTypeInvalid, "spec.podSelector.matchExpressions[0].operator", `not a valid selector operator`}}},
		{"bad peer selectors", func(np *networkingv1.NetworkPolicy) {
			np.Spec.Ingress[0].From[0].PodSelector.MatchLabels = map[string]string{"-x": "a"}
			np.Spec.Ingress[0].From[1].NamespaceSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "team", Operator: metav1.LabelSelectorOpIn}}}
		}, []want{
			{field.ErrorTypeInvalid, "spec.ingress[0].from[0].podSelector.matchLabels", "name part must consist of"},
			{field.ErrorTypeRequired, "spec.ingress[0].from[1].namespaceSelector.matchExpressions[0].values", "must be specified when `operator` is 'In' or 'NotIn'"},
		}},
		{"empty peer", func(np *networkingv1.NetworkPolicy) {
			np.Spec.Egress[0].To = []networkingv1.NetworkPolicyPeer{{}}
		}, []want{{field.ErrorTypeRequired, "spec.egress[0].to[0]", "must specify a peer"}}},
		{"ipBlock with another peer", func(np *networkingv1.NetworkPolicy) {
			np.Spec.Ingress[0].From[2].PodSelector = &metav1.LabelSelector{}
		}, []want{{field.ErrorTypeForbidden, "spec.ingress[0].from[2]", "may not specify both ipBlock and another peer"}}},
		{"ipBlock without cidr", func(np *networkingv1.NetworkPolicy) {
			np.Spec.Ingress[0].From[2].IPBlock = &networkingv1.IPBlock{Except: []string{"10.0.0.0/24"}}
		}, []want{{field.ErrorTypeRequired, "spec.ingress[0].from[2].ipBlock.cidr", ""}}},
		{"ipBlock bad cidr", func(np *networkingv1.NetworkPolicy) {
			np.Spec.Ingress[0].From[2].IPBlock = &networkingv1.IPBlock{CIDR: "10.0.0.0/33", Except: []string{"10.1.0.0/16"}}
		}, []want{{field.ErrorTypeInvalid, "spec.ingress[0].from[2].ipBlock.cidr", "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"}}},
		{"except outside or not smaller than cidr", func(np *networkingv1.NetworkPolicy) {
			np.Spec.Ingress[0].From[2].IPBlock = &networkingv1.IPBlock{CIDR: "10.0.0.0/8", Except: []string{"192.168.0.0/16", "10.0.0.0/8", "bogus", "10.2.0.0/16"}}
		}, []want{
			{field.ErrorTypeInvalid, "spec.ingress[0].from[2].ipBlock.except[0]", "must be a strict subset of `cidr`"},
			{field.ErrorTypeInvalid, "spec.ingress[0].from[2].ipBlock.except[1]", "must be a strict subset of `cidr`"},
			{field.ErrorTypeInvalid, "spec.ingress[0].from[2].ipBlock.except[2]", "must be a valid CIDR value"},
		}},
		{"protocol", func(np *networkingv1.NetworkPolicy) {
			np.Spec.Ingress[0].Ports[0].Protocol = &icmp
			np.Spec.Ingress[0].Ports[1].Protocol = &sctp
		}, []want{{field.ErrorTypeNotSupported, "spec.ingress[0].ports[0].protocol", `supported values: "TCP", "UDP", "SCTP"`}}},
		{"port out of range and endPort below port", func(np *networkingv1.NetworkPolicy) {
			np.Spec.Ingress[0].Ports[0].Port = ptr(intstr.FromInt32(70000))
			np.Spec.Ingress[0].Ports[0].EndPort = ptr(int32(0))
		}, []want{
			{field.ErrorTypeInvalid, "spec.ingress[0].ports[0].port", "must be between 1 and 65535, inclusive"},
			{field.ErrorTypeInvalid, "spec.ingress[0].ports[0].endPort", "must be greater than or equal to `port`"},
			{field.ErrorTypeInvalid, "spec.ingress[0].ports[0].endPort", "must be between 1 and 65535, inclusive"},
		}},
		{"endPort with a named port", func(np *networkingv1.NetworkPolicy) {
			np.Spec.Ingress[0].Ports[1].EndPort = ptr(int32(100))
		}, []want{{field.ErrorTypeInvalid, "spec.ingress[0].ports[1].endPort", "may not be specified when `port` is non-numeric"}}},
		{"endPort without port", func(np *networkingv1.NetworkPolicy) {
			np.Spec.Ingress[0].Ports[2].EndPort = ptr(int32(100))
		}, []want{{field.ErrorTypeInvalid, "spec.ingress[0].ports[2].endPort", "may not be specified when `port` is not specified"}}},
		{"bad port name", func(np *networkingv1.NetworkPolicy) {
			np.Spec.Egress[0].Ports = []networkingv1.NetworkPolicyPort{{Port: ptr(intstr.FromString("no_underscores"))}}
		}, []want{{field.ErrorTypeInvalid, "spec.egress[0].ports[0].port", "must contain only alpha-numeric characters"}}},
		{"policy type", func(np *networkingv1.NetworkPolicy) {
			np.Spec.PolicyTypes = []networkingv1.PolicyType{"Sideways"}
		}, []want{{field.ErrorTypeNotSupported, "spec.policyTypes[0]", `supported values: "Ingress", "Egress"`}}},
		{"too many policy types", func(np *networkingv1.NetworkPolicy) {
			np.Spec.PolicyTypes = []networkingv1.PolicyType{"Ingress", "Egress", "Ingress"}
		}, []want{{field.ErrorTypeInvalid, "spec.policyTypes", "may not specify more than two policyTypes"}}},
		{"name", func(np *networkingv1.NetworkPolicy) { np.Name = "Not_A_Name" }, []want{{field.ErrorTypeInvalid, "metadata.name", "a lowercase RFC 1123 subdomain"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			np := validNetworkPolicy()
			tc.mutate(np)
			errs := ValidateCreate(np)
			if len(errs) != len(tc.want) {
				t.Fatalf("got %d errors, want %d: %v", len(errs), len(tc.want), errs)
			}
			for i, w := range tc.want {
				e := errs[i]
				if e.Type != w.typ || e.Field != w.field || !strings.Contains(e.Detail, w.msg) {
					t.Errorf("error %d: %s %s %q, want %s %s containing %q", i, e.Type, e.Field, e.Detail, w.typ, w.field, w.msg)
				}
			}
			// Updates apply the same spec rules.
			old := validNetworkPolicy()
			old.ObjectMeta = *np.ObjectMeta.DeepCopy()
			if up := ValidateUpdate(np, old); len(up) != len(tc.want) {
				t.Errorf("update: got %v", up)
			}
		})
	}
}

// TestNetworkPolicyUpdateKeepsOldSelectors: a stored policy whose pod
// selector has a label value today's rules refuse can still be updated
// with such values, as upstream allows; a new one cannot be created.
func TestNetworkPolicyUpdateKeepsOldSelectors(t *testing.T) {
	bad := strings.Repeat("v", 64) // label values are at most 63 characters
	old := validNetworkPolicy()
	old.Spec.PodSelector = metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: metav1.LabelSelectorOpIn, Values: []string{bad}}}}
	if errs := ValidateCreate(old); len(errs) != 1 || errs[0].Field != "spec.podSelector.matchExpressions[0].values[0]" {
		t.Fatalf("create with an invalid selector value: %v", errs)
	}
	np := old.DeepCopy()
	np.Labels = map[string]string{"edited": "true"}
	if errs := ValidateUpdate(np, old); len(errs) != 0 {
		t.Fatalf("update of a stored policy with an old selector value: %v", errs)
	}
}
