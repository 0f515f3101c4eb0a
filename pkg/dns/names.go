package dns

import (
	"net/netip"
	"strconv"
	"strings"

	mdns "github.com/miekg/dns"
)

// kind is what a name in the cluster zone designates.
type kind int

const (
	kindNone      kind = iota // no such name: NXDOMAIN
	kindApex                  // <zone>
	kindEmpty                 // a name with only names below it: svc.<zone>, pod.<zone>, dns.<zone>
	kindVersion               // dns-version.<zone>
	kindNS                    // ns.dns.<zone>
	kindNamespace             // <ns>.svc.<zone>
	kindPodNS                 // <ns>.pod.<zone>
	kindService               // <svc>.<ns>.svc.<zone>
	kindEndpoint              // <endpoint>.<svc>.<ns>.svc.<zone>
	kindProto                 // _<proto>.<svc>.<ns>.svc.<zone>
	kindSRV                   // _<port>._<proto>.<svc>.<ns>.svc.<zone>
	kindPod                   // <a-b-c-d>.<ns>.pod.<zone>
)

// qname is a parsed lower-case name of the cluster zone.
type qname struct {
	kind      kind
	namespace string
	service   string
	endpoint  string     // kindEndpoint
	port      string     // kindSRV, without the underscore
	proto     string     // kindSRV and kindProto, upper case as in the API
	pod       netip.Addr // kindPod
}

// parseZoneName parses name (lower case, fully qualified, inside zone).
func parseZoneName(name, zone string) qname {
	rest := strings.TrimSuffix(name[:len(name)-len(zone)], ".")
	if rest == "" {
		return qname{kind: kindApex}
	}
	labels := mdns.SplitDomainName(rest)
	n := len(labels)
	switch labels[n-1] {
	case "svc":
		return parseServiceName(labels[:n-1])
	case "pod":
		switch n {
		case 1:
			return qname{kind: kindEmpty}
		case 2:
			return qname{kind: kindPodNS, namespace: labels[0]}
		case 3:
			if ip, ok := podAddr(labels[0]); ok {
				return qname{kind: kindPod, namespace: labels[1], pod: ip}
			}
		}
		return qname{}
	case "dns-version":
		if n == 1 {
			return qname{kind: kindVersion}
		}
	case "dns":
		if n == 1 {
			return qname{kind: kindEmpty}
		}
		if n == 2 && labels[0] == "ns" {
			return qname{kind: kindNS}
		}
	}
	return qname{}
}

// parseServiceName parses the labels left of "svc", outermost last.
func parseServiceName(l []string) qname {
	n := len(l)
	switch n {
	case 0:
		return qname{kind: kindEmpty}
	case 1:
		return qname{kind: kindNamespace, namespace: l[0]}
	case 2:
		return qname{kind: kindService, namespace: l[1], service: l[0]}
	case 3:
		q := qname{namespace: l[2], service: l[1]}
		// Endpoint names are DNS-1123 labels, so a leading underscore
		// can only be the protocol part of an SRV name.
		if p, ok := strings.CutPrefix(l[0], "_"); ok {
			if p == "" {
				return qname{}
			}
			q.kind, q.proto = kindProto, strings.ToUpper(p)
			return q
		}
		q.kind, q.endpoint = kindEndpoint, l[0]
		return q
	case 4:
		port, ok1 := strings.CutPrefix(l[0], "_")
		proto, ok2 := strings.CutPrefix(l[1], "_")
		if !ok1 || !ok2 || port == "" || proto == "" {
			return qname{}
		}
		return qname{kind: kindSRV, namespace: l[3], service: l[2], port: port, proto: strings.ToUpper(proto)}
	}
	return qname{}
}

// podAddr decodes a pod label: four dashed decimal octets, or an IPv6
// address with its colons written as dashes.
func podAddr(label string) (netip.Addr, bool) {
	var s string
	if strings.Count(label, "-") == 3 && !strings.Contains(label, "--") {
		s = strings.ReplaceAll(label, "-", ".")
	} else {
		s = strings.ReplaceAll(label, "-", ":")
	}
	ip, err := netip.ParseAddr(s)
	if err != nil || ip.Zone() != "" {
		return netip.Addr{}, false
	}
	return ip.Unmap(), true
}

// Reverse zones.
const (
	arpa4 = "in-addr.arpa."
	arpa6 = "ip6.arpa."
)

func isReverse(name string) bool {
	return mdns.IsSubDomain(arpa4, name) || mdns.IsSubDomain(arpa6, name)
}

// reverseAddr decodes a complete reverse name (lower case) to its address.
func reverseAddr(name string) (netip.Addr, bool) {
	if rest, ok := strings.CutSuffix(name, "."+arpa4); ok {
		l := strings.Split(rest, ".")
		if len(l) != 4 {
			return netip.Addr{}, false
		}
		var b [4]byte
		for i, s := range l {
			v, err := strconv.ParseUint(s, 10, 8)
			if err != nil || strconv.FormatUint(v, 10) != s {
				return netip.Addr{}, false
			}
			b[3-i] = byte(v)
		}
		return netip.AddrFrom4(b), true
	}
	if rest, ok := strings.CutSuffix(name, "."+arpa6); ok {
		l := strings.Split(rest, ".")
		if len(l) != 32 {
			return netip.Addr{}, false
		}
		var b [16]byte
		for i, s := range l {
			if len(s) != 1 {
				return netip.Addr{}, false
			}
			v, err := strconv.ParseUint(s, 16, 8)
			if err != nil {
				return netip.Addr{}, false
			}
			// Label i is nibble 31-i, most significant nibble last.
			nib := 31 - i
			if nib%2 == 0 {
				b[nib/2] |= byte(v) << 4
			} else {
				b[nib/2] |= byte(v)
			}
		}
		return netip.AddrFrom16(b), true
	}
	return netip.Addr{}, false
}

// reverseZone is the reverse zone of a prefix, on the label boundary at
// or above it (10.43.0.0/16 → 43.10.in-addr.arpa.).
func reverseZone(p netip.Prefix) string {
	a := p.Addr()
	if a.Is4() {
		b := a.As4()
		var l []string
		for i := p.Bits()/8 - 1; i >= 0; i-- {
			l = append(l, strconv.Itoa(int(b[i])))
		}
		return strings.Join(append(l, arpa4), ".")
	}
	b := a.As16()
	var l []string
	for i := p.Bits()/4 - 1; i >= 0; i-- {
		n := b[i/2]
		if i%2 == 0 {
			n >>= 4
		}
		l = append(l, strconv.FormatUint(uint64(n&0xf), 16))
	}
	return strings.Join(append(l, arpa6), ".")
}
