package proxy

import (
	nft "github.com/flotilla-io/flotilla/pkg/nftutil"

	"net/netip"
	"time"

	"github.com/google/nftables/expr"
)

// elemID names one element of one of our maps or sets.
type elemID struct {
	set string
	key string // the key's bytes
}

// elemVal is a map element's verdict (zero for a plain set's member).
type elemVal struct {
	kind  expr.VerdictKind
	chain string
}

// program is what one service port puts into the kernel: its chains and
// their rules, its session-affinity sets and its map elements.
type program struct {
	chains   []chainProgram // in creation order
	affinity map[string]time.Duration
	elems    map[elemID]elemVal
}

type chainProgram struct {
	name  string
	rules []rule
	// stable, when not empty, says the rules are a function of the name
	// and this string alone: a chain whose name and stable are unchanged
	// is left as it is by a partial sync.
	stable string
}

func (p *program) chain(name string, rules ...rule) *chainProgram {
	p.chains = append(p.chains, chainProgram{name: name, rules: rules})
	return &p.chains[len(p.chains)-1]
}

func (p *program) elem(set string, key []byte, v elemVal) {
	p.elems[elemID{set, string(key)}] = v
}

func gotoVal(chain string) elemVal { return elemVal{kind: expr.VerdictGoto, chain: chain} }

var dropVal = elemVal{kind: expr.VerdictDrop}

