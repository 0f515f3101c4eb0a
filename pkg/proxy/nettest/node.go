package nettest

import (
	"errors"
	"fmt"
	"net/netip"
)

// Addresses of a Node.
const (
	ClusterCIDR = "10.244.0.0/16"
	Gateway     = "10.244.0.1"   // the node's bridge: its pods' default route
	NodeIP      = "192.168.77.1" // the node's address on the outside link
	ClientIP    = "192.168.77.2" // an outside client
	RemotePodIP = "10.244.1.2"   // a pod on "another node", routed via the node
	BridgeName  = "flp0"
)

// PodIP is the address of the node's i-th pod.
func PodIP(i int) string { return fmt.Sprintf("10.244.0.%d", 10+i) }

// Node is a node in a box: a namespace with a bridge of pods (each its own
// namespace), an outside client on a separate link, and optionally a
// "remote" pod standing for one on another node.
type Node struct {
	NS     *NS
	Client *NS
	Pods   []*NS
	Remote *NS
	all    []*NS
}

// NewNode builds the topology. The node forwards, and bridged IPv4 passes
// the netfilter hooks (bridge-nf-call-iptables, per namespace) so that a
// pod's reply to another pod on the bridge is un-DNATed; bridge ports
// have hairpin mode on, as the agent's CNI configuration does, so that a
// pod can reach itself through a Service.
func NewNode(pods int, remote bool) (_ *Node, err error) {
	n := &Node{}
	defer func() {
		if err != nil {
			_ = n.Delete()
		}
	}()
	mk := func(prefix string) (*NS, error) {
		ns, err := NewNS(prefix)
		if err == nil {
			n.all = append(n.all, ns)
		}
		return ns, err
	}
	if n.NS, err = mk("flp-node"); err != nil {
		return nil, err
	}
	if err := n.NS.Sysctl("net.ipv4.ip_forward", "1"); err != nil {
		return nil, err
	}
	if err := n.NS.IP("link", "add", BridgeName, "type", "bridge"); err != nil {
		return nil, err
	}
	if err := n.NS.IP("addr", "add", Gateway+"/24", "dev", BridgeName); err != nil {
		return nil, err
	}
	if err := n.NS.IP("link", "set", BridgeName, "up"); err != nil {
		return nil, err
	}
	if err := n.NS.Sysctl("net.bridge.bridge-nf-call-iptables", "1"); err != nil {
		return nil, fmt.Errorf("bridged traffic must pass the IPv4 netfilter hooks (br_netfilter): %w", err)
	}
	for i := range pods {
		pod, err := mk(fmt.Sprintf("flp-pod%d", i))
		if err != nil {
			return nil, err
		}
		port := fmt.Sprintf("vp%d", i)
		if err := Veth(n.NS, port, "", pod, "eth0", PodIP(i)+"/24"); err != nil {
			return nil, err
		}
		if err := n.NS.IP("link", "set", port, "master", BridgeName); err != nil {
			return nil, err
		}
		if err := n.NS.IP("link", "set", port, "type", "bridge_slave", "hairpin", "on"); err != nil {
			return nil, err
		}
		if err := pod.IP("route", "add", "default", "via", Gateway); err != nil {
			return nil, err
		}
		n.Pods = append(n.Pods, pod)
	}
	if n.Client, err = mk("flp-client"); err != nil {
		return nil, err
	}
	if err := Veth(n.NS, "up0", NodeIP+"/24", n.Client, "eth0", ClientIP+"/24"); err != nil {
		return nil, err
	}
	if err := n.Client.IP("route", "add", "default", "via", NodeIP); err != nil {
		return nil, err
	}
	// The node's default route leads out through the client's link, as a
	// real node's leads to its network: traffic to an address the node
	// has no rule for is forwarded (and dropped out there) rather than
	// failing the route lookup before the forward hook.
	if err := n.NS.IP("route", "add", "default", "via", ClientIP); err != nil {
		return nil, err
	}
	if remote {
		if n.Remote, err = mk("flp-remote"); err != nil {
			return nil, err
		}
		if err := Veth(n.NS, "rp0", "10.244.1.1/24", n.Remote, "eth0", RemotePodIP+"/24"); err != nil {
			return nil, err
		}
		if err := n.Remote.IP("route", "add", "default", "via", "10.244.1.1"); err != nil {
			return nil, err
		}
	}
	return n, nil
}

// NodeAddr is the node's outside address.
func (n *Node) NodeAddr() netip.Addr { return netip.MustParseAddr(NodeIP) }

// Delete removes every namespace of the node.
func (n *Node) Delete() error {
	var errs []error
	for _, ns := range n.all {
		if err := ns.Delete(); err != nil {
			errs = append(errs, err)
		}
	}
	n.all = nil
	return errors.Join(errs...)
}
