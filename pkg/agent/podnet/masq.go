package podnet

import (
	"fmt"
	"net/netip"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
)

// MasqTable is the nftables table (family ip) of the pods' masquerading.
const MasqTable = "flotilla-podnet"

// multicast is never masqueraded (flannel's exception).
var multicast = netip.MustParsePrefix("224.0.0.0/4")

// ensureMasquerade replaces the table, in one transaction, with
//
//	table ip flotilla-podnet {
//	  chain postrouting {
//	    type nat hook postrouting priority srcnat; policy accept;
//	    ip saddr CLUSTER ip daddr CLUSTER counter return
//	    ip saddr CLUSTER ip daddr SERVICES counter return
//	    ip saddr CLUSTER ip daddr 224.0.0.0/4 counter return
//	    ip saddr CLUSTER counter masquerade fully-random
//	  }
//	}
//
// Pods talking to pods keep their addresses, whichever node they are on;
// what leaves the pod network for anything else takes the address of
// the interface it leaves by, so the outside world answers the node
// (flannel's and k3s's ipMasq). The source is matched against the whole
// cluster range, as flannel does, rather than this node's range: only
// this node's pods leave through it, and the table is then the same on
// every node, whichever agent of a shared namespace writes it. Service
// addresses are the proxy's: by postrouting they are rewritten to an
// endpoint's, and the proxy masquerades what it must itself.
func (k *kernel) ensureMasquerade(cluster, services netip.Prefix) error {
	opts := []nftables.ConnOption{}
	if k.nsFile != nil {
		opts = append(opts, nftables.WithNetNSFd(int(k.nsFile.Fd())))
	}
	c, err := nftables.New(opts...)
	if err != nil {
		return fmt.Errorf("nftables netlink socket: %w", err)
	}
	t := &nftables.Table{Name: MasqTable, Family: nftables.TableFamilyIPv4}
	// Add, delete and add again: the table's old content goes whatever it
	// was, and the transaction also works when there was none.
	c.AddTable(t)
	c.DelTable(t)
	c.AddTable(t)
	accept := nftables.ChainPolicyAccept
	ch := c.AddChain(&nftables.Chain{Name: "postrouting", Table: t, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookPostrouting, Priority: nftables.ChainPriorityNATSource, Policy: &accept})
	fromPods := matchPrefix(12, cluster)
	ret := &expr.Verdict{Kind: expr.VerdictReturn}
	for _, dst := range []netip.Prefix{cluster, services, multicast} {
		c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: concat(fromPods, matchPrefix(16, dst), []expr.Any{&expr.Counter{}, ret})})
	}
	c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: concat(fromPods, []expr.Any{&expr.Counter{}, &expr.Masq{FullyRandom: true}})})
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables table ip %s: %w", MasqTable, err)
	}
	return nil
}

// matchPrefix: the IPv4 address at offset (12 source, 16 destination)
// of the network header lies in p.
func matchPrefix(offset uint32, p netip.Prefix) []expr.Any {
	p = p.Masked()
	mask := make([]byte, 4)
	for i := 0; i < p.Bits(); i++ {
		mask[i/8] |= 0x80 >> (i % 8)
	}
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: 4},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: mask, Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: p.Addr().AsSlice()},
	}
}

func concat(parts ...[]expr.Any) []expr.Any {
	var out []expr.Any
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}
