package ingress

import (
	"crypto/tls"
	"errors"
	"slices"
	"sort"
	"strings"

	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	corelisters "k8s.io/client-go/listers/core/v1"
	networkinglisters "k8s.io/client-go/listers/networking/v1"
)

// table is one immutable picture of what is served, read by the request
// handlers through an atomic pointer.
type table struct {
	// serving: an IngressClass of ours exists, so the ports are held.
	serving        bool
	exact          map[string]*hostRoutes // by host
	wildcard       map[string]*hostRoutes // by wildcardKey of "*.suffix"
	anyHost        *hostRoutes            // rules without a host
	defaultBackend *backend               // the oldest served Ingress's spec.defaultBackend
	certs          certTable
	// services and secrets are what the table read (namespace/name), so
	// that a change of another object does not rebuild it.
	services map[string]bool
	secrets  map[string]bool
}

// hostRoutes are the paths of one host (or of no host), the winner of
// any two matches first.
type hostRoutes struct {
	routes []route
	// defaultBackend serves what no path matches: the spec.defaultBackend
	// of the oldest Ingress with rules for the host.
	defaultBackend *backend
}

type route struct {
	pathRule
	backend *backend
}

func (h *hostRoutes) match(p string) *backend {
	if h == nil {
		return nil
	}
	for i := range h.routes {
		if h.routes[i].matches(p) {
			return h.routes[i].backend
		}
	}
	return nil
}

// route finds the backend of a request for host (normalized) and p
// (cleaned); nil means none, a 404. The rules of exactly the host come
// first, then the wildcard covering it, then those without a host; then
// the default backends, the host's before the global one.
func (t *table) route(host, p string) *backend {
	wkey, hasWildcard := wildcardKey(host)
	if b := t.exact[host].match(p); b != nil {
		return b
	}
	if hasWildcard {
		if b := t.wildcard[wkey].match(p); b != nil {
			return b
		}
	}
	if b := t.anyHost.match(p); b != nil {
		return b
	}
	if h := t.exact[host]; h != nil && h.defaultBackend != nil {
		return h.defaultBackend
	}
	if h := t.wildcard[wkey]; hasWildcard && h != nil && h.defaultBackend != nil {
		return h.defaultBackend
	}
	return t.defaultBackend
}

// certificate picks the certificate for an SNI name, def when no served
// Ingress names a usable one for it.
func (t *table) certificate(serverName string, def *tls.Certificate) *tls.Certificate {
	if c := t.certs.lookup(serverName); c != nil {
		return c
	}
	return def
}

// sources are the caches a table is built from.
type sources struct {
	ingresses networkinglisters.IngressLister
	classes   networkinglisters.IngressClassLister
	services  corelisters.ServiceLister
	secrets   corelisters.SecretLister
	slicesOf  func(namespace, service string) []*discoveryv1.EndpointSlice
}

// secretProblem is a TLS Secret an Ingress names that cannot be used.
type secretProblem struct {
	ingress *networkingv1.Ingress
	secret  string // namespace/name
	version string // the Secret's resourceVersion, "" when missing
	err     error
}

// builder builds one table.
type builder struct {
	src      sources
	certs    *certCache
	t        *table
	backends map[string]*backend
	problems []secretProblem
}

// build reads the caches into a new table. Problems with TLS Secrets are
// returned for the caller to report.
func build(src sources, certs *certCache) (*table, []secretProblem) {
	b := &builder{
		src: src, certs: certs, backends: map[string]*backend{},
		t: &table{
			exact: map[string]*hostRoutes{}, wildcard: map[string]*hostRoutes{}, anyHost: &hostRoutes{},
			certs:    certTable{exact: map[string]*tls.Certificate{}, wildcard: map[string]*tls.Certificate{}},
			services: map[string]bool{}, secrets: map[string]bool{},
		},
	}
	defer certs.sweep()
	classList, _ := src.classes.List(labels.Everything())
	cls := readClasses(classList)
	b.t.serving = cls.any()
	all, _ := src.ingresses.List(labels.Everything())
	var served []*networkingv1.Ingress
	for _, ing := range all {
		if cls.serves(ing) {
			served = append(served, ing)
		}
	}
	// The oldest Ingress wins every conflict, so agents agree.
	sort.Slice(served, func(i, j int) bool {
		a, c := served[i], served[j]
		if !a.CreationTimestamp.Equal(&c.CreationTimestamp) {
			return a.CreationTimestamp.Before(&c.CreationTimestamp)
		}
		if a.Namespace != c.Namespace {
			return a.Namespace < c.Namespace
		}
		return a.Name < c.Name
	})
	for _, ing := range served {
		b.addIngress(ing)
	}
	for _, h := range b.t.exact {
		sortRoutes(h)
	}
	for _, h := range b.t.wildcard {
		sortRoutes(h)
	}
	sortRoutes(b.t.anyHost)
	return b.t, b.problems
}

