// Package proxy is the Service proxy of a node: it programs the kernel's
// nftables so that connections to a Service's ClusterIP, NodePorts,
// external IPs and load-balancer IPs reach one of its endpoints, as
// upstream's kube-proxy does in its nftables mode (KEP-3866).
//
// Everything lives in one table, `ip flotilla`: base chains at the nat
// prerouting/output/postrouting hooks and filter chains at input, forward
// and output; verdict maps from destination . protocol . port to one chain
// per service port, which picks an endpoint (`numgen random mod N vmap`,
// after any ClientIP affinity match through per-endpoint timeout sets) and
// jumps to one chain per endpoint that DNATs. See layout.go and program.go
// for the shape, and `nft list table ip flotilla` on a node.
//
// Two costs of the kernel shape what a transaction may hold. Any rule
// with a jump, a lookup or NAT makes the kernel re-check the whole table
// for loops at commit, walking every chain reachable from the base chains
// and every element of every verdict map it meets, once per rule that
// looks the map up: a map shared by all service chains (tried: one
// endpoint map keyed by service and random index) made that walk
// quadratic, 0.6 s per endpoint change at 1000 Services × 10 endpoints,
// so each service chain keeps its own small anonymous vmap as upstream's.
// And the kernel names each new anonymous set by scanning the table's
// sets, so a full sync's cost grows faster than linearly with the number
// of Services; partial syncs create one.
//
// Changes are applied incrementally: the proxier remembers what each
// Service put into the kernel and, when a Service or its EndpointSlices
// change, sends one transaction that touches only that Service's changed
// chains and map elements (an endpoint replaced: its new chain, the old
// one's removal and the rewritten service chain). A full sync (at start,
// every few minutes, on Resync) rewrites the whole table in one
// transaction from what the kernel actually holds, so whatever a previous
// run left is replaced or removed without a moment without rules. Stopping the proxier leaves the table:
// running pods keep reaching their Services while the agent is down;
// Cleanup removes it.
//
// What the node must provide:
//
//   - net.ipv4.ip_forward=1, so DNATed traffic from pods is forwarded.
//   - Pods on a Linux bridge (the agent's flotilla0) reaching a Service
//     whose endpoint is on the same bridge need bridged traffic to pass
//     the IPv4 netfilter hooks (br_netfilter with
//     net.bridge.bridge-nf-call-iptables=1, the default once the module
//     is loaded; nft's ip family tables see it as iptables does): the
//     endpoint's reply to the client pod is bridged directly, and only
//     conntrack at those hooks turns its source back into the ClusterIP.
//     A pod reaching itself through its Service (hairpin) is masqueraded
//     by the endpoint chain, and with br_netfilter its packet leaves on
//     the port it came in by, which the bridge allows only with the
//     port's hairpin mode on (the agent's CNI config sets hairpinMode).
//   - route_localnet is not needed: NodePorts are not served on 127.0.0.1
//     (as upstream's nftables mode).
//
// Deleting a chain in the same transaction that removes the last map
// element pointing to it needs a kernel from 6.2 on (older ones free the
// reference a moment later; upstream defers such deletions).
package proxy
