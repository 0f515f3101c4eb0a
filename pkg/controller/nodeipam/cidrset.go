package nodeipam

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
)

// errFull says every block of the cluster range is taken.
var errFull = errors.New("no pod CIDR left in the cluster range")

// cidrSet tracks which equal-sized blocks of a cluster range are taken
// and by which Node. It is not safe for concurrent use.
type cidrSet struct {
	cluster netip.Prefix
	bits    int               // prefix length of each block
	owner   map[uint32]string // block index -> node name
	byNode  map[string]uint32 // node name -> block index
	next    uint32            // where the search for a free block starts
	size    uint32            // number of blocks
}

func newCIDRSet(cluster netip.Prefix, bits int) (*cidrSet, error) {
	cluster = cluster.Masked()
	if !cluster.Addr().Is4() {
		return nil, fmt.Errorf("cluster CIDR %s: only IPv4 is supported", cluster)
	}
	if bits < cluster.Bits() || bits > 30 {
		return nil, fmt.Errorf("node CIDR mask /%d does not fit in cluster CIDR %s (want /%d to /30)", bits, cluster, cluster.Bits())
	}
	if bits-cluster.Bits() > 24 {
		return nil, fmt.Errorf("cluster CIDR %s holds too many /%d blocks", cluster, bits)
	}
	return &cidrSet{cluster: cluster, bits: bits, owner: map[uint32]string{}, byNode: map[string]uint32{}, size: 1 << (bits - cluster.Bits())}, nil
}

func u32(a netip.Addr) uint32 { b := a.As4(); return binary.BigEndian.Uint32(b[:]) }

// index is the block p names; ok is false when p is not exactly one
// block of the cluster range.
func (s *cidrSet) index(p netip.Prefix) (uint32, bool) {
	if !p.Addr().Is4() || p.Bits() != s.bits || p.Masked() != p || !s.cluster.Contains(p.Addr()) {
		return 0, false
	}
	return (u32(p.Addr()) - u32(s.cluster.Addr())) >> (32 - s.bits), true
}

func (s *cidrSet) prefix(i uint32) netip.Prefix {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], u32(s.cluster.Addr())+i<<(32-s.bits))
	return netip.PrefixFrom(netip.AddrFrom4(b), s.bits)
}

// occupy records that node holds p. It returns the other node already
// holding p, if any; ranges that are not a block of ours are ignored.
func (s *cidrSet) occupy(p netip.Prefix, node string) (holder string) {
	i, ok := s.index(p)
	if !ok {
		return ""
	}
	if cur, taken := s.owner[i]; taken && cur != node {
		return cur
	}
	s.owner[i], s.byNode[node] = node, i
	return ""
}

// allocate hands the next free block to node. The search goes on from
// the last block handed out, so a block just released is not reused at
// once (its routes may still be draining on other nodes).
func (s *cidrSet) allocate(node string) (netip.Prefix, error) {
	for n := uint32(0); n < s.size; n++ {
		i := (s.next + n) % s.size
		if _, taken := s.owner[i]; !taken {
			s.owner[i], s.byNode[node] = node, i
			s.next = (i + 1) % s.size
			return s.prefix(i), nil
		}
	}
	return netip.Prefix{}, errFull
}

// release frees p if node holds it.
func (s *cidrSet) release(p netip.Prefix, node string) {
	if i, ok := s.index(p); ok && s.owner[i] == node {
		delete(s.owner, i)
		delete(s.byNode, node)
	}
}

// heldBy is the block node holds, if any.
func (s *cidrSet) heldBy(node string) (netip.Prefix, bool) {
	i, ok := s.byNode[node]
	if !ok {
		return netip.Prefix{}, false
	}
	return s.prefix(i), true
}
