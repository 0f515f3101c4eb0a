package podnet

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/vishvananda/netlink"
	"k8s.io/client-go/kubernetes"
)

// Backend is how pod traffic reaches other nodes (k3s's --flannel-backend
// values).
type Backend string

const (
	// BackendVXLAN encapsulates pod traffic to other nodes in VXLAN (VNI
	// 1, UDP 8472), flannel's and k3s's default: it needs nothing of the
	// network between nodes but that UDP port, so it works where the
	// network drops packets whose addresses it did not hand out (cloud
	// networks with source/destination checks).
	BackendVXLAN Backend = "vxlan"
	// BackendHostGW routes a peer's pod range via the peer's node address:
	// no encapsulation, but every peer must be on a subnet this host is
	// directly connected to and the network must carry pod addresses.
	BackendHostGW Backend = "host-gw"
	// BackendNone leaves the pod network to the operator: no routes, no
	// VXLAN device, no masquerading.
	BackendNone Backend = "none"
)

// ParseBackend checks a --flannel-backend value.
func ParseBackend(s string) (Backend, error) {
	switch b := Backend(s); b {
	case BackendVXLAN, BackendHostGW, BackendNone:
		return b, nil
	}
	return "", fmt.Errorf("pod network backend %q: want vxlan, host-gw or none", s)
}

// Names shared with other nodes and with the kernel.
const (
	// AnnotationVTEPMAC on a Node is the MAC address of its VXLAN device;
	// peers need it for the neighbour and forwarding entries that send
	// pod traffic to that node (flannel keeps it in
	// flannel.alpha.coreos.com/backend-data).
	AnnotationVTEPMAC = "flotilla.io/vtep-mac"
	// VXLANDevice is the overlay device, flannel's name with our prefix.
	VXLANDevice = "flotilla.1"
	// VNI and VXLANPort are flannel's defaults (8472 is the Linux
	// kernel's historical VXLAN port, not IANA's 4789).
	VNI       = 1
	VXLANPort = 8472
	// RouteProtocol marks the routes this package installs (shown by
	// `ip route` as "proto 70"), so that a later run finds the stale ones.
	RouteProtocol netlink.RouteProtocol = 70
	// vxlanOverhead is what VXLAN adds to a packet over IPv4: outer IP
	// (20), UDP (8), VXLAN (8) and inner Ethernet (14) headers.
	vxlanOverhead = 50
)

// Config is what the pod network of one node needs.
type Config struct {
	NodeName string
	// NodeIP is this node's InternalIP: the VXLAN device's local address
	// and what peers route to. A loopback address means a node alone on
	// its machine (test set-ups, maybe sharing the namespace with other
	// agents): only the masquerading is set up; routes, entries and the
	// VXLAN device are left alone.
	NodeIP netip.Addr
	// PodCIDR is this node's pod range; its first address is the pod
	// bridge's gateway.
	PodCIDR netip.Prefix
	// ClusterCIDR holds every node's pod range; ServiceCIDR the
	// Services' addresses. Traffic from pods to anything outside both is
	// masqueraded to the node's address.
	ClusterCIDR netip.Prefix
	ServiceCIDR netip.Prefix
	Backend     Backend // "" = BackendVXLAN
	// DirectRouting, with BackendVXLAN, routes peers on a directly
	// connected subnet as host-gw does and encapsulates only traffic to
	// the others (flannel's DirectRouting option).
	DirectRouting bool
	// Client writes this node's VTEP MAC annotation.
	Client kubernetes.Interface
	// NetNSPath names the network namespace to program (a file such as
	// /run/netns/NAME); empty: the caller's.
	NetNSPath string
	// ResyncInterval is how often routes, entries and rules are checked
	// against the kernel even without a Node change, undoing what
	// someone else removed (default one minute).
	ResyncInterval time.Duration
	Log            *slog.Logger
}

func (c *Config) check() error {
	if c.Backend == "" {
		c.Backend = BackendVXLAN
	}
	if _, err := ParseBackend(string(c.Backend)); err != nil {
		return err
	}
	switch {
	case c.NodeName == "":
		return errors.New("podnet: the node name is required")
	case c.Client == nil:
		return errors.New("podnet: a client is required")
	case !c.NodeIP.Is4():
		return fmt.Errorf("podnet: node IP %v is not an IPv4 address", c.NodeIP)
	case !c.PodCIDR.IsValid() || !c.PodCIDR.Addr().Is4():
		return fmt.Errorf("podnet: pod range %v is not an IPv4 prefix", c.PodCIDR)
	case !c.ClusterCIDR.IsValid() || !c.ClusterCIDR.Addr().Is4():
		return fmt.Errorf("podnet: cluster range %v is not an IPv4 prefix", c.ClusterCIDR)
	case !c.ServiceCIDR.IsValid() || !c.ServiceCIDR.Addr().Is4():
		return fmt.Errorf("podnet: service range %v is not an IPv4 prefix", c.ServiceCIDR)
	case c.DirectRouting && c.Backend != BackendVXLAN:
		return fmt.Errorf("podnet: direct routing is an option of the vxlan backend, not of %s", c.Backend)
	}
	c.PodCIDR, c.ClusterCIDR, c.ServiceCIDR = c.PodCIDR.Masked(), c.ClusterCIDR.Masked(), c.ServiceCIDR.Masked()
	if !c.ClusterCIDR.Contains(c.PodCIDR.Addr()) || c.PodCIDR.Bits() < c.ClusterCIDR.Bits() {
		return fmt.Errorf("podnet: pod range %s is not inside the cluster range %s (give the agent the server's --cluster-cidr)", c.PodCIDR, c.ClusterCIDR)
	}
	if c.ResyncInterval <= 0 {
		c.ResyncInterval = time.Minute
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	return nil
}

// overlay tells whether this node runs the VXLAN device: the vxlan
// backend on a node others can reach.
func (c *Config) overlay() bool {
	return c.Backend == BackendVXLAN && !c.NodeIP.IsLoopback()
}
