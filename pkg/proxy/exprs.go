package proxy

import (
	"encoding/binary"
	"net/netip"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// Expression building blocks, each the same bytecode `nft` generates for
// the rule text in its comment (checked with `nft --debug=netlink`).

const (
	reg1   = unix.NFT_REG_1    // 16-byte register 1 (= 32-bit registers 8..11)
	reg32a = unix.NFT_REG32_01 // second 32-bit word of register 1
	reg32b = unix.NFT_REG32_02 // third
	regNAT = unix.NFT_REG_2    // port for DNAT

	// masqueradeMark is the packet mark bit that asks for masquerading in
	// postrouting, upstream kube-proxy's default.
	masqueradeMark = 0x4000
)

// Key types of our maps, so `nft list` prints them readably.
var (
	keyAddrProtoPort = nftables.MustConcatSetType(nftables.TypeIPAddr, nftables.TypeInetProto, nftables.TypeInetService)
	keyProtoPort     = nftables.MustConcatSetType(nftables.TypeInetProto, nftables.TypeInetService)
)

// ipDaddr: `ip daddr` into reg.
func ipDaddr(reg uint32) expr.Any {
	return &expr.Payload{DestRegister: reg, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4}
}

// ipSaddr: `ip saddr` into reg.
func ipSaddr(reg uint32) expr.Any {
	return &expr.Payload{DestRegister: reg, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4}
}

// l4proto: `meta l4proto` into reg.
func l4proto(reg uint32) expr.Any { return &expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg} }

// thDport: `th dport` (any transport header's destination port) into reg.
func thDport(reg uint32) expr.Any {
	return &expr.Payload{DestRegister: reg, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2}
}

func cmp(op expr.CmpOp, data []byte) expr.Any { return &expr.Cmp{Op: op, Register: reg1, Data: data} }

// matchDaddr: `ip daddr A`.
func matchDaddr(a netip.Addr) []expr.Any {
	b := a.As4()
	return []expr.Any{ipDaddr(reg1), cmp(expr.CmpOpEq, b[:])}
}

// matchSaddr: `ip saddr A`.
func matchSaddr(a netip.Addr) []expr.Any {
	b := a.As4()
	return []expr.Any{ipSaddr(reg1), cmp(expr.CmpOpEq, b[:])}
}

// matchProtoPort: `meta l4proto P th dport N`.
func matchProtoPort(proto uint8, port uint16) []expr.Any {
	return []expr.Any{
		l4proto(reg1), cmp(expr.CmpOpEq, []byte{proto}),
		thDport(reg1), cmp(expr.CmpOpEq, binaryutil.BigEndian.PutUint16(port)),
	}
}

// matchPrefix: `ip saddr|daddr [!=] P`.
func matchPrefix(load expr.Any, p netip.Prefix, negate bool) []expr.Any {
	mask := make([]byte, 4)
	binary.BigEndian.PutUint32(mask, ^uint32(0)<<(32-p.Bits()))
	if p.Bits() == 0 {
		clear(mask)
	}
	net := p.Masked().Addr().As4()
	op := expr.CmpOpEq
	if negate {
		op = expr.CmpOpNeq
	}
	return []expr.Any{
		load,
		&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4, Mask: mask, Xor: make([]byte, 4)},
		cmp(op, net[:]),
	}
}

// notLoopbackDaddr: `ip daddr != 127.0.0.0/8` (NodePorts are not served on
// localhost, as upstream's nftables mode).
func notLoopbackDaddr() []expr.Any {
	return matchPrefix(ipDaddr(reg1), netip.MustParsePrefix("127.0.0.0/8"), true)
}

// fibLocal: `fib daddr|saddr type local`.
func fibLocal(daddr bool) []expr.Any {
	return []expr.Any{
		&expr.Fib{Register: reg1, FlagDADDR: daddr, FlagSADDR: !daddr, ResultADDRTYPE: true},
		cmp(expr.CmpOpEq, binaryutil.NativeEndian.PutUint32(unix.RTN_LOCAL)),
	}
}

// ctStateNew: `ct state new`.
func ctStateNew() []expr.Any {
	return []expr.Any{
		&expr.Ct{Register: reg1, Key: expr.CtKeySTATE},
		&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(expr.CtStateBitNEW), Xor: make([]byte, 4)},
		cmp(expr.CmpOpNeq, make([]byte, 4)),
	}
}

