package netpol

import (
	nft "github.com/flotilla-io/flotilla/pkg/nftutil"

	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/google/nftables/expr"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

const node = "node-a"

func sel(kv ...string) *metav1.LabelSelector {
	s := &metav1.LabelSelector{MatchLabels: map[string]string{}}
	for i := 0; i+1 < len(kv); i += 2 {
		s.MatchLabels[kv[i]] = kv[i+1]
	}
	return s
}

func testPod(ns, name, ip, nodeName string, lbls map[string]string, ports ...corev1.ContainerPort) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: lbls},
		Spec:       corev1.PodSpec{NodeName: nodeName, Containers: []corev1.Container{{Name: "c", Ports: ports}}},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}}},
	}
}

func mustCompile(t *testing.T, np *networkingv1.NetworkPolicy) *policy {
	t.Helper()
	p, err := compilePolicy(np)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	return p
}

func TestPodInfo(t *testing.T) {
	p := testPod("a", "web", "10.244.0.5", node, map[string]string{"app": "web"},
		corev1.ContainerPort{Name: "http", ContainerPort: 8080},
		corev1.ContainerPort{Name: "dns", ContainerPort: 53, Protocol: corev1.ProtocolUDP},
		corev1.ContainerPort{ContainerPort: 9090})
	info := podInfoOf(p, node)
	if info == nil || !info.local || info.ip != netip.MustParseAddr("10.244.0.5") {
		t.Fatalf("info %+v", info)
	}
	want := []namedPort{{"http", protoTCP, 8080}, {"dns", protoUDP, 53}}
	if !slices.Equal(info.ports, want) {
		t.Errorf("named ports %v, want %v", info.ports, want)
	}
	if podInfoOf(p, "node-b").local {
		t.Error("a pod of another node counts as local")
	}
	// Dual stack: the IPv4 address, wherever it is listed.
	ds := testPod("a", "ds", "fd00::5", node, nil)
	ds.Status.PodIPs = append(ds.Status.PodIPs, corev1.PodIP{IP: "10.244.0.6"})
	if i := podInfoOf(ds, node); i == nil || i.ip != netip.MustParseAddr("10.244.0.6") {
		t.Errorf("dual-stack pod: %+v", i)
	}
	for name, mutate := range map[string]func(*corev1.Pod){
		"host network": func(p *corev1.Pod) { p.Spec.HostNetwork = true },
		"succeeded":    func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded },
		"failed":       func(p *corev1.Pod) { p.Status.Phase = corev1.PodFailed },
		"no address":   func(p *corev1.Pod) { p.Status.PodIP, p.Status.PodIPs = "", nil },
		"only IPv6":    func(p *corev1.Pod) { p.Status.PodIP, p.Status.PodIPs = "fd00::1", []corev1.PodIP{{IP: "fd00::1"}} },
	} {
		q := p.DeepCopy()
		mutate(q)
		if podInfoOf(q, node) != nil {
			t.Errorf("%s: the pod takes part in policies", name)
		}
	}
}

