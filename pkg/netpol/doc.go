// Package netpol enforces NetworkPolicies for the pods of one node in the
// kernel, with nftables, from informers on Pods, Namespaces and
// NetworkPolicies.
//
// # Semantics (upstream's)
//
// A pod selected by a policy whose policyTypes hold Ingress accepts only
// the connections some ingress rule of some such policy allows; Egress
// likewise for what it opens. Policies add up. A pod no policy selects
// for a direction is not restricted in it. A rule allows traffic from
// (to) its peers — pods by podSelector in the policy's namespace, pods of
// the namespaces a namespaceSelector picks, pods by both, address blocks
// with their excepts — on its ports (numbers, ranges up to endPort, or
// names resolved against the container ports of the destination pod),
// and a rule without peers or ports allows every peer or port. Replies of
// allowed connections pass (conntrack), a pod always reaches itself, and
// traffic between a pod and its own node (kubelet probes, host-network
// pods) is never filtered, as upstream documents. Connections a policy
// does not allow are rejected, so that a client learns at once rather
// than by timing out: TCP with a reset, anything else and connections to
// a Service with ICMP administratively prohibited (the kernel would send
// a Service's reset from the pod's address, which the client ignores;
// conntrack translates the ICMP error back). Connections opened before a
// policy denied them stay open, as conntrack knows them.
//
// # Kernel layout
//
// One table, `inet flotilla-netpol`, apart from the Service proxy's:
//
//	egress  (hook forward, priority 0):   ct state established,related
//	        accept; ip saddr vmap @egress-pods
//	ingress (hook forward, priority 1):   ct state established,related
//	        accept; ip daddr vmap @ingress-pods
//	pod-eg-IP / pod-in-IP, one per isolated pod of this node: the pod
//	        itself is accepted, then a jump to the chain of each policy
//	        isolating it, then reject
//	pol-eg-… / pol-in-…, one per policy and direction: one rule per
//	        (peer, port) of each of its rules, ending in accept
//	peers-… sets: the pod addresses a rule's pod peers select
//	ports-… sets: address . protocol . port, a named port resolved per pod
//
// An `accept` ends only the base chain it happens in, so a connection
// between two pods of the node passes the egress chain of the one and
// then the ingress chain of the other. Both hooks are on forward: pods of
// the node talk across the Linux bridge, which passes IPv4 netfilter
// hooks with br_netfilter (net.bridge.bridge-nf-call-iptables=1, which
// the Service proxy needs too and the agent sets), and traffic from or to
// other nodes is routed through the node. Services are DNATed by the
// proxy at prerouting, so forward sees the pod addresses behind them.
// Host traffic passes input and output, which this table leaves alone.
//
// # Changes
//
// The controller keeps, per pod and policy, what the pod contributes to
// the policy's sets and whether the policy isolates it, so a pod change
// costs one pass over the policies and its transaction carries only the
// set elements that changed (and a pod chain when the set of policies
// isolating the pod changed); a policy change rewrites its own chains and
// re-evaluates the pods for it alone. A full sync (at start, after a
// failed transaction, every FullSyncInterval) replaces the whole table in
// one transaction, deleting and recreating it, so nothing a previous run
// left survives and traffic never sees the table half built. Stopping the
// controller leaves the table, so pods stay isolated while the agent
// restarts; Cleanup removes it. A pod's chain is deleted in the
// transaction that removes its map element, which needs a kernel from
// 6.2 on (as the proxy's endpoint chains do).
//
// Only IPv4 pod addresses are known to the cluster here; other traffic
// (IPv6) is not filtered. A pod is filtered from the moment the informer
// shows its address, so a new pod may talk unrestricted for the moment
// between its sandbox's network coming up and the agent reporting its IP.
package netpol
