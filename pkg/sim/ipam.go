package sim

import (
	"fmt"
	"net/netip"
	"sync"

	"k8s.io/apimachinery/pkg/types"
)

// ipPool hands out the pod addresses of one node's CIDR, round robin so
// a freed address is not reused at once. The network address, the first
// host (a bridge's gateway) and the broadcast address are never given out.
type ipPool struct {
	mu    sync.Mutex
	cidr  netip.Prefix
	size  uint32
	used  map[uint32]types.UID
	byUID map[types.UID]uint32
	next  uint32 // offset to try first
}

func newIPPool(cidr netip.Prefix) *ipPool {
	cidr = cidr.Masked()
	return &ipPool{cidr: cidr, size: 1 << (32 - cidr.Bits()), used: map[uint32]types.UID{}, byUID: map[types.UID]uint32{}, next: 2}
}

// allocate returns uid's address, giving it one if it has none.
func (p *ipPool) allocate(uid types.UID) (netip.Addr, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if off, ok := p.byUID[uid]; ok {
		return p.at(off), nil
	}
	if p.size < 4 {
		return netip.Addr{}, fmt.Errorf("pod CIDR %s is too small", p.cidr)
	}
	usable := p.size - 3
	for i := uint32(0); i < usable; i++ {
		off := 2 + (p.next-2+i)%usable
		if _, taken := p.used[off]; taken {
			continue
		}
		p.used[off], p.byUID[uid] = uid, off
		p.next = off + 1
		return p.at(off), nil
	}
	return netip.Addr{}, fmt.Errorf("pod CIDR %s is exhausted", p.cidr)
}

// reserve records that uid already holds ip (a pod found running).
// It reports false when ip is outside the pool or held by another pod.
func (p *ipPool) reserve(uid types.UID, ip netip.Addr) bool {
	if !ip.Is4() || !p.cidr.Contains(ip) {
		return false
	}
	off := u32(ip) - u32(p.cidr.Addr())
	if off < 2 || off >= p.size-1 {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if holder, taken := p.used[off]; taken {
		return holder == uid
	}
	if old, ok := p.byUID[uid]; ok {
		delete(p.used, old)
	}
	p.used[off], p.byUID[uid] = uid, off
	return true
}

// release frees uid's address, if any.
func (p *ipPool) release(uid types.UID) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if off, ok := p.byUID[uid]; ok {
		delete(p.used, off)
		delete(p.byUID, uid)
	}
}

func (p *ipPool) at(off uint32) netip.Addr { return addr(u32(p.cidr.Addr()) + off) }
