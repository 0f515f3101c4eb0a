package netpol

import (
	nft "github.com/flotilla-io/flotilla/pkg/nftutil"
	"github.com/flotilla-io/flotilla/pkg/podutil"

	"errors"
	"fmt"
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	netutils "k8s.io/utils/net"
)

// dir is a direction of traffic as seen from a selected pod.
type dir int

const (
	ingress dir = iota
	egress
)

var dirs = [2]dir{ingress, egress}

func (d dir) short() string {
	if d == ingress {
		return "in"
	}
	return "eg"
}

// podInfo is what the rules need to know of a pod.
type podInfo struct {
	key    types.NamespacedName
	labels labels.Set
	ip     netip.Addr // IPv4
	local  bool       // runs on this node
	ports  []namedPort
}

// namedPort is a container port with a name: what a policy's named port
// resolves to on this pod.
type namedPort struct {
	name  string
	proto uint8
	port  uint16
}

// podInfoOf returns nil for a pod that takes no part in policies: one on
// the host's network (its address is the node's), one that has finished
// (its address may already be another pod's), or one without an IPv4
// address yet.
func podInfoOf(pod *corev1.Pod, node string) *podInfo {
	if pod.Spec.HostNetwork || podutil.IsPodTerminal(pod) {
		return nil
	}
	var ip netip.Addr
	for _, s := range append([]string{pod.Status.PodIP}, podIPs(pod)...) {
		if a, err := netip.ParseAddr(s); err == nil && a.Unmap().Is4() {
			ip = a.Unmap()
			break
		}
	}
	if !ip.IsValid() {
		return nil
	}
	p := &podInfo{
		key:    types.NamespacedName{Namespace: pod.Namespace, Name: pod.Name},
		labels: labels.Set(pod.Labels),
		ip:     ip,
		local:  pod.Spec.NodeName == node,
	}
	for _, c := range pod.Spec.Containers {
		for _, cp := range c.Ports {
			if cp.Name == "" || cp.ContainerPort <= 0 || cp.ContainerPort > 65535 {
				continue
			}
			if proto, ok := protoNumber(cp.Protocol); ok {
				p.ports = append(p.ports, namedPort{name: cp.Name, proto: proto, port: uint16(cp.ContainerPort)})
			}
		}
	}
	return p
}

func podIPs(pod *corev1.Pod) []string {
	out := make([]string, len(pod.Status.PodIPs))
	for i, ip := range pod.Status.PodIPs {
		out[i] = ip.IP
	}
	return out
}

// Protocol numbers (IANA).
const (
	protoTCP  = 6
	protoUDP  = 17
	protoSCTP = 132
)

// protoNumber maps a protocol name; empty is TCP, the API's default.
func protoNumber(p corev1.Protocol) (uint8, bool) {
	switch p {
	case corev1.ProtocolTCP, "":
		return protoTCP, true
	case corev1.ProtocolUDP:
		return protoUDP, true
	case corev1.ProtocolSCTP:
		return protoSCTP, true
	}
	return 0, false
}

// policy is a NetworkPolicy compiled for matching pods and for its rules.
type policy struct {
	key      types.NamespacedName
	spec     *networkingv1.NetworkPolicySpec // as compiled, to notice changes
	selector labels.Selector                 // nil: selects no pod
	isolates [2]bool
	rules    [2][]rule
}

// rule is one ingress or egress rule. The zero rule allows nothing.
type rule struct {
	all      bool      // no peers given: every address
	pods     []podPeer // pod peers; their addresses are the set peerSet
	blocks   []ipBlock
	ports    []port // none: every protocol and port
	peerSet  string // name of the set of the pod peers' addresses ("" without pod peers)
	dir      dir
	policyNS string
}

// podPeer selects pods: in the namespaces namespaces selects (nil: the
// policy's own) the pods pods selects.
type podPeer struct {
	namespaces labels.Selector
	pods       labels.Selector
}

type ipBlock struct {
	cidr   netip.Prefix
	except []netip.Prefix
}

// port is one port of a rule: a protocol with every port (from == 0), a
// port or a range, or a container port's name resolved per destination
// pod through the set namedSet.
type port struct {
	proto    uint8
	from, to uint16
	named    string
	namedSet string
}