// addrProtoPortKey loads `ip daddr . meta l4proto . th dport` for a lookup
// in a map of keyAddrProtoPort.
func addrProtoPortKey() []expr.Any {
	return []expr.Any{ipDaddr(reg1), l4proto(reg32a), thDport(reg32b)}
}

// protoPortKey loads `meta l4proto . th dport`.
func protoPortKey() []expr.Any {
	return []expr.Any{l4proto(reg1), thDport(reg32a)}
}

// vmap: `... vmap @name`: the verdict is the map's value.
func vmap(name string) expr.Any {
	return &expr.Lookup{SourceRegister: reg1, DestRegister: 0, IsDestRegSet: true, SetName: name}
}

// inSet: `... @name` (register 1 is a member).
func inSet(name string) expr.Any { return &expr.Lookup{SourceRegister: reg1, SetName: name} }

func jump(chain string) expr.Any { return &expr.Verdict{Kind: expr.VerdictJump, Chain: chain} }
func goTo(chain string) expr.Any { return &expr.Verdict{Kind: expr.VerdictGoto, Chain: chain} }

// markForMasquerade: `meta mark set mark or 0x4000`.
func markForMasquerade() []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyMARK, Register: reg1},
		&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(^uint32(masqueradeMark)), Xor: binaryutil.NativeEndian.PutUint32(masqueradeMark)},
		&expr.Meta{Key: expr.MetaKeyMARK, SourceRegister: true, Register: reg1},
	}
}

// masqueradeRules: `meta mark & 0x4000 == 0 return`, `meta mark set mark
// xor 0x4000` (so the mark does not leak to later hooks or nodes),
// `masquerade fully-random`.
func masqueradeRules() [][]expr.Any {
	return [][]expr.Any{
		{
			&expr.Meta{Key: expr.MetaKeyMARK, Register: reg1},
			&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4,
				Mask: binaryutil.NativeEndian.PutUint32(masqueradeMark), Xor: make([]byte, 4)},
			cmp(expr.CmpOpEq, make([]byte, 4)),
			&expr.Verdict{Kind: expr.VerdictReturn},
		},
		{
			&expr.Meta{Key: expr.MetaKeyMARK, Register: reg1},
			&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4,
				Mask: binaryutil.NativeEndian.PutUint32(^uint32(0)), Xor: binaryutil.NativeEndian.PutUint32(masqueradeMark)},
			&expr.Meta{Key: expr.MetaKeyMARK, SourceRegister: true, Register: reg1},
		},
		{&expr.Masq{FullyRandom: true}},
	}
}

// rejectRules: `meta l4proto tcp reject with tcp reset`, then `reject`
// (ICMP port unreachable): either way the client's connect fails at once
// with ECONNREFUSED instead of timing out.
func rejectRules() [][]expr.Any {
	return [][]expr.Any{
		{l4proto(reg1), cmp(expr.CmpOpEq, []byte{unix.IPPROTO_TCP}), &expr.Reject{Type: unix.NFT_REJECT_TCP_RST}},
		{&expr.Reject{Type: unix.NFT_REJECT_ICMP_UNREACH, Code: 3 /* port unreachable */}},
	}
}

// dnat: `meta l4proto P dnat to A:N`.
func dnat(proto uint8, to netip.AddrPort) []expr.Any {
	a := to.Addr().As4()
	return []expr.Any{
		l4proto(reg1), cmp(expr.CmpOpEq, []byte{proto}),
		&expr.Immediate{Register: reg1, Data: a[:]},
		&expr.Immediate{Register: regNAT, Data: binaryutil.BigEndian.PutUint16(to.Port())},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: reg1, RegProtoMin: regNAT, Specified: true},
	}
}

// updateAffinity: `update @set { ip saddr }`: remember (or refresh) this
// client for the set's timeout.
func updateAffinity(set string) []expr.Any {
	return []expr.Any{ipSaddr(reg1), &expr.Dynset{SrcRegKey: reg1, SetName: set, Operation: unix.NFT_DYNSET_OP_UPDATE}}
}

// Element keys.
func addrProtoPort(a netip.Addr, proto uint8, port uint16) []byte {
	b := a.As4()
	k := make([]byte, 12)
	copy(k, b[:])
	k[4] = proto
	binary.BigEndian.PutUint16(k[8:], port)
	return k
}

func protoPort(proto uint8, port uint16) []byte {
	k := make([]byte, 8)
	k[0] = proto
	binary.BigEndian.PutUint16(k[4:], port)
	return k
}

func addrKey(a netip.Addr) []byte {
	b := a.As4()
	return b[:]
}