func sortRoutes(h *hostRoutes) {
	// Stable: equal paths keep the older Ingress (and its first path)
	// first.
	sort.SliceStable(h.routes, func(i, j int) bool { return h.routes[i].before(h.routes[j].pathRule) })
}

func (b *builder) hostRoutes(host string) *hostRoutes {
	m, key := b.t.exact, host
	switch {
	case host == "":
		return b.t.anyHost
	case strings.HasPrefix(host, "*."):
		m, key = b.t.wildcard, host[1:]
	}
	h := m[key]
	if h == nil {
		h = &hostRoutes{}
		m[key] = h
	}
	return h
}

func (b *builder) addIngress(ing *networkingv1.Ingress) {
	var hosts []string
	for _, r := range ing.Spec.Rules {
		host := strings.ToLower(r.Host)
		if host != "" && !slices.Contains(hosts, host) {
			hosts = append(hosts, host)
		}
		h := b.hostRoutes(host)
		if r.HTTP == nil {
			continue
		}
		for _, p := range r.HTTP.Paths {
			h.routes = append(h.routes, route{pathRule: newPathRule(p), backend: b.backend(ing.Namespace, &p.Backend)})
		}
	}
	if ing.Spec.DefaultBackend != nil {
		def := b.backend(ing.Namespace, ing.Spec.DefaultBackend)
		if b.t.defaultBackend == nil {
			b.t.defaultBackend = def
		}
		for _, host := range hosts {
			if h := b.hostRoutes(host); h.defaultBackend == nil {
				h.defaultBackend = def
			}
		}
	}
	for _, entry := range ing.Spec.TLS {
		if entry.SecretName == "" {
			continue // SNI routing alone: the default certificate
		}
		cert := b.cert(ing, entry.SecretName)
		if cert == nil {
			continue
		}
		tlsHosts := entry.Hosts
		if len(tlsHosts) == 0 {
			tlsHosts = hosts
		}
		for _, host := range tlsHosts {
			b.t.certs.add(strings.ToLower(host), cert)
		}
	}
}

// backend resolves an Ingress backend once per table: routes to the same
// Service port share its endpoints and round robin.
func (b *builder) backend(ns string, ib *networkingv1.IngressBackend) *backend {
	if ib.Service == nil {
		name := ns + "/resource"
		if ib.Resource != nil {
			name = ns + "/" + ib.Resource.Kind + "/" + ib.Resource.Name
		}
		return &backend{name: name, unavailable: "resource backends are not supported"}
	}
	key := backendKey(ns, ib.Service)
	if be, ok := b.backends[key]; ok {
		return be
	}
	b.t.services[ns+"/"+ib.Service.Name] = true
	svc, err := b.src.services.Services(ns).Get(ib.Service.Name)
	if err != nil {
		svc = nil
	}
	var eps []*discoveryv1.EndpointSlice
	if svc != nil {
		eps = b.src.slicesOf(ns, ib.Service.Name)
	}
	be := resolveBackend(key, ib.Service, svc, eps)
	b.backends[key] = be
	return be
}

// cert returns the usable certificate of the Secret ing names, nil (and a
// problem) when there is none.
func (b *builder) cert(ing *networkingv1.Ingress, name string) *tls.Certificate {
	key := ing.Namespace + "/" + name
	b.t.secrets[key] = true
	secret, err := b.src.secrets.Secrets(ing.Namespace).Get(name)
	if err != nil {
		if apierrors.IsNotFound(err) {
			err = errSecretNotFound
		}
		b.problems = append(b.problems, secretProblem{ingress: ing, secret: key, err: err})
		return nil
	}
	cert, err := b.certs.get(secret)
	if err != nil {
		b.problems = append(b.problems, secretProblem{ingress: ing, secret: key, version: secret.ResourceVersion, err: err})
		return nil
	}
	return cert
}

var errSecretNotFound = errors.New("no such Secret")
