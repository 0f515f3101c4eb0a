// Package dns is Flotilla's built-in cluster DNS server: the records of the
// Kubernetes DNS specification (schema 1.1.0) answered from informer
// caches, and every other name forwarded to the host's resolvers.
//
// Records, for the cluster domain <zone> (default cluster.local):
//
//   - <svc>.<ns>.svc.<zone> A/AAAA: the Service's cluster IPs; for a
//     headless Service the ready addresses of its EndpointSlices (all of
//     them with publishNotReadyAddresses); CNAME to spec.externalName for
//     an ExternalName Service.
//   - <host>.<svc>.<ns>.svc.<zone> A/AAAA: an endpoint by its hostname
//     (StatefulSet pods through their governing Service) or, without one,
//     by its address with dashes (10-42-0-7).
//   - _<port>._<proto>.<svc>.<ns>.svc.<zone> SRV for named ports: the
//     Service name as target, or for a headless Service one record per
//     ready endpoint with the endpoint's name as target; the targets'
//     addresses go in the additional section.
//   - <a-b-c-d>.<ns>.pod.<zone> A (AAAA for dashed IPv6): the address the
//     name spells, as CoreDNS's "pods insecure" mode.
//   - PTR in in-addr.arpa/ip6.arpa for cluster IPs and for the endpoints of
//     headless Services.
//   - dns-version.<zone> TXT, the zone's SOA and NS at its apex.
//
// A name in the zone that does not exist is NXDOMAIN; an existing name
// without records of the asked type is NODATA (NOERROR, empty answer);
// both carry the zone's SOA in the authority section so that resolvers
// cache the negative answer for the TTL (5 s by default). Reverse names of
// the configured cluster ranges are answered the same way; other names go
// to the upstream resolvers (by default those of /etc/resolv.conf, read
// once at start), over UDP with a retry over TCP when the reply was
// truncated.
//
// The wire format, the UDP/TCP serving and the message checks the library
// does before a handler runs (FORMERR for unparsable queries or a question
// count other than one, NOTIMP for opcodes other than QUERY) are
// github.com/miekg/dns's; this package adds EDNS0 handling (BADVERS,
// buffer size, truncation with TC over UDP).
//
// No query reaches the API server: lookups read the listers and indexers of
// a SharedInformerFactory that the caller owns and starts, so the server
// and other components of the process can share one set of watches.
package dns
