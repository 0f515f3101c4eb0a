package netpol

import (
	"net/netip"

	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	nft "github.com/flotilla-io/flotilla/pkg/nftutil"
)

// Expression building blocks of our own, on top of the shared ones in
// nftutil, each the bytecode `nft` generates for the rule text in its
// comment (`nft --debug=netlink`). Everything past the base chains'
// `meta nfproto ipv4` sees IPv4 packets only, so the ip header loads
// need no guard of their own.

// isIPv4: `meta nfproto ipv4`.
func isIPv4() []expr.Any {
	return []expr.Any{&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: nft.Reg1}, nft.Cmp(expr.CmpOpEq, []byte{unix.NFPROTO_IPV4})}
}

// ctEstablished: `ct state established,related`.
func ctEstablished() []expr.Any {
	return nft.CtBits(expr.CtKeySTATE, expr.CtStateBitESTABLISHED|expr.CtStateBitRELATED)
}

// inAddrSet: `ip saddr|daddr @set`.
func inAddrSet(src bool, set string) []expr.Any {
	return []expr.Any{nft.IPAddr(src, nft.Reg1), nft.InSet(set)}
}

// matchPrefix: `ip saddr|daddr [!=] P`.
func matchPrefix(src bool, p netip.Prefix, negate bool) []expr.Any {
	return nft.MatchPrefix(nft.IPAddr(src, nft.Reg1), p, negate)
}

// inNamedPorts: `ip daddr . meta l4proto . th dport @set`.
func inNamedPorts(set string) []expr.Any {
	return []expr.Any{
		nft.IPAddr(false, nft.Reg1),
		nft.L4Proto(nft.Reg32a),
		nft.THDport(nft.Reg32b),
		nft.InSet(set),
	}
}

// vmapByAddr: `meta nfproto ipv4 ip saddr|daddr vmap @map`.
func vmapByAddr(src bool, m string) []expr.Any {
	return append(isIPv4(), nft.IPAddr(src, nft.Reg1), nft.VMap(m))
}

func accept() expr.Any               { return &expr.Verdict{Kind: expr.VerdictAccept} }
func counter() expr.Any              { return &expr.Counter{} }
func exprs(x ...expr.Any) []expr.Any { return x }

// ipsDstNAT is the conntrack status bit of a DNATed connection.
const ipsDstNAT = 1 << 5

// rejectRules: `ct status dnat reject with icmpx admin-prohibited`, `meta
// l4proto tcp reject with tcp reset`, `reject with icmpx
// admin-prohibited`: a TCP client's connect fails at once with
// ECONNREFUSED, others see EHOSTUNREACH. A connection to a Service was
// DNATed before the forward hook, and the kernel sends a reset for it
// with the pod's address, which the client ignores (it waits for the
// Service's); an ICMP error is translated back by conntrack, so the
// client of a Service learns at once too, as EHOSTUNREACH.
func rejectRules() [][]expr.Any {
	icmp := &expr.Reject{Type: unix.NFT_REJECT_ICMPX_UNREACH, Code: unix.NFT_REJECT_ICMPX_ADMIN_PROHIBITED}
	return [][]expr.Any{
		append(nft.CtBits(expr.CtKeySTATUS, ipsDstNAT), icmp),
		append(nft.MatchProto(protoTCP), &expr.Reject{Type: unix.NFT_REJECT_TCP_RST}),
		{icmp},
	}
}
