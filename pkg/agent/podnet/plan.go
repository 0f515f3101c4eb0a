package podnet

import (
	"fmt"
	"net"
	"net/netip"
	"sort"

	corev1 "k8s.io/api/core/v1"
)

// reach is where a peer's node address is, seen from this host.
type reach int

const (
	reachRouted    reach = iota // behind a router: only the overlay gets there
	reachConnected              // on a subnet this host is directly connected to
	reachLocal                  // an address of this host: the peer shares its network
)

// hostView answers the kernel questions a plan needs.
type hostView interface {
	reach(addr netip.Addr) (reach, error)
}

// route is how one peer's pod range is reached: via its node address
// (direct), or via the overlay next hop standing for the peer's VTEP.
type route struct {
	gw      netip.Addr
	overlay bool
}

// plan is the whole state this node wants in the kernel for its peers.
type plan struct {
	routes map[netip.Prefix]route
	// neigh maps an overlay next hop to the peer's VTEP MAC (ARP is never
	// asked on the VXLAN device), fdb a VTEP MAC to the node address the
	// encapsulated frames are sent to.
	neigh map[netip.Addr]string
	fdb   map[string]netip.Addr
	// skipped names the peers that get no route, with the reason.
	skipped map[string]string
}

// peer is what a Node object tells of another node.
type peer struct {
	name    string
	podCIDR netip.Prefix
	nodeIP  netip.Addr
	mac     net.HardwareAddr // nil: no VXLAN device announced
}

// peerOf reads a Node; the reason is set when the node cannot be routed
// to (yet): no pod range, no internal address.
func peerOf(n *corev1.Node) (p peer, reason string) {
	p.name = n.Name
	cidr, err := netip.ParsePrefix(n.Spec.PodCIDR)
	if err != nil || !cidr.Addr().Is4() {
		return p, "no IPv4 pod range (spec.podCIDR) yet"
	}
	p.podCIDR = cidr.Masked()
	for _, a := range n.Status.Addresses {
		if a.Type != corev1.NodeInternalIP {
			continue
		}
		if ip, err := netip.ParseAddr(a.Address); err == nil && ip.Is4() {
			p.nodeIP = ip
			break
		}
	}
	if !p.nodeIP.IsValid() {
		return p, "no IPv4 InternalIP address in its status"
	}
	if s := n.Annotations[AnnotationVTEPMAC]; s != "" {
		if mac, err := net.ParseMAC(s); err == nil && len(mac) == 6 {
			p.mac = mac
		}
	}
	return p, ""
}

// makePlan decides, for every other node, how its pods are reached.
// Nodes are taken in name order, so that of two claiming the same pod
// range (a misallocation) the same one wins on every node.
func makePlan(cfg *Config, nodes []*corev1.Node, h hostView) (plan, error) {
	p := plan{routes: map[netip.Prefix]route{}, neigh: map[netip.Addr]string{}, fdb: map[string]netip.Addr{}, skipped: map[string]string{}}
	if cfg.Backend == BackendNone {
		return p, nil
	}
	sorted := append([]*corev1.Node(nil), nodes...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	for _, n := range sorted {
		if n.Name == cfg.NodeName {
			continue
		}
		peer, reason := peerOf(n)
		if reason != "" {
			p.skipped[n.Name] = reason
			continue
		}
		switch {
		case peer.podCIDR.Overlaps(cfg.PodCIDR):
			p.skipped[n.Name] = fmt.Sprintf("its pod range %s overlaps this node's %s", peer.podCIDR, cfg.PodCIDR)
			continue
		case !cfg.ClusterCIDR.Contains(peer.podCIDR.Addr()):
			p.skipped[n.Name] = fmt.Sprintf("its pod range %s is outside the cluster range %s", peer.podCIDR, cfg.ClusterCIDR)
			continue
		case peer.nodeIP.IsLoopback():
			p.skipped[n.Name] = fmt.Sprintf("its address %s is a loopback address", peer.nodeIP)
			continue
		}
		if _, taken := p.routes[peer.podCIDR]; taken {
			p.skipped[n.Name] = fmt.Sprintf("another node already claims its pod range %s", peer.podCIDR)
			continue
		}
		r, err := h.reach(peer.nodeIP)
		if err != nil {
			return plan{}, fmt.Errorf("node %s at %s: %w", n.Name, peer.nodeIP, err)
		}
		switch {
		case r == reachLocal:
			// Another agent in this network namespace (test set-ups):
			// its pods are on this host's bridge already.
			p.skipped[n.Name] = fmt.Sprintf("its address %s is this host's", peer.nodeIP)
		case cfg.Backend == BackendHostGW && r == reachConnected,
			cfg.Backend == BackendVXLAN && cfg.DirectRouting && r == reachConnected:
			p.routes[peer.podCIDR] = route{gw: peer.nodeIP}
		case cfg.Backend == BackendHostGW:
			p.skipped[n.Name] = fmt.Sprintf("its address %s is not on a subnet this host is directly connected to, which host-gw needs", peer.nodeIP)
		case cfg.overlay() && peer.mac != nil:
			gw := peer.podCIDR.Addr() // flannel's next hop: the peer's range's network address
			p.routes[peer.podCIDR] = route{gw: gw, overlay: true}
			p.neigh[gw] = peer.mac.String()
			p.fdb[peer.mac.String()] = peer.nodeIP
		case r == reachConnected:
			// A peer without a VXLAN device (host-gw) is still reachable
			// on a shared subnet.
			p.routes[peer.podCIDR] = route{gw: peer.nodeIP}
		default:
			p.skipped[n.Name] = fmt.Sprintf("it announces no VXLAN device (annotation %s) and its address %s is not on a directly connected subnet", AnnotationVTEPMAC, peer.nodeIP)
		}
	}
	return p, nil
}
