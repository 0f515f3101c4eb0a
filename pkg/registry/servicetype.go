package registry

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// prepareServiceUpdate drops the fields a Service's new type no longer
// uses when the client left them as they were (it read the object, changed
// the type and wrote it back): the cluster IP of a Service turned
// ExternalName, node ports of one turned ClusterIP, the load balancer's
// fields, externalTrafficPolicy of one no longer reachable from outside.
// A value the client changed at the same time is kept, so validation
// reports it. These are upstream's rules; the allocator then releases
// what was dropped.
func prepareServiceUpdate(obj, oldObj runtime.Object) {
	svc, ok1 := obj.(*corev1.Service)
	old, ok2 := oldObj.(*corev1.Service)
	if !ok1 || !ok2 {
		return
	}
	s, o := &svc.Spec, &old.Spec
	needsClusterIP := func(sp *corev1.ServiceSpec) bool { return sp.Type != corev1.ServiceTypeExternalName }
	if needsClusterIP(o) && !needsClusterIP(s) {
		if s.ClusterIP == o.ClusterIP && slices.Equal(s.ClusterIPs, o.ClusterIPs) {
			s.ClusterIP, s.ClusterIPs = "", nil
		}
		if slices.Equal(s.IPFamilies, o.IPFamilies) {
			s.IPFamilies = nil
		}
		if policyOf(s) == policyOf(o) {
			s.IPFamilyPolicy = nil
		}
	}
	needsNodePort := func(sp *corev1.ServiceSpec) bool {
		return sp.Type == corev1.ServiceTypeNodePort || sp.Type == corev1.ServiceTypeLoadBalancer
	}
	if needsNodePort(o) && !needsNodePort(s) && noNewNodePorts(o, s) {
		for i := range s.Ports {
			s.Ports[i].NodePort = 0
		}
	}
	needsHCNodePort := func(sp *corev1.ServiceSpec) bool {
		return sp.Type == corev1.ServiceTypeLoadBalancer && sp.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal
	}
	if needsHCNodePort(o) && !needsHCNodePort(s) && s.HealthCheckNodePort == o.HealthCheckNodePort {
		s.HealthCheckNodePort = 0
	}
	if o.Type == corev1.ServiceTypeLoadBalancer && s.Type != corev1.ServiceTypeLoadBalancer {
		if s.AllocateLoadBalancerNodePorts != nil && o.AllocateLoadBalancerNodePorts != nil &&
			*s.AllocateLoadBalancerNodePorts == *o.AllocateLoadBalancerNodePorts {
			s.AllocateLoadBalancerNodePorts = nil
		}
		if (s.LoadBalancerClass == nil && o.LoadBalancerClass == nil) ||
			(s.LoadBalancerClass != nil && o.LoadBalancerClass != nil && *s.LoadBalancerClass == *o.LoadBalancerClass) {
			s.LoadBalancerClass = nil
		}
	}
	external := func(sp *corev1.ServiceSpec) bool {
		return sp.Type == corev1.ServiceTypeLoadBalancer || sp.Type == corev1.ServiceTypeNodePort ||
			(sp.Type == corev1.ServiceTypeClusterIP && len(sp.ExternalIPs) > 0)
	}
	if external(o) && !external(s) && s.ExternalTrafficPolicy == o.ExternalTrafficPolicy {
		s.ExternalTrafficPolicy = ""
	}
	// An address of a load balancer that is no more is not shown.
	if s.Type != corev1.ServiceTypeLoadBalancer {
		svc.Status.LoadBalancer = corev1.LoadBalancerStatus{}
	}
}

func policyOf(s *corev1.ServiceSpec) corev1.IPFamilyPolicy {
	if s.IPFamilyPolicy == nil {
		return ""
	}
	return *s.IPFamilyPolicy
}

// noNewNodePorts: the new spec names no node port the old one did not
// (ports may be removed or changed otherwise).
func noNewNodePorts(old, cur *corev1.ServiceSpec) bool {
	for _, p := range cur.Ports {
		if p.NodePort != 0 && !slices.ContainsFunc(old.Ports, func(op corev1.ServicePort) bool { return op.NodePort == p.NodePort }) {
			return false
		}
	}
	return true
}
