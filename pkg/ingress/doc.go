// Package ingress is Flotilla's built-in Ingress controller, what k3s
// users get from its packaged traefik: every node agent runs a Controller
// that listens on the node's ports 80 and 443 and reverse-proxies the
// requests of the networking.k8s.io/v1 Ingresses whose class is ours to
// the ready endpoints of their backend Services; the server's leader runs
// a StatusController that writes those Ingresses' status.loadBalancer.
//
// # Which Ingresses
//
// An IngressClass is ours when its spec.controller is ControllerName
// ("flotilla.io/ingress"); the server creates one, DefaultClassName,
// marked as the cluster's default. An Ingress is served when its
// spec.ingressClassName (or, when that is unset, the deprecated
// kubernetes.io/ingress.class annotation) names one of our classes, or
// when it names no class at all and the cluster's default class (the
// newest one marked default, as the admission plugin picks) is ours.
//
// A Controller listens only while at least one IngressClass of ours
// exists: `flotilla server --disable-ingress` creates none (and removes
// the one it created before), so no agent holds the node's ports 80 and
// 443 without anyone asking for it.
//
// # Routing
//
// Everything is read from informer caches (Ingress, IngressClass,
// Service, EndpointSlice, Secret). Any change rebuilds an immutable
// routing table that request handlers read through an atomic pointer, so
// a request costs no API call and takes no lock. A request is matched by
// its Host (port and a trailing dot dropped, case ignored) against, in
// turn, the rules of exactly that host, then the wildcard rules whose
// `*.suffix` covers it (one DNS label, as upstream's spec says), then the
// rules without a host; within the first of these groups that has a
// matching path, the longest path wins, Exact before Prefix at equal
// length (ImplementationSpecific is Prefix here). Prefix matches element
// by element of the /-separated path, ignoring a trailing slash: /foo
// matches /foo, /foo/ and /foo/bar, never /foobar. When no rule matches,
// the spec.defaultBackend of the oldest Ingress with rules for the host,
// else of the oldest Ingress having one, serves; with none the answer is
// 404. When several Ingresses claim the same host and path the oldest
// (creationTimestamp, then namespace/name) wins, so every agent chooses
// alike.
//
// A backend names a Service and its port by number or name; it resolves
// to the Service port's ready endpoints in the Service's EndpointSlices
// (the slice port of the same name, pod IP:targetPort), taken in round
// robin. A missing Service, port, or no ready endpoint is a 503. Requests
// go out through net/http/httputil.ReverseProxy with the client's Host
// kept and X-Forwarded-For/-Host/-Proto set (any the client sent are
// replaced, not trusted); protocol upgrades (websockets) pass through.
// Dot segments and repeated slashes in a request path are resolved before
// matching, as nginx does, so /public/../private is matched (and
// forwarded) as /private.
//
// # TLS
//
// Port 443 picks a certificate by SNI from the kubernetes.io/tls Secrets
// the served Ingresses name in spec.tls, for the hosts each entry lists
// (an entry without hosts covers its Ingress's rule hosts); exact names
// before wildcards, the oldest Ingress first. A Secret that is missing,
// of another type or does not parse is logged and reported as a Warning
// Event on the Ingress, and its hosts get the fallback: a self-signed
// certificate made when the Controller is built (or Config's), also used
// for unknown or absent SNI.
//
// # Status
//
// status.loadBalancer.ingress lists the addresses of the nodes that run
// the ingress, as k3s's service load balancer reports them: every Ready
// Node not being deleted and not labelled
// node.kubernetes.io/exclude-from-external-load-balancers, each by its
// ExternalIPs, or its InternalIPs when it has none; sorted. One writer,
// the StatusController of the server holding the controllers' lease,
// writes it only when it differs, so the status does not flap between
// agents that each see themselves; the price is that a Ready node whose
// agent could not bind its ports is still listed.
package ingress
