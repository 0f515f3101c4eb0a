// Package podnet joins the pod ranges of a cluster's nodes into one pod
// network, as flannel does for k3s: every pod reaches every other pod by
// its address, whichever machine it runs on, and pod traffic leaving the
// cluster is masqueraded to the node's address.
//
// Each node has its own range (spec.podCIDR, from the server's nodeipam
// controller) on its pod bridge; the node agent runs one Controller,
// which watches the Nodes and, for every other node with a pod range and
// an InternalIP, installs a route to that range:
//
//   - vxlan (the default, k3s's): a VXLAN device flotilla.1 (VNI 1, UDP
//     8472, no learning, MTU of the underlay less 50) as flannel's vxlan
//     backend makes it. The node announces the device's MAC in its Node
//     annotation flotilla.io/vtep-mac (derived from the node name, so the
//     same after a reboot); per peer it installs
//     `PODCIDR via PEER-NET dev flotilla.1 onlink` (PEER-NET is the
//     peer's range's network address, a next hop standing for the peer's
//     VTEP), a permanent neighbour entry PEER-NET -> the peer's MAC and a
//     forwarding entry the peer's MAC -> the peer's node address. The
//     device holds this node's range's network address (/32), so the
//     node's own traffic to remote pods has a source that comes back the
//     same way. Only UDP 8472 between the nodes' addresses is needed:
//     nodes may be on different subnets, behind routers, on networks
//     that drop packets with addresses they did not assign.
//   - vxlan with DirectRouting (flannel's option): peers on a subnet this
//     host is directly connected to are routed as host-gw does, only the
//     others through the overlay.
//   - host-gw: `PODCIDR via PEER-IP`; every node must be on one L2
//     network that carries pod addresses. A peer that is not is logged
//     and gets no route.
//   - none: nothing; the operator provides the network.
//
// Every node of a cluster must use the same backend: a vxlan node sends
// to a peer through the overlay only when the peer announces a MAC (a
// peer that announces none is routed directly when it is on a shared
// subnet, and logged otherwise).
//
// The routes carry the protocol number 70 (RouteProtocol): a sync lists
// the routes with it and removes those no Node wants any more (a node
// deleted, its address or range changed, an earlier run's), and the
// neighbour and forwarding entries of flotilla.1 likewise. Everything
// stays in place when the agent stops, so pods keep reaching each other
// while it restarts; a sync runs at every relevant Node change and every
// minute, which also undoes what someone else removed.
//
// Masquerading is the table `ip flotilla-podnet` (see ensureMasquerade):
// from the cluster range to anything but the cluster range, the service
// range and multicast, SNAT to the outgoing interface's address.
//
// One network namespace is one node: a second agent sharing a
// namespace (test set-ups) skips peers whose address is one of the
// namespace's own, but two clusters in one namespace would remove each
// other's routes; such agents run with --flannel-backend=none. A node
// whose own address is a loopback address (a test's extra agent beside
// another in the machine's namespace) gets the masquerading only and
// touches no route, entry or device.
package podnet