// compilePolicy turns a NetworkPolicy into the model. Parts that cannot
// be compiled (which validation refuses, so only objects stored around it
// have them) match nothing: a bad peer or port allows nothing, a bad pod
// selector selects no pod. The errors say what was dropped.
func compilePolicy(np *networkingv1.NetworkPolicy) (*policy, error) {
	p := &policy{key: types.NamespacedName{Namespace: np.Namespace, Name: np.Name}, spec: np.Spec.DeepCopy()}
	var errs []error
	sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
	if err != nil {
		errs = append(errs, fmt.Errorf("podSelector: %w", err))
	} else {
		p.selector = sel
	}
	ptypes := np.Spec.PolicyTypes
	if len(ptypes) == 0 { // stored without the API's defaults
		ptypes = []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}
		if len(np.Spec.Egress) > 0 {
			ptypes = append(ptypes, networkingv1.PolicyTypeEgress)
		}
	}
	p.isolates[ingress] = slices.Contains(ptypes, networkingv1.PolicyTypeIngress)
	p.isolates[egress] = slices.Contains(ptypes, networkingv1.PolicyTypeEgress)
	if p.isolates[ingress] {
		for i, r := range np.Spec.Ingress {
			p.rules[ingress] = append(p.rules[ingress], p.compileRule(ingress, i, r.From, r.Ports, &errs))
		}
	}
	if p.isolates[egress] {
		for i, r := range np.Spec.Egress {
			p.rules[egress] = append(p.rules[egress], p.compileRule(egress, i, r.To, r.Ports, &errs))
		}
	}
	return p, errors.Join(errs...)
}

func (p *policy) compileRule(d dir, i int, peers []networkingv1.NetworkPolicyPeer, ports []networkingv1.NetworkPolicyPort, errs *[]error) rule {
	r := rule{all: len(peers) == 0, dir: d, policyNS: p.key.Namespace}
	where := fmt.Sprintf("%s[%d]", map[dir]string{ingress: "ingress", egress: "egress"}[d], i)
	for j, peer := range peers {
		switch {
		case peer.IPBlock != nil:
			b, err := compileIPBlock(peer.IPBlock)
			if err != nil {
				*errs = append(*errs, fmt.Errorf("%s peer %d: %w", where, j, err))
			} else if b.cidr.Addr().Is4() { // only IPv4 traffic is filtered
				r.blocks = append(r.blocks, b)
			}
		case peer.PodSelector != nil || peer.NamespaceSelector != nil:
			pp, err := compilePodPeer(peer)
			if err != nil {
				*errs = append(*errs, fmt.Errorf("%s peer %d: %w", where, j, err))
				continue
			}
			r.pods = append(r.pods, pp)
		}
	}
	if len(r.pods) > 0 {
		r.peerSet = peerSetName(p.key, d, i)
	}
	for j, np := range ports {
		proto, ok := protoNumber(ptrOr(np.Protocol, corev1.ProtocolTCP))
		if !ok {
			*errs = append(*errs, fmt.Errorf("%s port %d: protocol %q", where, j, *np.Protocol))
			r.ports = append(r.ports, port{}) // matches nothing, but the rule keeps its ports
			continue
		}
		pt := port{proto: proto}
		switch {
		case np.Port == nil:
		case np.Port.Type == intstr.String:
			pt.named, pt.namedSet = np.Port.StrVal, namedPortSetName(p.key, d, i, j)
		case np.Port.IntVal < 1 || np.Port.IntVal > 65535:
			*errs = append(*errs, fmt.Errorf("%s port %d: port %d", where, j, np.Port.IntVal))
			pt = port{}
		default:
			pt.from, pt.to = uint16(np.Port.IntVal), uint16(np.Port.IntVal)
			if np.EndPort != nil && *np.EndPort > np.Port.IntVal && *np.EndPort <= 65535 {
				pt.to = uint16(*np.EndPort)
			}
		}
		r.ports = append(r.ports, pt)
	}
	return r
}

func ptrOr[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}

