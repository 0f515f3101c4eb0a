// Package servicelb gives Services of type LoadBalancer an address the
// way k3s's built-in service load balancer does: with no cloud to make a
// load balancer, the nodes are the load balancer. Every LoadBalancer
// Service without a spec.loadBalancerClass gets the addresses of the
// Ready nodes (ExternalIP when a node has one, else its InternalIP) in
// status.loadBalancer.ingress, so charts and scripts waiting for an
// address finish; each node's Service proxy serves the Service's ports
// on those addresses (package proxy programs load-balancer IPs as
// upstream's kube-proxy does).
//
// As in k3s, nodes labelled svccontroller.k3s.cattle.io/enablelb=true,
// when there are any, are the only ones used; simulated nodes (package
// sim) never are, since no proxy runs for them. A Service with a
// loadBalancerClass belongs to another implementation and is left alone;
// one that stops being a LoadBalancer has its status cleared.
package servicelb