func TestCompilePolicy(t *testing.T) {
	np := &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "p"},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: *sel("app", "web"),
			Ingress: []networkingv1.NetworkPolicyIngressRule{
				{}, // everything
				{From: []networkingv1.NetworkPolicyPeer{
					{PodSelector: sel("role", "client")},
					{IPBlock: &networkingv1.IPBlock{CIDR: "10.0.0.1/8", Except: []string{"10.1.0.0/16", "10.2.0.0/16"}}},
					{IPBlock: &networkingv1.IPBlock{CIDR: "fd00::/64"}}, // IPv6: not filtered here
				}, Ports: []networkingv1.NetworkPolicyPort{
					{Port: ptr.To(intstr.FromInt32(80))},
					{Protocol: ptr.To(corev1.ProtocolUDP), Port: ptr.To(intstr.FromInt32(1000)), EndPort: ptr.To[int32](2000)},
					{Port: ptr.To(intstr.FromString("http"))},
					{Protocol: ptr.To(corev1.ProtocolSCTP)},
				}},
			},
			Egress: []networkingv1.NetworkPolicyEgressRule{{}},
		},
	}
	p := mustCompile(t, np)
	// Without policyTypes (stored around the defaults): Ingress, and
	// Egress because there are egress rules.
	if !p.isolates[ingress] || !p.isolates[egress] {
		t.Errorf("isolates %v", p.isolates)
	}
	r := p.rules[ingress][1]
	if r.all || len(r.pods) != 1 || r.peerSet == "" || len(r.blocks) != 1 {
		t.Fatalf("rule %+v", r)
	}
	if b := r.blocks[0]; b.cidr != netip.MustParsePrefix("10.0.0.0/8") || len(b.except) != 2 {
		t.Errorf("block %+v", b)
	}
	wantPorts := []port{
		{proto: protoTCP, from: 80, to: 80},
		{proto: protoUDP, from: 1000, to: 2000},
		{proto: protoTCP, named: "http", namedSet: namedPortSetName(p.key, ingress, 1, 2)},
		{proto: protoSCTP},
	}
	if !slices.Equal(r.ports, wantPorts) {
		t.Errorf("ports %+v, want %+v", r.ports, wantPorts)
	}
	// One nftables rule per peer (set, block) and port.
	if n := len(r.nftRules()); n != 2*4 {
		t.Errorf("%d nftables rules, want 8", n)
	}
	if rs := p.rules[ingress][0].nftRules(); len(rs) != 1 || len(rs[0]) != 1 {
		t.Errorf("allow-all rule: %v", rs)
	}
	prog := p.program()
	var chains, sets []string
	for _, c := range prog.chains {
		chains = append(chains, c.name)
	}
	for _, s := range prog.sets {
		sets = append(sets, s.name)
	}
	if !slices.Equal(chains, []string{policyChain(p.key, ingress), policyChain(p.key, egress)}) {
		t.Errorf("chains %v", chains)
	}
	if !slices.Equal(sets, []string{peerSetName(p.key, ingress, 1), namedPortSetName(p.key, ingress, 1, 2)}) {
		t.Errorf("sets %v", sets)
	}

	// Explicit types: egress rules of an ingress-only policy are ignored.
	np.Spec.PolicyTypes = []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}
	if p := mustCompile(t, np); p.isolates[egress] || len(p.rules[egress]) != 0 || len(p.program().chains) != 1 {
		t.Errorf("ingress-only policy: %+v", p)
	}
	// Default deny: a chain without rules.
	deny := mustCompile(t, &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "deny"}})
	if prog := deny.program(); len(prog.chains) != 1 || len(prog.chains[0].rules) != 0 || len(prog.sets) != 0 {
		t.Errorf("default deny program: %+v", prog)
	}
	// What cannot be compiled matches nothing, and says so.
	bad := np.DeepCopy()
	bad.Spec.Ingress[1].From[1].IPBlock.CIDR = "nonsense"
	bad.Spec.PodSelector.MatchExpressions = []metav1.LabelSelectorRequirement{{Key: "x", Operator: "Near"}}
	bp, err := compilePolicy(bad)
	if err == nil || !strings.Contains(err.Error(), "nonsense") || bp.selector != nil || len(bp.rules[ingress][1].blocks) != 0 {
		t.Errorf("bad policy: %v %+v", err, bp)
	}
}

