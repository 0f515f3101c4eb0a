package proxy

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Labels the proxy reads, as upstream's kube-proxy.
const (
	// serviceNameLabel ties an EndpointSlice to its Service.
	serviceNameLabel = discoveryv1.LabelServiceName
	// serviceProxyNameLabel hands a Service to another proxy: kube-proxy
	// leaves every Service carrying it alone, and so do we.
	serviceProxyNameLabel = "service.kubernetes.io/service-proxy-name"
	// defaultAffinityTimeout is upstream's default
	// sessionAffinityConfig.clientIP.timeoutSeconds (3 hours).
	defaultAffinityTimeout = 10800 * time.Second
)

// portKey names one port of one Service: the unit the proxy programs.
type portKey struct {
	types.NamespacedName
	Port     string // the ServicePort's name ("" for a single unnamed port)
	Protocol corev1.Protocol
}

func (k portKey) String() string {
	return fmt.Sprintf("%s/%s/%s/%s", k.Namespace, k.Name, strings.ToLower(string(k.Protocol)), k.Port)
}

// servicePort is what the proxy needs of one port of a Service.
type servicePort struct {
	key         portKey
	clusterIP   netip.Addr
	port        uint16
	protocol    uint8 // IPPROTO_*
	nodePort    uint16
	externalIPs []netip.Addr // spec.externalIPs and load-balancer ingress IPs
	affinity    time.Duration
	// internalLocal: internalTrafficPolicy Local (ClusterIP traffic only
	// to endpoints on this node). externalLocal: externalTrafficPolicy
	// Local on a NodePort/LoadBalancer Service (external traffic only to
	// this node's endpoints, keeping the client's address).
	internalLocal, externalLocal bool
	endpoints                    []endpoint
}

// externallyAccessible: traffic can arrive through a NodePort, an
// external IP or a load-balancer IP, not only the ClusterIP.
func (sp *servicePort) externallyAccessible() bool {
	return sp.nodePort != 0 || len(sp.externalIPs) > 0
}

func (sp *servicePort) usesClusterEndpoints() bool {
	return !sp.internalLocal || (sp.externallyAccessible() && !sp.externalLocal)
}

func (sp *servicePort) usesLocalEndpoints() bool {
	return sp.internalLocal || (sp.externallyAccessible() && sp.externalLocal)
}

// endpoint is one backend address of a service port.
type endpoint struct {
	addr                        netip.AddrPort
	ready, serving, terminating bool
	local                       bool // on this node
}

// protocolNumber maps a Service protocol to its IP protocol number.
func protocolNumber(p corev1.Protocol) (uint8, bool) {
	switch p {
	case corev1.ProtocolTCP, "":
		return 6, true
	case corev1.ProtocolUDP:
		return 17, true
	case corev1.ProtocolSCTP:
		return 132, true
	}
	return 0, false
}

// servicePorts turns a Service and its EndpointSlices into the ports to
// program. A Service the proxy does not handle (headless, ExternalName,
// no IPv4 ClusterIP, another proxy's) yields none.
func servicePorts(svc *corev1.Service, slicesOfSvc []*discoveryv1.EndpointSlice, nodeName string) []*servicePort {
	if svc == nil || svc.Labels[serviceProxyNameLabel] != "" || svc.Spec.Type == corev1.ServiceTypeExternalName {
		return nil
	}
	cip, err := netip.ParseAddr(svc.Spec.ClusterIP)
	if err != nil || !cip.Is4() {
		return nil // headless ("None"), unset, or not IPv4
	}
	var extIPs []netip.Addr
	for _, s := range svc.Spec.ExternalIPs {
		if ip, err := netip.ParseAddr(s); err == nil && ip.Is4() {
			extIPs = append(extIPs, ip)
		}
	}
	if svc.Spec.Type == corev1.ServiceTypeLoadBalancer {
		for _, ing := range svc.Status.LoadBalancer.Ingress {
			// ipMode Proxy: the load balancer proxies to the node itself,
			// so its address must not be captured here.
			if ing.IPMode != nil && *ing.IPMode == corev1.LoadBalancerIPModeProxy {
				continue
			}
			if ip, err := netip.ParseAddr(ing.IP); err == nil && ip.Is4() {
				extIPs = append(extIPs, ip)
			}
		}
	}
	slices.SortFunc(extIPs, netip.Addr.Compare)
	extIPs = slices.Compact(extIPs)

	var affinity time.Duration
	if svc.Spec.SessionAffinity == corev1.ServiceAffinityClientIP {
		affinity = defaultAffinityTimeout
		if c := svc.Spec.SessionAffinityConfig; c != nil && c.ClientIP != nil && c.ClientIP.TimeoutSeconds != nil && *c.ClientIP.TimeoutSeconds > 0 {
			affinity = time.Duration(*c.ClientIP.TimeoutSeconds) * time.Second
		}
	}
	nodeTyped := svc.Spec.Type == corev1.ServiceTypeNodePort || svc.Spec.Type == corev1.ServiceTypeLoadBalancer
	internalLocal := svc.Spec.InternalTrafficPolicy != nil && *svc.Spec.InternalTrafficPolicy == corev1.ServiceInternalTrafficPolicyLocal
	externalLocal := nodeTyped && svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal

	var out []*servicePort
	for _, p := range svc.Spec.Ports {
		proto, ok := protocolNumber(p.Protocol)
		if !ok || p.Port <= 0 || p.Port > 65535 {
			continue
		}
		protocol := p.Protocol
		if protocol == "" {
			protocol = corev1.ProtocolTCP
		}
		sp := &servicePort{
			key:           portKey{NamespacedName: types.NamespacedName{Namespace: svc.Namespace, Name: svc.Name}, Port: p.Name, Protocol: protocol},
			clusterIP:     cip,
			port:          uint16(p.Port),
			protocol:      proto,
			externalIPs:   extIPs,
			affinity:      affinity,
			internalLocal: internalLocal,
		}
		if nodeTyped && p.NodePort > 0 && p.NodePort <= 65535 {
			sp.nodePort = uint16(p.NodePort)
		}
		sp.externalLocal = externalLocal && sp.externallyAccessible()
		sp.endpoints = sliceEndpoints(slicesOfSvc, p.Name, protocol, nodeName)
		out = append(out, sp)
	}
	return out
}

