package netpol

import (
	nft "github.com/flotilla-io/flotilla/pkg/nftutil"

	"net/netip"
	"slices"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"k8s.io/apimachinery/pkg/types"
)

// What goes into the kernel, as plain values the sync diffs.

// setKind is the shape of one of our sets.
type setKind int

const (
	kindAddr          setKind = iota // ipv4_addr
	kindAddrProtoPort                // ipv4_addr . inet_proto . inet_service
	kindPodMap                       // ipv4_addr : verdict
)

type setDef struct {
	name string
	kind setKind
}

type chainDef struct {
	name  string
	rules [][]expr.Any
}

// baseChain is a chain at the forward hook.
type baseChain struct {
	name string
	prio int32
}

// Egress first: a pod's egress decides before the receiver's ingress;
// each `accept` ends only its own base chain.
var baseChains = []baseChain{{chainEgress, 0}, {chainIngress, 1}}

var fixedSets = []setDef{{mapEgressPods, kindPodMap}, {mapIngressPods, kindPodMap}}

// fixedChains are the base chains' and the reject chain's rules.
func fixedChains() []chainDef {
	var reject [][]expr.Any
	reject = append(reject, rejectRules()...)
	return []chainDef{
		{chainEgress, [][]expr.Any{append(ctEstablished(), accept()), vmapByAddr(true, mapEgressPods)}},
		{chainIngress, [][]expr.Any{append(ctEstablished(), accept()), vmapByAddr(false, mapIngressPods)}},
		{chainReject, reject},
	}
}

// policyProgram is what one policy puts into the kernel whatever the
// pods: its chains and (empty) sets. Pods fill the sets.
type policyProgram struct {
	chains []chainDef
	sets   []setDef
}

func (p *policy) program() policyProgram {
	var prog policyProgram
	for _, d := range dirs {
		if !p.isolates[d] {
			continue
		}
		ch := chainDef{name: policyChain(p.key, d)}
		for i := range p.rules[d] {
			r := &p.rules[d][i]
			if r.peerSet != "" {
				prog.sets = append(prog.sets, setDef{r.peerSet, kindAddr})
			}
			for _, pt := range r.ports {
				if pt.namedSet != "" {
					prog.sets = append(prog.sets, setDef{pt.namedSet, kindAddrProtoPort})
				}
			}
			ch.rules = append(ch.rules, r.nftRules()...)
		}
		prog.chains = append(prog.chains, ch)
	}
	return prog
}

// nftRules are one rule's nftables rules: one per peer and port, each
// accepting; the peer is the source for ingress, the destination for
// egress. A rule that reads the IP header says `meta nfproto ipv4` first:
// redundant after the base chains' check, but it lets `nft list` print
// ip saddr/daddr rather than raw header offsets.
func (r *rule) nftRules() [][]expr.Any {
	src := r.dir == ingress
	type match struct {
		exprs []expr.Any
		ip    bool // reads the IP header
	}
	var peers []match
	if r.all {
		peers = append(peers, match{})
	}
	if r.peerSet != "" {
		peers = append(peers, match{inAddrSet(src, r.peerSet), true})
	}
	for _, b := range r.blocks {
		m := matchPrefix(src, b.cidr, false)
		for _, ex := range b.except {
			m = append(m, matchPrefix(src, ex, true)...)
		}
		peers = append(peers, match{m, true})
	}
	ports := []match{{}}
	if len(r.ports) > 0 {
		ports = nil
		for _, pt := range r.ports {
			switch {
			case pt.proto == 0: // could not be compiled: matches nothing
			case pt.namedSet != "":
				ports = append(ports, match{inNamedPorts(pt.namedSet), true})
			case pt.from == 0:
				ports = append(ports, match{nft.MatchProto(pt.proto), false})
			default:
				ports = append(ports, match{nft.MatchPorts(pt.proto, pt.from, pt.to), false})
			}
		}
	}
	var out [][]expr.Any
	for _, peer := range peers {
		for _, pt := range ports {
			var x []expr.Any
			if peer.ip || pt.ip {
				x = isIPv4()
			}
			out = append(out, slices.Concat(x, peer.exprs, pt.exprs, exprs(accept())))
		}
	}
	return out
}

// podChainDef is the chain of one pod isolated in direction d by the
// given policies (sorted): the pod reaching itself (through a Service,
// hairpinned) passes, then each policy's chain may accept, then reject.
func podChainDef(ip netip.Addr, d dir, policies []types.NamespacedName) chainDef {
	ch := chainDef{name: podChain(ip, d)}
	ch.rules = append(ch.rules, slices.Concat(isIPv4(), nft.MatchAddr(d == ingress, ip), exprs(accept())))
	for _, k := range policies {
		ch.rules = append(ch.rules, exprs(nft.Jump(policyChain(k, d))))
	}
	ch.rules = append(ch.rules, exprs(counter(), nft.Goto(chainReject)))
	return ch
}

// nftSet is the library's description of one of our sets.
func nftSet(t *nftables.Table, s setDef) *nftables.Set {
	switch s.kind {
	case kindAddrProtoPort:
		return &nftables.Set{Table: t, Name: s.name, KeyType: nft.KeyAddrProtoPort, Concatenation: true}
	case kindPodMap:
		return &nftables.Set{Table: t, Name: s.name, KeyType: nftables.TypeIPAddr, IsMap: true, DataType: nftables.TypeVerdict}
	}
	return &nftables.Set{Table: t, Name: s.name, KeyType: nftables.TypeIPAddr}
}