// TestContribution: which pods a policy isolates here and which set
// elements each pod brings, for each kind of peer.
func TestContribution(t *testing.T) {
	nsLabels := map[string]labels.Set{"a": {"team": "a"}, "b": {"team": "b"}, "c": {"team": "c"}}
	np := &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "p"},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: *sel("app", "web"),
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{
				From: []networkingv1.NetworkPolicyPeer{
					{PodSelector: sel("role", "client")},                                     // pods of "a"
					{NamespaceSelector: sel("team", "b")},                                    // every pod of "b"
					{NamespaceSelector: sel("team", "c"), PodSelector: sel("role", "admin")}, // admins of "c"
				},
				Ports: []networkingv1.NetworkPolicyPort{{Port: ptr.To(intstr.FromString("http"))}},
			}},
			Egress: []networkingv1.NetworkPolicyEgressRule{{
				To:    []networkingv1.NetworkPolicyPeer{{PodSelector: sel("app", "db")}},
				Ports: []networkingv1.NetworkPolicyPort{{Port: ptr.To(intstr.FromString("sql"))}},
			}},
		},
	}
	p := mustCompile(t, np)
	http := corev1.ContainerPort{Name: "http", ContainerPort: 8080}
	sql := corev1.ContainerPort{Name: "sql", ContainerPort: 5432}
	peerIn, peerEg := peerSetName(p.key, ingress, 0), peerSetName(p.key, egress, 0)
	portsIn, portsEg := namedPortSetName(p.key, ingress, 0, 0), namedPortSetName(p.key, egress, 0, 0)
	addr := func(ip string) string { return string(nft.AddrKey(netip.MustParseAddr(ip))) }
	app := func(ip string, port uint16) string {
		return string(nft.AddrProtoPortKey(netip.MustParseAddr(ip), protoTCP, port))
	}
	tests := []struct {
		name   string
		pod    *corev1.Pod
		target [2]bool
		elems  []elemID
	}{
		{"selected here", testPod("a", "web", "10.0.0.1", node, map[string]string{"app": "web"}, http),
			[2]bool{true, true}, []elemID{{portsIn, app("10.0.0.1", 8080)}}},
		{"selected elsewhere", testPod("a", "web2", "10.0.1.1", "node-b", map[string]string{"app": "web"}, http),
			[2]bool{}, nil},
		{"same-namespace client", testPod("a", "cl", "10.0.0.2", "node-b", map[string]string{"role": "client"}),
			[2]bool{}, []elemID{{peerIn, addr("10.0.0.2")}}},
		{"client of another namespace", testPod("c", "cl", "10.0.0.3", node, map[string]string{"role": "client"}),
			[2]bool{}, nil},
		{"any pod of b", testPod("b", "x", "10.0.0.4", node, nil), [2]bool{}, []elemID{{peerIn, addr("10.0.0.4")}}},
		{"admin of c", testPod("c", "adm", "10.0.0.5", node, map[string]string{"role": "admin"}), [2]bool{}, []elemID{{peerIn, addr("10.0.0.5")}}},
		{"admin of a", testPod("a", "adm", "10.0.0.6", node, map[string]string{"role": "admin"}), [2]bool{}, nil},
		{"db with a sql port, egress destination", testPod("a", "db", "10.0.0.7", "node-b", map[string]string{"app": "db"}, sql),
			[2]bool{}, []elemID{{peerEg, addr("10.0.0.7")}, {portsEg, app("10.0.0.7", 5432)}}},
		{"sql port on a pod that is no peer", testPod("a", "other", "10.0.0.8", node, nil, sql), [2]bool{}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pod := podInfoOf(tc.pod, node)
			c := p.contribution(pod, nsLabels[tc.pod.Namespace])
			var target [2]bool
			var elems []elemID
			if c != nil {
				target, elems = c.target, c.elems
			}
			if target != tc.target || !slices.Equal(elems, tc.elems) {
				t.Errorf("target %v elems %q, want %v %q", target, elems, tc.target, tc.elems)
			}
		})
	}
}