func compilePodPeer(peer networkingv1.NetworkPolicyPeer) (podPeer, error) {
	pp := podPeer{pods: labels.Everything()}
	if peer.PodSelector != nil {
		s, err := metav1.LabelSelectorAsSelector(peer.PodSelector)
		if err != nil {
			return pp, fmt.Errorf("podSelector: %w", err)
		}
		pp.pods = s
	}
	if peer.NamespaceSelector != nil {
		s, err := metav1.LabelSelectorAsSelector(peer.NamespaceSelector)
		if err != nil {
			return pp, fmt.Errorf("namespaceSelector: %w", err)
		}
		pp.namespaces = s
	}
	return pp, nil
}

// compileIPBlock parses leniently, as the API validates ("10.0.0.1/8" is
// 10.0.0.0/8).
func compileIPBlock(b *networkingv1.IPBlock) (ipBlock, error) {
	parse := func(s string) (netip.Prefix, error) {
		_, n, err := netutils.ParseCIDRSloppy(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		a, _ := netip.AddrFromSlice(n.IP)
		bits, _ := n.Mask.Size()
		return netip.PrefixFrom(a.Unmap(), bits).Masked(), nil
	}
	cidr, err := parse(b.CIDR)
	if err != nil {
		return ipBlock{}, fmt.Errorf("cidr %q: %w", b.CIDR, err)
	}
	out := ipBlock{cidr: cidr}
	for _, e := range b.Except {
		ex, err := parse(e)
		if err != nil {
			return ipBlock{}, fmt.Errorf("except %q: %w", e, err)
		}
		if ex.Addr().Is4() == cidr.Addr().Is4() {
			out.except = append(out.except, ex)
		}
	}
	return out, nil
}

// selects reports whether the policy selects the pod (its own namespace,
// its pod selector).
func (p *policy) selects(pod *podInfo) bool {
	return p.selector != nil && pod.key.Namespace == p.key.Namespace && p.selector.Matches(pod.labels)
}

// matchesPodPeer reports whether one of the rule's pod peers selects the
// pod, given its namespace's labels.
func (r *rule) matchesPodPeer(pod *podInfo, nsLabels labels.Set) bool {
	for _, pp := range r.pods {
		if pp.namespaces == nil {
			if pod.key.Namespace != r.policyNS {
				continue
			}
		} else if !pp.namespaces.Matches(nsLabels) {
			continue
		}
		if pp.pods.Matches(pod.labels) {
			return true
		}
	}
	return false
}

// elemID is one element of one of our sets: its raw key.
type elemID struct {
	set string
	key string
}

// contrib is what one pod means to one policy: whether the policy
// isolates it here (in each direction), and the set elements it adds.
type contrib struct {
	target [2]bool
	elems  []elemID
}

func (c *contrib) empty() bool {
	return c == nil || (!c.target[0] && !c.target[1] && len(c.elems) == 0)
}

// contribution computes what pod contributes to p. Pod peers count
// wherever the pod runs; only pods of this node are targets.
//
// A named port resolves against the destination: for ingress the
// selected pod of this node, for egress the pod connected to, which is
// any pod (narrowed to the rule's pod peers when it has nothing else).
func (p *policy) contribution(pod *podInfo, nsLabels labels.Set) *contrib {
	c := &contrib{}
	selected := p.selects(pod)
	for _, d := range dirs {
		if !p.isolates[d] {
			continue
		}
		target := selected && pod.local
		c.target[d] = target
		for i := range p.rules[d] {
			r := &p.rules[d][i]
			peer := r.peerSet != "" && r.matchesPodPeer(pod, nsLabels)
			if peer {
				c.elems = append(c.elems, elemID{r.peerSet, string(nft.AddrKey(pod.ip))})
			}
			resolve := target
			if d == egress {
				resolve = peer || r.all || len(r.blocks) > 0
			}
			if !resolve {
				continue
			}
			for _, pt := range r.ports {
				if pt.named == "" {
					continue
				}
				for _, np := range pod.ports {
					if np.name == pt.named && np.proto == pt.proto {
						c.elems = append(c.elems, elemID{pt.namedSet, string(nft.AddrProtoPortKey(pod.ip, np.proto, np.port))})
					}
				}
			}
		}
	}
	if c.empty() {
		return nil
	}
	return c
}
