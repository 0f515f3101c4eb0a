package dns

import (
	"net/netip"
	"strings"

	mdns "github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// SchemaVersion is the Kubernetes DNS specification version served as
// dns-version.<zone> TXT.
const SchemaVersion = "1.1.0"

// node is everything a name holds: whether it exists and its records of
// every type. Answers are cut from it by type, which keeps NXDOMAIN
// (no node) and NODATA (a node without that type) apart in one place.
type node struct {
	exists bool
	rrs    []mdns.RR
	extra  []mdns.RR // additional section: addresses of SRV targets, NS glue
}

// zoneNode builds the node of owner (as asked, for the answers' owner
// names) whose lower-case form q was parsed from.
func (s *Server) zoneNode(owner string, q qname) node {
	z := s.zone
	switch q.kind {
	case kindApex:
		return node{exists: true, rrs: []mdns.RR{s.soa(), s.nsRR(owner)}, extra: s.nsGlue()}
	case kindEmpty:
		return node{exists: true}
	case kindVersion:
		return node{exists: true, rrs: []mdns.RR{&mdns.TXT{Hdr: s.hdr(owner, mdns.TypeTXT), Txt: []string{SchemaVersion}}}}
	case kindNS:
		return node{exists: true, rrs: s.addrRRs(owner, s.nsIPs)}
	case kindPodNS:
		// Every a-b-c-d.<ns>.pod.<zone> exists (the insecure pod mode),
		// so every namespace name under pod.<zone> has names below it.
		return node{exists: true}
	case kindPod:
		return node{exists: true, rrs: s.addrRRs(owner, []netip.Addr{q.pod})}
	case kindNamespace:
		return node{exists: s.store.namespaceHasServices(q.namespace)}
	}

	svc := s.store.service(q.namespace, q.service)
	if svc == nil {
		return node{}
	}
	svcName := q.service + "." + q.namespace + ".svc." + z
	switch q.kind {
	case kindService:
		return s.serviceNode(owner, svc)
	case kindEndpoint:
		if svc.Spec.Type == corev1.ServiceTypeExternalName {
			return node{}
		}
		var addrs []netip.Addr
		for _, ep := range s.store.endpoints(svc) {
			if ep.label == q.endpoint {
				addrs = append(addrs, ep.addr)
			}
		}
		return node{exists: len(addrs) > 0, rrs: s.addrRRs(owner, addrs)}
	case kindProto:
		// _tcp.<svc> exists when a named port of that protocol does.
		n := s.srvNode(owner, svc, svcName, "", q.proto)
		return node{exists: n.exists}
	case kindSRV:
		return s.srvNode(owner, svc, svcName, q.port, q.proto)
	}
	return node{}
}

func (s *Server) serviceNode(owner string, svc *corev1.Service) node {
	switch {
	case svc.Spec.Type == corev1.ServiceTypeExternalName:
		target := strings.ToLower(mdns.Fqdn(svc.Spec.ExternalName))
		if _, ok := mdns.IsDomainName(target); !ok || svc.Spec.ExternalName == "" {
			return node{exists: true}
		}
		if _, err := netip.ParseAddr(svc.Spec.ExternalName); err == nil {
			// An address is no name to point a CNAME at (CoreDNS skips it too).
			return node{exists: true}
		}
		return node{exists: true, rrs: []mdns.RR{&mdns.CNAME{Hdr: s.hdr(owner, mdns.TypeCNAME), Target: target}}}
	case isHeadless(svc):
		eps := s.store.endpoints(svc)
		addrs := make([]netip.Addr, len(eps))
		for i, ep := range eps {
			addrs[i] = ep.addr
		}
		// The specification: a headless Service without ready endpoints
		// is NXDOMAIN.
		return node{exists: len(addrs) > 0, rrs: s.addrRRs(owner, addrs)}
	default:
		var addrs []netip.Addr
		for _, c := range clusterIPs(svc) {
			if ip, err := netip.ParseAddr(c); err == nil {
				addrs = append(addrs, ip.Unmap())
			}
		}
		return node{exists: true, rrs: s.addrRRs(owner, addrs)}
	}
}

// srvNode builds _port._proto.<svc>: one SRV per named port matching
// (port "" matches any name, to tell whether _proto.<svc> exists).
func (s *Server) srvNode(owner string, svc *corev1.Service, svcName, port, proto string) node {
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		return node{}
	}
	matches := func(name string, p corev1.Protocol) bool {
		if name == "" || string(p) != proto {
			return false
		}
		return port == "" || strings.EqualFold(name, port)
	}
	var n node
	if !isHeadless(svc) {
		for _, sp := range svc.Spec.Ports {
			if matches(sp.Name, proto3(sp.Protocol)) {
				n.exists = true
				n.rrs = append(n.rrs, &mdns.SRV{Hdr: s.hdr(owner, mdns.TypeSRV), Priority: 0, Weight: 100, Port: uint16(sp.Port), Target: svcName})
			}
		}
		if len(n.rrs) > 0 {
			n.extra = s.addrRRs(svcName, addrsOf(clusterIPs(svc)))
		}
		return n
	}
	// Headless: one record per endpoint and matching port of its slice;
	// the ports a slice lists are the ones its endpoints listen on.
	type target struct {
		name string
		port int32
	}
	seen := map[target]bool{}
	targets := map[string]bool{}
	var srvs []*mdns.SRV
	eps := s.store.endpoints(svc)
	for _, ep := range eps {
		for _, sp := range ep.slice.Ports {
			if sp.Name == nil || sp.Port == nil {
				continue
			}
			p := corev1.ProtocolTCP
			if sp.Protocol != nil {
				p = *sp.Protocol
			}
			if !matches(*sp.Name, p) {
				continue
			}
			t := target{ep.label + "." + svcName, *sp.Port}
			if seen[t] {
				continue
			}
			seen[t] = true
			srvs = append(srvs, &mdns.SRV{Hdr: s.hdr(owner, mdns.TypeSRV), Priority: 0, Port: uint16(t.port), Target: t.name})
			targets[t.name] = true
		}
	}
	// Equal shares of weight 100 among the targets (RFC 2782's weights
	// are relative; CoreDNS splits the same way).
	for _, r := range srvs {
		r.Weight = uint16(max(1, 100/len(srvs)))
		n.rrs = append(n.rrs, r)
	}
	// Endpoint A records of targets sharing a name (one hostname, two
	// addresses) all belong in the additional section.
	n.exists = len(n.rrs) > 0
	if n.exists {
		n.extra = s.targetAddrs(eps, svcName, targets)
	}
	return n
}

