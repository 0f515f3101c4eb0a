package sim

import (
	"context"
	"fmt"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// planAddresses gives every node a pod CIDR and an InternalIP: a node that
// exists already keeps its CIDR, the others take free blocks of podRange.
// Sims that start at the same moment may pick the same blocks; addresses
// are never contacted, so that only makes pod IPs ambiguous.
func (s *Sim) planAddresses(ctx context.Context) error {
	list, err := s.cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{ResourceVersion: "0"})
	if err != nil {
		return fmt.Errorf("list nodes: %w", err)
	}
	var blocks blockMap
	for _, node := range list.Items {
		cidrs := append([]string{node.Spec.PodCIDR}, node.Spec.PodCIDRs...)
		for _, c := range cidrs {
			p, err := netip.ParsePrefix(c)
			if err != nil || !p.Addr().Is4() {
				continue
			}
			blocks.mark(p)
			if n := s.byName[node.Name]; n != nil && !n.cidr.IsValid() {
				n.cidr = p.Masked()
				n.ip = existingIP(&node, p)
			}
		}
	}
	need := blocksFor(s.cfg.Pods)
	for _, n := range s.nodes {
		if !n.cidr.IsValid() {
			p, ok := blocks.take(need)
			if !ok {
				return fmt.Errorf("no free pod CIDR left in %s for node %s", podRange, n.name)
			}
			n.cidr, n.ip = p, nodeIP(p)
		}
		n.pods = newIPPool(n.cidr)
	}
	return nil
}

// existingIP is the InternalIP of a node that already has pod CIDR p.
func existingIP(node *corev1.Node, p netip.Prefix) netip.Addr {
	if podRange.Contains(p.Addr()) {
		return nodeIP(p)
	}
	for _, a := range node.Status.Addresses {
		if ip, err := netip.ParseAddr(a.Address); a.Type == corev1.NodeInternalIP && err == nil {
			return ip
		}
	}
	return nodeIPBase
}