// TestTracker: changes flip exactly the elements and pod chains they
// should, and flips that undo each other before a sync cancel out.
func TestTracker(t *testing.T) {
	tr := newTracker()
	tr.setNamespace("a", labels.Set{"team": "a"})
	web := testPod("a", "web", "10.0.0.1", node, map[string]string{"app": "web"})
	client := testPod("a", "client", "10.0.0.2", node, map[string]string{"role": "client"})
	key := func(p *corev1.Pod) types.NamespacedName {
		return types.NamespacedName{Namespace: p.Namespace, Name: p.Name}
	}
	tr.setPod(key(web), podInfoOf(web, node))
	tr.setPod(key(client), podInfoOf(client, node))
	if add, del := tr.takeFlipped(); len(add)+len(del) != 0 || len(tr.isolated()) != 0 {
		t.Fatalf("no policy yet: %v %v %v", add, del, tr.isolated())
	}
	np := &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "allow-client"},
		Spec: networkingv1.NetworkPolicySpec{PodSelector: *sel("app", "web"),
			Ingress: []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{PodSelector: sel("role", "client")}}}}},
	}
	pk := types.NamespacedName{Namespace: "a", Name: "allow-client"}
	if !tr.setPolicy(pk, mustCompile(t, np)) {
		t.Fatal("new policy: no change")
	}
	set := peerSetName(pk, ingress, 0)
	clientElem := elemID{set, string(nft.AddrKey(netip.MustParseAddr("10.0.0.2")))}
	if add, del := tr.takeFlipped(); !slices.Equal(add, []elemID{clientElem}) || len(del) != 0 {
		t.Errorf("policy added: add %q del %q", add, del)
	}
	iso := tr.isolated()
	if got := iso[netip.MustParseAddr("10.0.0.1")]; len(iso) != 1 || got == nil || !slices.Equal(got[ingress], []types.NamespacedName{pk}) || len(got[egress]) != 0 {
		t.Errorf("isolated %v", iso)
	}
	// The same spec again changes nothing.
	if tr.setPolicy(pk, mustCompile(t, np)) {
		t.Error("an unchanged policy counts as a change")
	}
	// The client loses its label: its element goes.
	client.Labels = nil
	tr.setPod(key(client), podInfoOf(client, node))
	if add, del := tr.takeFlipped(); len(add) != 0 || !slices.Equal(del, []elemID{clientElem}) {
		t.Errorf("client relabelled: add %q del %q", add, del)
	}
	// Back and forth before a sync: nothing to do.
	client.Labels = map[string]string{"role": "client"}
	tr.setPod(key(client), podInfoOf(client, node))
	client.Labels = nil
	tr.setPod(key(client), podInfoOf(client, node))
	if add, del := tr.takeFlipped(); len(add)+len(del) != 0 {
		t.Errorf("flips that cancel out: add %q del %q", add, del)
	}
	// A namespace selector follows the namespace's labels.
	np.Spec.Ingress[0].From = []networkingv1.NetworkPolicyPeer{{NamespaceSelector: sel("team", "x")}}
	tr.setPolicy(pk, mustCompile(t, np))
	tr.takeFlipped()
	tr.setNamespace("a", labels.Set{"team": "x"})
	add, _ := tr.takeFlipped()
	if len(add) != 2 { // both pods of a
		t.Errorf("namespace relabelled: add %q", add)
	}
	// The policy goes: its elements and the isolation go with it.
	tr.setPolicy(pk, nil)
	if add, del := tr.takeFlipped(); len(add) != 0 || len(del) != 2 || len(tr.isolated()) != 0 || len(tr.elems) != 0 {
		t.Errorf("policy deleted: add %q del %q isolated %v elems %v", add, del, tr.isolated(), tr.elems)
	}
	// A pod that goes leaves nothing behind.
	tr.setPolicy(pk, mustCompile(t, np))
	tr.setPod(key(web), nil)
	tr.setPod(key(client), nil)
	if len(tr.elems) != 0 || len(tr.contribs) != 0 || len(tr.isolated()) != 0 {
		t.Errorf("pods deleted: elems %v contribs %v", tr.elems, tr.contribs)
	}
}

// TestPodChain: the pod itself passes, then the policies in order, then
// the reject chain (with a counter).
func TestPodChain(t *testing.T) {
	ip := netip.MustParseAddr("10.0.0.1")
	a, b := types.NamespacedName{Namespace: "n", Name: "a"}, types.NamespacedName{Namespace: "n", Name: "b"}
	ch := podChainDef(ip, egress, []types.NamespacedName{a, b})
	if ch.name != "pod-eg-10.0.0.1" || len(ch.rules) != 4 {
		t.Fatalf("chain %+v", ch)
	}
	if v, ok := ch.rules[1][0].(*expr.Verdict); !ok || v.Kind != expr.VerdictJump || v.Chain != policyChain(a, egress) {
		t.Errorf("first policy jump %v", ch.rules[1])
	}
	if v, ok := ch.rules[3][1].(*expr.Verdict); !ok || v.Kind != expr.VerdictGoto || v.Chain != chainReject {
		t.Errorf("last rule %v", ch.rules[3])
	}
	// Egress: the pod reaching itself is matched on the destination.
	if p, ok := ch.rules[0][2].(*expr.Payload); !ok || p.Offset != 16 {
		t.Errorf("self rule %v", ch.rules[0])
	}
}

func TestNames(t *testing.T) {
	long := types.NamespacedName{Namespace: strings.Repeat("n", 63), Name: strings.Repeat("x", 253)}
	for _, n := range []string{policyChain(long, ingress), peerSetName(long, egress, 12), namedPortSetName(long, ingress, 3, 4)} {
		if len(n) > 255 {
			t.Errorf("name of %d bytes: %s", len(n), n)
		}
	}
	// Cut names stay apart by their hash.
	other := types.NamespacedName{Namespace: long.Namespace, Name: long.Name[:252] + "y"}
	if policyChain(long, ingress) == policyChain(other, ingress) {
		t.Error("two long policy names share a chain")
	}
}
