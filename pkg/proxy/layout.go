package proxy

import (
	nft "github.com/flotilla-io/flotilla/pkg/nftutil"

	"net/netip"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
)

// The fixed part of our table, after upstream's nftables mode (KEP-3866):
//
//	nat-prerouting, nat-output  -> services: daddr . proto . port vmap
//	    @service-ips (ClusterIPs, external and load-balancer IPs), and
//	    for local destinations proto . port vmap @service-nodeports
//	nat-postrouting -> masquerading: masquerade what a service chain
//	    marked (hairpin, traffic from outside the pod range, NodePorts)
//	filter-input/forward/output -> service-endpoints-check and
//	    nodeport-endpoints-check: a Service without usable endpoints
//	    rejects new connections at once instead of letting them hang
//	filter-forward, filter-output-post-dnat -> cluster-ips-check: a
//	    ClusterIP on a port it does not serve rejects, and an address of
//	    the service range no Service holds is dropped
//
// The filter chains run at dstnat-10 on input, forward and output (where
// `reject` is allowed on every kernel) and see the destination before
// DNAT, like upstream's.
type baseChain struct {
	name string
	typ  nftables.ChainType
	hook *nftables.ChainHook
	prio int32
}

var baseChains = []baseChain{
	{chainFilterInput, nftables.ChainTypeFilter, nftables.ChainHookInput, -110},
	{chainFilterForward, nftables.ChainTypeFilter, nftables.ChainHookForward, -110},
	{chainFilterOutput, nftables.ChainTypeFilter, nftables.ChainHookOutput, -110},
	{chainFilterOutputPost, nftables.ChainTypeFilter, nftables.ChainHookOutput, -90},
	{chainNatPrerouting, nftables.ChainTypeNAT, nftables.ChainHookPrerouting, -100},
	{chainNatOutput, nftables.ChainTypeNAT, nftables.ChainHookOutput, -100},
	{chainNatPostrouting, nftables.ChainTypeNAT, nftables.ChainHookPostrouting, 100},
}

var fixedChains = []string{
	chainServices, chainMasquerading, chainMarkForMasquerade, chainEndpointsCheck,
	chainNodePortsCheck, chainClusterIPsCheck, chainReject,
}

// fixedSets are our maps and sets, with their key types.
func fixedSets(t *nftables.Table, nodePortIPs bool) []*nftables.Set {
	vm := func(name string, key nftables.SetDatatype) *nftables.Set {
		return &nftables.Set{Table: t, Name: name, IsMap: true, KeyType: key, DataType: nftables.TypeVerdict, Concatenation: true}
	}
	out := []*nftables.Set{
		vm(mapServiceIPs, nft.KeyAddrProtoPort),
		vm(mapServiceNodePorts, keyProtoPort),
		vm(mapNoEndpointServices, nft.KeyAddrProtoPort),
		vm(mapNoEndpointNodePort, keyProtoPort),
		{Table: t, Name: setClusterIPs, KeyType: nftables.TypeIPAddr},
	}
	if nodePortIPs {
		out = append(out, &nftables.Set{Table: t, Name: setNodePortIPs, KeyType: nftables.TypeIPAddr})
	}
	return out
}

// fixedRules are the rules of the base and fixed chains.
func fixedRules(cfg *Config) map[string][]rule {
	jumpNew := func(to string) rule { return r(ctStateNew(), e(nft.Jump(to))) }
	// NodePorts are served on the configured node addresses, or on every
	// local address but loopback when none is configured.
	nodePortDest := r(fibLocal(true), notLoopbackDaddr()).exprs
	if len(cfg.NodeAddresses) > 0 {
		nodePortDest = e(nft.IPAddr(false, nft.Reg1), nft.InSet(setNodePortIPs))
	}
	clusterIPsCheck := []rule{r(e(nft.IPAddr(false, nft.Reg1), nft.InSet(setClusterIPs), nft.Goto(chainReject)))}
	if cfg.ServiceCIDR.IsValid() {
		clusterIPsCheck = append(clusterIPsCheck, r(nft.MatchPrefix(nft.IPAddr(false, nft.Reg1), cfg.ServiceCIDR, false), e(&expr.Verdict{Kind: expr.VerdictDrop})))
	}
	var masq, reject []rule
	for _, x := range masqueradeRules() {
		masq = append(masq, rule{exprs: x})
	}
	for _, x := range rejectRules() {
		reject = append(reject, rule{exprs: x})
	}
	return map[string][]rule{
		chainFilterInput:      {jumpNew(chainNodePortsCheck), jumpNew(chainEndpointsCheck)},
		chainFilterForward:    {jumpNew(chainEndpointsCheck), jumpNew(chainClusterIPsCheck)},
		chainFilterOutput:     {jumpNew(chainEndpointsCheck)},
		chainFilterOutputPost: {jumpNew(chainClusterIPsCheck)},
		chainNatPrerouting:    {r(e(nft.Jump(chainServices)))},
		chainNatOutput:        {r(e(nft.Jump(chainServices)))},
		chainNatPostrouting:   {r(e(nft.Jump(chainMasquerading)))},
		chainServices: {
			r(addrProtoPortKey(), e(nft.VMap(mapServiceIPs))),
			r(nodePortDest, protoPortKey(), e(nft.VMap(mapServiceNodePorts))),
		},
		chainMasquerading:      masq,
		chainMarkForMasquerade: {r(markForMasquerade())},
		chainEndpointsCheck:    {r(addrProtoPortKey(), e(nft.VMap(mapNoEndpointServices)))},
		chainNodePortsCheck:    {r(nodePortDest, protoPortKey(), e(nft.VMap(mapNoEndpointNodePort)))},
		chainClusterIPsCheck:   clusterIPsCheck,
		chainReject:            reject,
	}
}

// nodePortElems are the members of @nodeport-ips.
func nodePortElems(addrs []netip.Addr) []nftables.SetElement {
	var out []nftables.SetElement
	for _, a := range addrs {
		if a.Is4() && !a.IsLoopback() {
			out = append(out, nftables.SetElement{Key: nft.AddrKey(a)})
		}
	}
	return out
}
