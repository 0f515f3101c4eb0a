package sim

import (
	"encoding/binary"
	"net/netip"
)

// Simulated nodes take their pod CIDRs from podRange in aligned runs of
// /24 blocks, and each node's (never contacted) InternalIP is derived from
// its first block, so both are unique among the nodes of every Sim that
// planned against the same cluster.
var (
	podRange   = netip.MustParsePrefix("10.128.0.0/10")
	nodeIPBase = netip.MustParseAddr("10.200.0.0")
)

const (
	blockBits = 24
	numBlocks = 1 << (blockBits - 10) // /24 blocks in podRange
	// maxPodsPerNode is what a /20 holds besides its network, gateway
	// and broadcast addresses.
	maxPodsPerNode = 1<<12 - 3
)

func u32(a netip.Addr) uint32 { b := a.As4(); return binary.BigEndian.Uint32(b[:]) }

func addr(v uint32) netip.Addr {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], v)
	return netip.AddrFrom4(b)
}

// blocksFor is how many /24 blocks (a power of two) hold pods addresses.
func blocksFor(pods int) int {
	n := 1
	for n*256-3 < pods {
		n *= 2
	}
	return n
}

// blockMap records which /24 blocks of podRange are taken.
type blockMap struct{ used [numBlocks]bool }

// mark takes the blocks p overlaps; p outside podRange is ignored.
func (m *blockMap) mark(p netip.Prefix) {
	if !p.Addr().Is4() {
		return
	}
	p = p.Masked()
	lo, hi := u32(p.Addr()), u32(p.Addr())|(1<<(32-p.Bits())-1)
	rlo, rhi := u32(podRange.Addr()), u32(podRange.Addr())|(1<<(32-podRange.Bits())-1)
	lo, hi = max(lo, rlo), min(hi, rhi)
	if lo > hi {
		return
	}
	for b := (lo - rlo) >> 8; b <= (hi-rlo)>>8; b++ {
		m.used[b] = true
	}
}

// take finds the first free aligned run of n blocks and marks it.
func (m *blockMap) take(n int) (netip.Prefix, bool) {
next:
	for start := 0; start+n <= numBlocks; start += n {
		for b := start; b < start+n; b++ {
			if m.used[b] {
				continue next
			}
		}
		for b := start; b < start+n; b++ {
			m.used[b] = true
		}
		bits := blockBits
		for k := n; k > 1; k /= 2 {
			bits--
		}
		return netip.PrefixFrom(addr(u32(podRange.Addr())+uint32(start)<<8), bits), true
	}
	return netip.Prefix{}, false
}

// nodeIP is the InternalIP reported by the node owning cidr.
func nodeIP(cidr netip.Prefix) netip.Addr {
	block := (u32(cidr.Addr()) - u32(podRange.Addr())) >> 8
	return addr(u32(nodeIPBase) + block + 1)
}
