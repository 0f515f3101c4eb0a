package nftutil

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
// Addresses are IPv4: both tables match IPv4 packets only.

const (
	Reg1   = unix.NFT_REG_1    // 16-byte register 1 (= 32-bit registers 8..11)
	Reg32a = unix.NFT_REG32_01 // second 32-bit word of register 1
	Reg32b = unix.NFT_REG32_02 // third
)

// KeyAddrProtoPort is the key type `ipv4_addr . inet_proto .
// inet_service`, so that `nft list` prints such sets readably.
var KeyAddrProtoPort = nftables.MustConcatSetType(nftables.TypeIPAddr, nftables.TypeInetProto, nftables.TypeInetService)

// Cmp compares register 1 with data.
func Cmp(op expr.CmpOp, data []byte) expr.Any { return &expr.Cmp{Op: op, Register: Reg1, Data: data} }

// IPAddr loads `ip saddr` (src) or `ip daddr` into reg.
func IPAddr(src bool, reg uint32) expr.Any {
	off := uint32(16)
	if src {
		off = 12
	}
	return &expr.Payload{DestRegister: reg, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: 4}
}

// L4Proto loads `meta l4proto` into reg.
func L4Proto(reg uint32) expr.Any { return &expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg} }

// THDport loads `th dport` (any transport header's destination port;
// TCP, UDP and SCTP all keep it at offset 2) into reg.
func THDport(reg uint32) expr.Any {
	return &expr.Payload{DestRegister: reg, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2}
}

// MatchAddr: `ip saddr|daddr A`.
func MatchAddr(src bool, a netip.Addr) []expr.Any {
	return []expr.Any{IPAddr(src, Reg1), Cmp(expr.CmpOpEq, AddrKey(a))}
}

// MatchPrefix: `ip saddr|daddr [!=] P`, load being the address's load
// into register 1.
func MatchPrefix(load expr.Any, p netip.Prefix, negate bool) []expr.Any {
	mask := make([]byte, 4)
	if p.Bits() > 0 {
		binary.BigEndian.PutUint32(mask, ^uint32(0)<<(32-p.Bits()))
	}
	op := expr.CmpOpEq
	if negate {
		op = expr.CmpOpNeq
	}
	return []expr.Any{
		load,
		&expr.Bitwise{SourceRegister: Reg1, DestRegister: Reg1, Len: 4, Mask: mask, Xor: make([]byte, 4)},
		Cmp(op, AddrKey(p.Masked().Addr())),
	}
}

// MatchProto: `meta l4proto P`.
func MatchProto(proto uint8) []expr.Any {
	return []expr.Any{L4Proto(Reg1), Cmp(expr.CmpOpEq, []byte{proto})}
}

// MatchPorts: `meta l4proto P th dport N` (from == to) or `... th dport
// N-M`.
func MatchPorts(proto uint8, from, to uint16) []expr.Any {
	out := append(MatchProto(proto), THDport(Reg1))
	if from == to {
		return append(out, Cmp(expr.CmpOpEq, binaryutil.BigEndian.PutUint16(from)))
	}
	return append(out, &expr.Range{Op: expr.CmpOpEq, Register: Reg1,
		FromData: binaryutil.BigEndian.PutUint16(from), ToData: binaryutil.BigEndian.PutUint16(to)})
}

// CtBits: `ct state|status B` (key CtKeySTATE or CtKeySTATUS): any of the
// bits set.
func CtBits(key expr.CtKey, bits uint32) []expr.Any {
	return []expr.Any{
		&expr.Ct{Register: Reg1, Key: key},
		&expr.Bitwise{SourceRegister: Reg1, DestRegister: Reg1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(bits), Xor: make([]byte, 4)},
		Cmp(expr.CmpOpNeq, make([]byte, 4)),
	}
}

// InSet: `... @name` (register 1 is a member).
func InSet(name string) expr.Any { return &expr.Lookup{SourceRegister: Reg1, SetName: name} }

// VMap: `... vmap @name`: the verdict is the map's value for register 1.
func VMap(name string) expr.Any {
	return &expr.Lookup{SourceRegister: Reg1, DestRegister: 0, IsDestRegSet: true, SetName: name}
}

func Jump(chain string) expr.Any { return &expr.Verdict{Kind: expr.VerdictJump, Chain: chain} }
func Goto(chain string) expr.Any { return &expr.Verdict{Kind: expr.VerdictGoto, Chain: chain} }

// AddrKey is an address as set elements store it.
func AddrKey(a netip.Addr) []byte {
	b := a.As4()
	return b[:]
}

// AddrProtoPortKey is an element key of KeyAddrProtoPort: the
// concatenation pads each field to 4 bytes.
func AddrProtoPortKey(a netip.Addr, proto uint8, port uint16) []byte {
	b := a.As4()
	k := make([]byte, 12)
	copy(k, b[:])
	k[4] = proto
	binary.BigEndian.PutUint16(k[8:], port)
	return k
}