// buildProgram lays out one service port, as upstream's nftables mode
// does:
//
//   - its ClusterIP leads to the internal policy chain (service-… for
//     Cluster, local-… for internalTrafficPolicy Local); NodePort,
//     external and load-balancer IPs lead to external-…, which marks for
//     masquerade (Cluster) or, for externalTrafficPolicy Local, keeps the
//     client's address and goes to local-…;
//   - a policy chain picks an endpoint with numgen random (after any
//     session-affinity match), an endpoint-… chain DNATs, masquerading
//     the endpoint's own traffic (a pod reaching itself through its
//     Service: without SNAT its reply would short-cut the DNAT);
//   - without usable endpoints the addresses go to @no-endpoint-… maps
//     instead: reject when there are none anywhere, drop when only the
//     Local policy has none (as upstream).
func buildProgram(sp *servicePort, clusterCIDR netip.Prefix) *program {
	p := &program{affinity: map[string]time.Duration{}, elems: map[elemID]elemVal{}}
	names := namesFor(sp.key)
	cluster, local, any := categorize(sp)

	internalChain, hasInternal := names.service, any
	if sp.internalLocal {
		internalChain, hasInternal = names.local, len(local) > 0
	}
	externalPolicy, hasExternal := names.service, any
	if sp.externalLocal {
		externalPolicy, hasExternal = names.local, len(local) > 0
	}
	usesCluster, usesLocal := len(cluster) > 0, len(local) > 0
	usesExternal := any && sp.externallyAccessible()

	internalFilter, externalFilter := gotoVal(chainReject), gotoVal(chainReject)
	if any {
		internalFilter, externalFilter = dropVal, dropVal
	}

	// Map elements.
	p.elem(setClusterIPs, nft.AddrKey(sp.clusterIP), elemVal{})
	ipKey := func(a netip.Addr) []byte { return nft.AddrProtoPortKey(a, sp.protocol, sp.port) }
	if hasInternal {
		p.elem(mapServiceIPs, ipKey(sp.clusterIP), gotoVal(internalChain))
	} else {
		p.elem(mapNoEndpointServices, ipKey(sp.clusterIP), internalFilter)
	}
	for _, ip := range sp.externalIPs {
		if any {
			p.elem(mapServiceIPs, ipKey(ip), gotoVal(names.external))
		}
		if !hasExternal {
			p.elem(mapNoEndpointServices, ipKey(ip), externalFilter)
		}
	}
	if sp.nodePort != 0 {
		if any {
			p.elem(mapServiceNodePorts, protoPort(sp.protocol, sp.nodePort), gotoVal(names.external))
		}
		if !hasExternal {
			p.elem(mapNoEndpointNodePort, protoPort(sp.protocol, sp.nodePort), externalFilter)
		}
	}

	// Endpoint chains (and affinity sets) of every endpoint reachable
	// from here, created before the chains that jump to them.
	reachable := append([]endpoint{}, cluster...)
	for _, ep := range local {
		if !containsAddr(reachable, ep.addr) {
			reachable = append(reachable, ep)
		}
	}
	epChains := make(map[netip.AddrPort]string, len(reachable))
	for _, ep := range reachable {
		chain := endpointChain(sp.key, ep.addr)
		epChains[ep.addr] = chain
		rules := []rule{r(nft.MatchAddr(true, ep.addr.Addr()), e(nft.Jump(chainMarkForMasquerade)))}
		if sp.affinity > 0 {
			set := affinitySet(sp.key, ep.addr)
			p.affinity[set] = sp.affinity
			rules = append(rules, r(updateAffinity(set)))
		}
		rules = append(rules, r(dnat(sp.protocol, ep.addr)))
		// The name holds the service port (and protocol) and the
		// endpoint; only the affinity timeout is not in it.
		p.chain(chain, rules...).stable = "endpoint/" + sp.affinity.String()
	}

	// Traffic from outside the pod range to the ClusterIP is masqueraded:
	// it may have been routed here from another host, and the reply must
	// come back through this node to be un-DNATed.
	internalMasq := r(nft.MatchAddr(false, sp.clusterIP), nft.MatchPorts(sp.protocol, sp.port, sp.port),
		nft.MatchPrefix(nft.IPAddr(true, nft.Reg1), clusterCIDR, true), e(nft.Jump(chainMarkForMasquerade)))
	// A policy chain: the internal masquerade rule if internal traffic
	// comes here, the affinity matches, then a random endpoint.
	policy := func(name string, eps []endpoint) {
		var rules []rule
		if hasInternal && internalChain == name {
			rules = append(rules, internalMasq)
		}
		if sp.affinity > 0 {
			for _, ep := range eps {
				rules = append(rules, r(e(nft.IPAddr(true, nft.Reg1), nft.InSet(affinitySet(sp.key, ep.addr)), nft.Goto(epChains[ep.addr]))))
			}
		}
		targets := make([]string, len(eps))
		for i, ep := range eps {
			targets[i] = epChains[ep.addr]
		}
		p.chain(name, append(rules, rule{numgen: targets})...)
	}
	if usesCluster {
		policy(names.service, cluster)
	}
	if usesLocal {
		policy(names.local, local)
	}

	if usesExternal {
		var rules []rule
		if !sp.externalLocal {
			// Cluster policy: the endpoint may be on another node, whose
			// reply must come back through here.
			rules = append(rules, r(e(nft.Jump(chainMarkForMasquerade))))
		} else {
			// Local policy keeps the client's address. Pods and this node
			// reaching the Service's external addresses are not subject
			// to the policy (as if they had gone out to a load balancer
			// and back); the node's own traffic still needs masquerading,
			// its source being a node address.
			short := ""
			switch {
			case usesCluster:
				short = names.service
			case usesLocal:
				short = names.local
			}
			if short != "" {
				rules = append(rules,
					r(nft.MatchPrefix(nft.IPAddr(true, nft.Reg1), clusterCIDR, false), e(nft.Goto(short))),
					r(fibLocal(false), e(nft.Jump(chainMarkForMasquerade))),
					r(fibLocal(false), e(nft.Goto(short))))
			}
		}
		if hasExternal {
			rules = append(rules, r(e(nft.Goto(externalPolicy))))
		}
		p.chain(names.external, rules...)
	}
	return p
}

func containsAddr(eps []endpoint, a netip.AddrPort) bool {
	for _, e := range eps {
		if e.addr == a {
			return true
		}
	}
	return false
}
