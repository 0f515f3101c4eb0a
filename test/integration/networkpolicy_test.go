package integration

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/flotilla-io/flotilla/pkg/server/testserver"
)

// TestNetworkPolicyAPI: networking.k8s.io/v1 NetworkPolicies are served
// as upstream serves them: the generic operations, discovery with the
// short name netpol, defaults (policyTypes, port protocol), generation
// counting spec changes, upstream's validation errors as 422 with their
// field paths, and what the stock kubectl prints for get and describe.
func TestNetworkPolicyAPI(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{})
	cs := srv.Clientset(t)
	ctx := context.Background()
	gvr := schema.GroupVersionResource{Group: "networking.k8s.io", Version: "v1", Resource: "networkpolicies"}
	exerciseKind(t, srv, apiKind{
		gvr: gvr, kind: "NetworkPolicy", namespaced: true,
		new: func(string) map[string]any {
			return map[string]any{"spec": map[string]any{"podSelector": map[string]any{"matchLabels": map[string]any{"app": "web"}}}}
		},
		columns: []string{"Name", "Pod-Selector", "Age"},
	}, "default")

	_, lists, err := cs.Discovery().ServerGroupsAndResources()
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	var shortNames []string
	for _, l := range lists {
		for _, r := range l.APIResources {
			if l.GroupVersion == "networking.k8s.io/v1" && r.Name == "networkpolicies" {
				shortNames = r.ShortNames
			}
		}
	}
	if !slices.Equal(shortNames, []string{"netpol"}) {
		t.Errorf("networkpolicies short names %v, want [netpol]", shortNames)
	}

	// Defaults and generation.
	pols := cs.NetworkingV1().NetworkPolicies("default")
	np := &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "allow-web"},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{
				From:  []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"role": "client"}}}},
				Ports: []networkingv1.NetworkPolicyPort{{Port: ptr.To(intstr.FromString("http"))}},
			}},
			Egress: []networkingv1.NetworkPolicyEgressRule{{To: []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "10.0.0.0/8", Except: []string{"10.1.0.0/16"}}}}}},
		},
	}
	created, err := pols.Create(ctx, np, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if created.Generation != 1 {
		t.Errorf("new policy generation %d, want 1", created.Generation)
	}
	if p := created.Spec.Ingress[0].Ports[0].Protocol; p == nil || *p != corev1.ProtocolTCP {
		t.Errorf("port protocol not defaulted to TCP: %v", p)
	}
	if want := []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}; !slices.Equal(created.Spec.PolicyTypes, want) {
		t.Errorf("policyTypes %v, want %v", created.Spec.PolicyTypes, want)
	}
	created.Labels = map[string]string{"team": "a"}
	labelled, err := pols.Update(ctx, created, metav1.UpdateOptions{})
	if err != nil || labelled.Generation != 1 {
		t.Fatalf("label change: generation %d, %v (want 1)", labelled.Generation, err)
	}
	labelled.Spec.PolicyTypes = []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}
	specced, err := pols.Update(ctx, labelled, metav1.UpdateOptions{})
	if err != nil || specced.Generation != 2 {
		t.Fatalf("spec change: generation %d, %v (want 2)", specced.Generation, err)
	}

	// Bad input: 422 with upstream's field paths.
	bad := []struct {
		name   string
		mutate func(*networkingv1.NetworkPolicy)
		causes []string // field: reason
	}{
		{"selector", func(np *networkingv1.NetworkPolicy) {
			np.Spec.PodSelector.MatchExpressions = []metav1.LabelSelectorRequirement{{Key: "app", Operator: "Near"}}
		}, []string{"spec.podSelector.matchExpressions[0].operator: FieldValueInvalid"}},
		{"ports", func(np *networkingv1.NetworkPolicy) {
			np.Spec.Ingress[0].Ports = []networkingv1.NetworkPolicyPort{
				{Protocol: ptr.To(corev1.Protocol("ICMP"))},
				{Port: ptr.To(intstr.FromInt32(100)), EndPort: ptr.To[int32](99)},
				{Port: ptr.To(intstr.FromString("http")), EndPort: ptr.To[int32](99)},
			}
		}, []string{
			"spec.ingress[0].ports[0].protocol: FieldValueNotSupported",
			"spec.ingress[0].ports[1].endPort: FieldValueInvalid",
			"spec.ingress[0].ports[2].endPort: FieldValueInvalid",
		}},
		{"peers", func(np *networkingv1.NetworkPolicy) {
			np.Spec.Egress[0].To = []networkingv1.NetworkPolicyPeer{
				{},
				{IPBlock: &networkingv1.IPBlock{CIDR: "10.0.0.0/8", Except: []string{"11.0.0.0/16"}}},
				{IPBlock: &networkingv1.IPBlock{CIDR: "10.0.0.0/8"}, NamespaceSelector: &metav1.LabelSelector{}},
			}
		}, []string{
			"spec.egress[0].to[0]: FieldValueRequired",
			"spec.egress[0].to[1].ipBlock.except[0]: FieldValueInvalid",
			"spec.egress[0].to[2]: FieldValueForbidden",
		}},
		{"policy types", func(np *networkingv1.NetworkPolicy) {
			np.Spec.PolicyTypes = []networkingv1.PolicyType{"Both"}
		}, []string{"spec.policyTypes[0]: FieldValueNotSupported"}},
	}
	for _, tc := range bad {
		t.Run("invalid "+tc.name, func(t *testing.T) {
			np := np.DeepCopy()
			np.Name = "bad"
			tc.mutate(np)
			_, err := pols.Create(ctx, np, metav1.CreateOptions{})
			checkInvalid(t, err, tc.causes)
			// The same on update of a valid policy.
			cur, err := pols.Get(ctx, "allow-web", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			np.ObjectMeta = cur.ObjectMeta
			_, err = pols.Update(ctx, np, metav1.UpdateOptions{})
			checkInvalid(t, err, tc.causes)
		})
	}

	// The stock kubectl: get by plural and short name, describe.
	kubectl := func(args ...string) string {
		t.Helper()
		if _, err := exec.LookPath("kubectl"); err != nil {
			t.Fatalf("this test runs the stock kubectl, which is not on PATH: %v", err)
		}
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "kubectl", append([]string{"--kubeconfig", srv.Kubeconfig, "--cache-dir", filepath.Join(t.TempDir(), "cache")}, args...)...)
		cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	if _, err := pols.Create(ctx, &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "deny-all"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, res := range []string{"networkpolicies", "netpol", "networkpolicy.networking.k8s.io"} {
		out := kubectl("get", res, "-n", "default")
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 3 || strings.Join(strings.Fields(lines[0]), " ") != "NAME POD-SELECTOR AGE" {
			t.Fatalf("kubectl get %s:\n%s", res, out)
		}
		if f := strings.Fields(lines[1]); f[0] != "allow-web" || f[1] != "app=web" {
			t.Errorf("kubectl get %s, row of allow-web: %q", res, lines[1])
		}
		if f := strings.Fields(lines[2]); f[0] != "deny-all" || f[1] != "<none>" {
			t.Errorf("kubectl get %s, row of deny-all: %q", res, lines[2])
		}
	}
	out := kubectl("describe", "netpol", "allow-web", "-n", "default")
	for _, want := range []string{
		"Name:         allow-web",
		"PodSelector:     app=web",
		"Allowing ingress traffic:",
		"To Port: http/TCP",
		"PodSelector: role=client",
		"Not affecting egress traffic",
		"Policy Types: Ingress",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("kubectl describe netpol lacks %q:\n%s", want, out)
		}
	}
}

// checkInvalid wants a 422 Invalid whose causes are exactly want
// ("field: reason").
func checkInvalid(t *testing.T, err error, want []string) {
	t.Helper()
	st, ok := err.(apierrors.APIStatus)
	if !ok || st.Status().Code != http.StatusUnprocessableEntity || !apierrors.IsInvalid(err) {
		t.Fatalf("want 422 Invalid, got %v", err)
	}
	var got []string
	if d := st.Status().Details; d != nil {
		for _, c := range d.Causes {
			got = append(got, c.Field+": "+string(c.Type))
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("causes %v, want %v (%v)", got, want, err)
	}
}
