package ingress

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

// backend is one Service port an Ingress sends requests to, with its
// ready endpoints as the caches had them when the table was built.
type backend struct {
	name      string   // namespace/service:port, for logs and errors
	endpoints []string // host:port, sorted
	// unavailable says why there are no endpoints (no such Service, no
	// such port, none ready).
	unavailable string
	next        atomic.Uint64 // round robin
}

// pick returns the next endpoint in round robin.
func (b *backend) pick() (string, bool) {
	if len(b.endpoints) == 0 {
		return "", false
	}
	n := b.next.Add(1) - 1
	return b.endpoints[n%uint64(len(b.endpoints))], true
}

// backendKey identifies a backend within one table, so that the routes
// to the same Service port share one round robin.
func backendKey(ns string, svc *networkingv1.IngressServiceBackend) string {
	if svc.Port.Name != "" {
		return ns + "/" + svc.Name + ":" + svc.Port.Name
	}
	return ns + "/" + svc.Name + ":" + strconv.Itoa(int(svc.Port.Number))
}

// resolveBackend finds the Service port ref names and its ready endpoints.
// svc is nil when the Service does not exist.
func resolveBackend(name string, ref *networkingv1.IngressServiceBackend, svc *corev1.Service, endpointSlices []*discoveryv1.EndpointSlice) *backend {
	b := &backend{name: name}
	if svc == nil {
		b.unavailable = "service " + ref.Name + " not found"
		return b
	}
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		// traefik's default too: an ExternalName could send requests
		// anywhere, which an Ingress author should not decide alone.
		b.unavailable = "service " + ref.Name + " is of type ExternalName, which the ingress does not proxy to"
		return b
	}
	var port *corev1.ServicePort
	for i := range svc.Spec.Ports {
		p := &svc.Spec.Ports[i]
		if p.Protocol != "" && p.Protocol != corev1.ProtocolTCP {
			continue
		}
		if (ref.Port.Name != "" && p.Name == ref.Port.Name) || (ref.Port.Name == "" && p.Port == ref.Port.Number) {
			port = p
			break
		}
	}
	if port == nil {
		b.unavailable = fmt.Sprintf("service %s has no TCP port %s", ref.Name, portRef(ref))
		return b
	}
	b.endpoints = readyEndpoints(port.Name, endpointSlices)
	if len(b.endpoints) == 0 {
		b.unavailable = fmt.Sprintf("service %s port %s has no ready endpoints", ref.Name, portRef(ref))
	}
	return b
}

func portRef(ref *networkingv1.IngressServiceBackend) string {
	if ref.Port.Name != "" {
		return ref.Port.Name
	}
	return strconv.Itoa(int(ref.Port.Number))
}

// readyEndpoints lists address:port of the ready endpoints of the slice
// port named portName (slices name their ports after the Service's), once
// each: an endpoint moving between slices may briefly be in two. Ready
// unset means ready, as the EndpointSlice API says.
func readyEndpoints(portName string, endpointSlices []*discoveryv1.EndpointSlice) []string {
	var out []string
	for _, s := range endpointSlices {
		if s.AddressType != discoveryv1.AddressTypeIPv4 && s.AddressType != discoveryv1.AddressTypeIPv6 {
			continue
		}
		var number int32 = -1
		for _, p := range s.Ports {
			name := ""
			if p.Name != nil {
				name = *p.Name
			}
			if name == portName && p.Port != nil && (p.Protocol == nil || *p.Protocol == corev1.ProtocolTCP) {
				number = *p.Port
				break
			}
		}
		if number < 0 {
			continue
		}
		for _, e := range s.Endpoints {
			if e.Conditions.Ready != nil && !*e.Conditions.Ready {
				continue
			}
			if len(e.Addresses) == 0 {
				continue
			}
			// The API gives no meaning to addresses after the first, and
			// kube-proxy reads only that one too.
			out = append(out, net.JoinHostPort(e.Addresses[0], strconv.Itoa(int(number))))
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