// sliceEndpoints collects the endpoints of one service port from the
// Service's EndpointSlices: the slice port of the same name and protocol
// gives the target port. An address listed by several slices (during a
// slice controller's rebalancing) counts once, ready if any says so.
func sliceEndpoints(all []*discoveryv1.EndpointSlice, portName string, protocol corev1.Protocol, nodeName string) []endpoint {
	seen := map[netip.AddrPort]int{}
	var out []endpoint
	for _, s := range all {
		if s.AddressType != discoveryv1.AddressTypeIPv4 {
			continue
		}
		var port int32
		for _, sp := range s.Ports {
			name, proto := "", corev1.ProtocolTCP
			if sp.Name != nil {
				name = *sp.Name
			}
			if sp.Protocol != nil {
				proto = *sp.Protocol
			}
			if name == portName && proto == protocol && sp.Port != nil {
				port = *sp.Port
				break
			}
		}
		if port <= 0 || port > 65535 {
			continue
		}
		for _, e := range s.Endpoints {
			if len(e.Addresses) == 0 {
				continue
			}
			ip, err := netip.ParseAddr(e.Addresses[0])
			if err != nil || !ip.Is4() {
				continue
			}
			// Conditions as upstream reads them: ready unless said
			// otherwise, serving like ready unless given, terminating
			// only when said.
			ready := e.Conditions.Ready == nil || *e.Conditions.Ready
			serving := ready
			if e.Conditions.Serving != nil {
				serving = *e.Conditions.Serving
			}
			terminating := e.Conditions.Terminating != nil && *e.Conditions.Terminating
			ep := endpoint{
				addr:  netip.AddrPortFrom(ip, uint16(port)),
				ready: ready, serving: serving, terminating: terminating,
				local: e.NodeName != nil && *e.NodeName == nodeName,
			}
			if i, dup := seen[ep.addr]; dup {
				if ep.ready && !out[i].ready {
					out[i] = ep
				}
				continue
			}
			seen[ep.addr] = len(out)
			out = append(out, ep)
		}
	}
	slices.SortFunc(out, func(a, b endpoint) int { return a.addr.Compare(b.addr) })
	return out
}

// categorize picks the endpoints traffic may go to, as upstream's
// CategorizeEndpoints without topology hints: ready endpoints, or when
// none is ready the serving and terminating ones (so connections drain
// during a rolling update instead of failing); the same again restricted
// to this node for the Local policies. any reports whether the Service has
// usable endpoints anywhere, on this node or another.
func categorize(sp *servicePort) (cluster, local []endpoint, any bool) {
	pick := func(ok func(endpoint) bool) []endpoint {
		var out []endpoint
		for _, e := range sp.endpoints {
			if ok(e) {
				out = append(out, e)
			}
		}
		return out
	}
	if sp.usesClusterEndpoints() {
		cluster = pick(func(e endpoint) bool { return e.ready })
		if len(cluster) == 0 {
			cluster = pick(func(e endpoint) bool { return e.serving && e.terminating })
		}
	}
	any = len(cluster) > 0
	if sp.usesLocalEndpoints() {
		local = pick(func(e endpoint) bool { return e.ready && e.local })
		if len(local) == 0 {
			local = pick(func(e endpoint) bool { return e.serving && e.terminating && e.local })
		}
		// A Service whose endpoints are all on other nodes still has
		// endpoints: Local traffic to it is dropped, not rejected.
		any = any || slices.ContainsFunc(sp.endpoints, func(e endpoint) bool { return e.ready || (e.serving && e.terminating) })
	}
	return cluster, local, any
}
