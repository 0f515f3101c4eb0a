package netpol

import (
	"encoding/binary"
	"net/netip"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// Expression building blocks, each the bytecode `nft` generates for the
// rule text in its comment (`nft --debug=netlink`). Everything past the
// base chains' `meta nfproto ipv4` sees IPv4 packets only, so the ip
// header loads need no guard of their own.

const (
	reg1   = unix.NFT_REG_1    // 16-byte register 1 (= 32-bit registers 8..11)
	reg32a = unix.NFT_REG32_01 // second 32-bit word of register 1
	reg32b = unix.NFT_REG32_02 // third
)

// keyAddrProtoPort is the key of the named-port sets, so `nft list`
// prints them readably: ipv4_addr . inet_proto . inet_service.
var keyAddrProtoPort = nftables.MustConcatSetType(nftables.TypeIPAddr, nftables.TypeInetProto, nftables.TypeInetService)

func cmp(op expr.CmpOp, data []byte) expr.Any { return &expr.Cmp{Op: op, Register: reg1, Data: data} }

// ipAddr loads `ip saddr` (src) or `ip daddr` into reg.
func ipAddr(src bool, reg uint32) expr.Any {
	off := uint32(16)
	if src {
		off = 12
	}
	return &expr.Payload{DestRegister: reg, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: 4}
}

// isIPv4: `meta nfproto ipv4`.
func isIPv4() []expr.Any {
	return []expr.Any{&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: reg1}, cmp(expr.CmpOpEq, []byte{unix.NFPROTO_IPV4})}
}

// ctEstablished: `ct state established,related`.
func ctEstablished() []expr.Any {
	return []expr.Any{
		&expr.Ct{Register: reg1, Key: expr.CtKeySTATE},
		&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(expr.CtStateBitESTABLISHED | expr.CtStateBitRELATED), Xor: make([]byte, 4)},
		cmp(expr.CmpOpNeq, make([]byte, 4)),
	}
}

// matchAddr: `ip saddr|daddr A`.
func matchAddr(src bool, a netip.Addr) []expr.Any {
	return []expr.Any{ipAddr(src, reg1), cmp(expr.CmpOpEq, addrKey(a))}
}

// matchPrefix: `ip saddr|daddr [!=] P`.
func matchPrefix(src bool, p netip.Prefix, negate bool) []expr.Any {
	mask := make([]byte, 4)
	if p.Bits() > 0 {
		binary.BigEndian.PutUint32(mask, ^uint32(0)<<(32-p.Bits()))
	}
	op := expr.CmpOpEq
	if negate {
		op = expr.CmpOpNeq
	}
	return []expr.Any{
		ipAddr(src, reg1),
		&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4, Mask: mask, Xor: make([]byte, 4)},
		cmp(op, addrKey(p.Masked().Addr())),
	}
}

// inAddrSet: `ip saddr|daddr @set`.
func inAddrSet(src bool, set string) []expr.Any {
	return []expr.Any{ipAddr(src, reg1), &expr.Lookup{SourceRegister: reg1, SetName: set}}
}

// matchProto: `meta l4proto P`.
func matchProto(proto uint8) []expr.Any {
	return []expr.Any{&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg1}, cmp(expr.CmpOpEq, []byte{proto})}
}

// thDport loads `th dport` (any transport header's destination port; TCP,
// UDP and SCTP all keep it at offset 2).
func thDport(reg uint32) expr.Any {
	return &expr.Payload{DestRegister: reg, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2}
}

// matchPorts: `meta l4proto P th dport N` or `... th dport N-M`.
func matchPorts(proto uint8, from, to uint16) []expr.Any {
	out := append(matchProto(proto), thDport(reg1))
	if from == to {
		return append(out, cmp(expr.CmpOpEq, binaryutil.BigEndian.PutUint16(from)))
	}
	return append(out, &expr.Range{Op: expr.CmpOpEq, Register: reg1,
		FromData: binaryutil.BigEndian.PutUint16(from), ToData: binaryutil.BigEndian.PutUint16(to)})
}

// inNamedPorts: `ip daddr . meta l4proto . th dport @set`.
func inNamedPorts(set string) []expr.Any {
	return []expr.Any{
		ipAddr(false, reg1),
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg32a},
		thDport(reg32b),
		&expr.Lookup{SourceRegister: reg1, SetName: set},
	}
}

// vmapByAddr: `meta nfproto ipv4 ip saddr|daddr vmap @map`.
func vmapByAddr(src bool, m string) []expr.Any {
	return append(isIPv4(), ipAddr(src, reg1), &expr.Lookup{SourceRegister: reg1, DestRegister: 0, IsDestRegSet: true, SetName: m})
}

func accept() expr.Any               { return &expr.Verdict{Kind: expr.VerdictAccept} }
func jump(chain string) expr.Any     { return &expr.Verdict{Kind: expr.VerdictJump, Chain: chain} }
func goTo(chain string) expr.Any     { return &expr.Verdict{Kind: expr.VerdictGoto, Chain: chain} }
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
		{
			&expr.Ct{Register: reg1, Key: expr.CtKeySTATUS},
			&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4,
				Mask: binaryutil.NativeEndian.PutUint32(ipsDstNAT), Xor: make([]byte, 4)},
			cmp(expr.CmpOpNeq, make([]byte, 4)),
			icmp,
		},
		append(matchProto(protoTCP), &expr.Reject{Type: unix.NFT_REJECT_TCP_RST}),
		{icmp},
	}
}

// Element keys, as the kernel stores them.
func addrKey(a netip.Addr) []byte {
	b := a.As4()
	return b[:]
}

// addrProtoPortKey: the concatenation pads each field to 4 bytes.
func addrProtoPortKey(a netip.Addr, proto uint8, port uint16) []byte {
	b := a.As4()
	k := make([]byte, 12)
	copy(k, b[:])
	k[4] = proto
	binary.BigEndian.PutUint16(k[8:], port)
	return k
}
