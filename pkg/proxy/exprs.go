package proxy

import (
	"encoding/binary"
	"net/netip"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	nft "github.com/flotilla-io/flotilla/pkg/nftutil"
)

// Expression building blocks of our own, on top of the shared ones in
// nftutil, each the same bytecode `nft` generates for the rule text in
// its comment (checked with `nft --debug=netlink`).

const (
	regNAT = unix.NFT_REG_2 // port for DNAT

	// masqueradeMark is the packet mark bit that asks for masquerading in
	// postrouting, upstream kube-proxy's default.
	masqueradeMark = 0x4000
)

// keyProtoPort is the key type of the NodePort maps (next to
// nft.KeyAddrProtoPort of the ClusterIP ones), so `nft list` prints them
// readably.
var keyProtoPort = nftables.MustConcatSetType(nftables.TypeInetProto, nftables.TypeInetService)

// notLoopbackDaddr: `ip daddr != 127.0.0.0/8` (NodePorts are not served on
// localhost, as upstream's nftables mode).
func notLoopbackDaddr() []expr.Any {
	return nft.MatchPrefix(nft.IPAddr(false, nft.Reg1), netip.MustParsePrefix("127.0.0.0/8"), true)
}

// fibLocal: `fib daddr|saddr type local`.
func fibLocal(daddr bool) []expr.Any {
	return []expr.Any{
		&expr.Fib{Register: nft.Reg1, FlagDADDR: daddr, FlagSADDR: !daddr, ResultADDRTYPE: true},
		nft.Cmp(expr.CmpOpEq, binaryutil.NativeEndian.PutUint32(unix.RTN_LOCAL)),
	}
}

// ctStateNew: `ct state new`.
func ctStateNew() []expr.Any { return nft.CtBits(expr.CtKeySTATE, expr.CtStateBitNEW) }

// addrProtoPortKey loads `ip daddr . meta l4proto . th dport` for a lookup
// in a map of nft.KeyAddrProtoPort.
func addrProtoPortKey() []expr.Any {
	return []expr.Any{nft.IPAddr(false, nft.Reg1), nft.L4Proto(nft.Reg32a), nft.THDport(nft.Reg32b)}
}

// protoPortKey loads `meta l4proto . th dport`.
func protoPortKey() []expr.Any {
	return []expr.Any{nft.L4Proto(nft.Reg1), nft.THDport(nft.Reg32a)}
}

// markForMasquerade: `meta mark set mark or 0x4000`.
func markForMasquerade() []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyMARK, Register: nft.Reg1},
		&expr.Bitwise{SourceRegister: nft.Reg1, DestRegister: nft.Reg1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(^uint32(masqueradeMark)), Xor: binaryutil.NativeEndian.PutUint32(masqueradeMark)},
		&expr.Meta{Key: expr.MetaKeyMARK, SourceRegister: true, Register: nft.Reg1},
	}
}

// masqueradeRules: `meta mark & 0x4000 == 0 return`, `meta mark set mark
// xor 0x4000` (so the mark does not leak to later hooks or nodes),
// `masquerade fully-random`.
func masqueradeRules() [][]expr.Any {
	return [][]expr.Any{
		{
			&expr.Meta{Key: expr.MetaKeyMARK, Register: nft.Reg1},
			&expr.Bitwise{SourceRegister: nft.Reg1, DestRegister: nft.Reg1, Len: 4,
				Mask: binaryutil.NativeEndian.PutUint32(masqueradeMark), Xor: make([]byte, 4)},
			nft.Cmp(expr.CmpOpEq, make([]byte, 4)),
			&expr.Verdict{Kind: expr.VerdictReturn},
		},
		{
			&expr.Meta{Key: expr.MetaKeyMARK, Register: nft.Reg1},
			&expr.Bitwise{SourceRegister: nft.Reg1, DestRegister: nft.Reg1, Len: 4,
				Mask: binaryutil.NativeEndian.PutUint32(^uint32(0)), Xor: binaryutil.NativeEndian.PutUint32(masqueradeMark)},
			&expr.Meta{Key: expr.MetaKeyMARK, SourceRegister: true, Register: nft.Reg1},
		},
		{&expr.Masq{FullyRandom: true}},
	}
}

// rejectRules: `meta l4proto tcp reject with tcp reset`, then `reject`
// (ICMP port unreachable): either way the client's connect fails at once
// with ECONNREFUSED instead of timing out.
func rejectRules() [][]expr.Any {
	return [][]expr.Any{
		append(nft.MatchProto(unix.IPPROTO_TCP), &expr.Reject{Type: unix.NFT_REJECT_TCP_RST}),
		{&expr.Reject{Type: unix.NFT_REJECT_ICMP_UNREACH, Code: 3 /* port unreachable */}},
	}
}

// dnat: `meta l4proto P dnat to A:N`.
func dnat(proto uint8, to netip.AddrPort) []expr.Any {
	return append(nft.MatchProto(proto),
		&expr.Immediate{Register: nft.Reg1, Data: nft.AddrKey(to.Addr())},
		&expr.Immediate{Register: regNAT, Data: binaryutil.BigEndian.PutUint16(to.Port())},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: nft.Reg1, RegProtoMin: regNAT, Specified: true},
	)
}

// updateAffinity: `update @set { ip saddr }`: remember (or refresh) this
// client for the set's timeout.
func updateAffinity(set string) []expr.Any {
	return []expr.Any{nft.IPAddr(true, nft.Reg1), &expr.Dynset{SrcRegKey: nft.Reg1, SetName: set, Operation: unix.NFT_DYNSET_OP_UPDATE}}
}

// protoPort is an element key of keyProtoPort.
func protoPort(proto uint8, port uint16) []byte {
	k := make([]byte, 8)
	k[0] = proto
	binary.BigEndian.PutUint16(k[4:], port)
	return k
}