// targetAddrs lists the A/AAAA records of every endpoint whose name is
// among targets.
func (s *Server) targetAddrs(eps []endpoint, svcName string, targets map[string]bool) []mdns.RR {
	var out []mdns.RR
	for _, ep := range eps {
		name := ep.label + "." + svcName
		if targets[name] {
			out = append(out, s.addrRRs(name, []netip.Addr{ep.addr})...)
		}
	}
	return out
}

func proto3(p corev1.Protocol) corev1.Protocol {
	if p == "" {
		return corev1.ProtocolTCP
	}
	return p
}

func addrsOf(list []string) []netip.Addr {
	var out []netip.Addr
	for _, c := range list {
		if ip, err := netip.ParseAddr(c); err == nil {
			out = append(out, ip.Unmap())
		}
	}
	return out
}

// reverseNode builds the node of a reverse name: PTR records for cluster
// IPs and for the published endpoints of headless Services.
func (s *Server) reverseNode(owner string, ip netip.Addr) node {
	var n node
	z := s.zone
	for _, svc := range s.store.servicesByIP(ip) {
		if svc.Spec.Type == corev1.ServiceTypeExternalName || isHeadless(svc) {
			continue
		}
		n.rrs = append(n.rrs, &mdns.PTR{Hdr: s.hdr(owner, mdns.TypePTR), Ptr: svc.Name + "." + svc.Namespace + ".svc." + z})
	}
	seen := map[string]bool{}
	for _, sl := range s.store.slicesByIP(ip) {
		svcName := sl.Labels[discoveryv1.LabelServiceName]
		svc := s.store.service(sl.Namespace, svcName)
		if svc == nil || !isHeadless(svc) {
			continue
		}
		for i := range sl.Endpoints {
			ep := &sl.Endpoints[i]
			if !serves(svc, ep) || !hasAddr(ep.Addresses, ip) {
				continue
			}
			target := endpointLabel(ep, ip) + "." + svcName + "." + sl.Namespace + ".svc." + z
			if !seen[target] {
				seen[target] = true
				n.rrs = append(n.rrs, &mdns.PTR{Hdr: s.hdr(owner, mdns.TypePTR), Ptr: target})
			}
		}
	}
	n.exists = len(n.rrs) > 0
	return n
}

func hasAddr(list []string, ip netip.Addr) bool {
	for _, a := range list {
		if p, err := netip.ParseAddr(a); err == nil && p.Unmap() == ip {
			return true
		}
	}
	return false
}

func (s *Server) hdr(owner string, t uint16) mdns.RR_Header {
	return mdns.RR_Header{Name: owner, Rrtype: t, Class: mdns.ClassINET, Ttl: s.cfg.TTL}
}

func (s *Server) addrRRs(owner string, addrs []netip.Addr) []mdns.RR {
	out := make([]mdns.RR, 0, len(addrs))
	for _, a := range addrs {
		if a.Is4() {
			b := a.As4()
			out = append(out, &mdns.A{Hdr: s.hdr(owner, mdns.TypeA), A: b[:]})
		} else {
			b := a.As16()
			out = append(out, &mdns.AAAA{Hdr: s.hdr(owner, mdns.TypeAAAA), AAAA: b[:]})
		}
	}
	return out
}

// soa is the zone's SOA; its minimum is the TTL so that negative answers
// are cached no longer than positive ones.
func (s *Server) soa() *mdns.SOA {
	return s.soaFor(s.zone)
}

func (s *Server) soaFor(zone string) *mdns.SOA {
	return &mdns.SOA{
		Hdr: s.hdr(zone, mdns.TypeSOA),
		Ns:  "ns.dns." + s.zone, Mbox: "hostmaster." + s.zone,
		Serial: s.serial, Refresh: 7200, Retry: 1800, Expire: 86400, Minttl: s.cfg.TTL,
	}
}

func (s *Server) nsRR(owner string) mdns.RR {
	return &mdns.NS{Hdr: s.hdr(owner, mdns.TypeNS), Ns: "ns.dns." + s.zone}
}

func (s *Server) nsGlue() []mdns.RR { return s.addrRRs("ns.dns."+s.zone, s.nsIPs) }
