package ingress

import (
	"net"
	"path"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
)

// normalizeHost is the name a request's Host (or SNI) is matched by:
// lower case, without a port or a trailing dot. Ingress hosts are DNS
// names (validation refuses IPs), so an IP host simply matches no rule.
func normalizeHost(h string) string {
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	} else if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
		h = h[1 : len(h)-1]
	}
	return strings.TrimSuffix(strings.ToLower(h), ".")
}

// wildcardKey is the key a host is looked up by among the wildcard rules:
// its name without the first label ("foo.bar.com" → ".bar.com"), which is
// the rule host "*.bar.com" without its star. A wildcard covers exactly
// one label, as upstream's spec says: "*.foo.com" matches "bar.foo.com",
// not "baz.bar.foo.com" nor "foo.com".
func wildcardKey(host string) (string, bool) {
	i := strings.IndexByte(host, '.')
	if i <= 0 {
		return "", false
	}
	return host[i:], true
}

// cleanPath resolves dot segments and repeated slashes, keeping a
// trailing slash, so that a request is matched (and forwarded) by the
// path its backend will read: "/public/../private" is "/private".
func cleanPath(p string) string {
	if p == "" {
		return "/"
	}
	if p[0] != '/' {
		p = "/" + p
	}
	c := path.Clean(p)
	if c != "/" && strings.HasSuffix(p, "/") {
		c += "/"
	}
	return c
}

// pathRule is one path of a rule, ready to match.
type pathRule struct {
	exact bool
	path  string   // as written; an Exact rule compares it whole
	elems []string // a Prefix rule's non-empty /-separated elements
	// length orders matches, longest first: the path's length without a
	// trailing slash ("/foo/" and "/foo" are the same prefix).
	length int
}

// newPathRule reads an HTTPIngressPath. ImplementationSpecific leaves
// the meaning to the controller; here it is Prefix, as traefik makes it.
// An empty path is "/" (validation checks ImplementationSpecific paths
// less).
func newPathRule(p networkingv1.HTTPIngressPath) pathRule {
	value := p.Path
	if value == "" {
		value = "/"
	}
	r := pathRule{path: value, length: len(strings.TrimRight(value, "/"))}
	if p.PathType != nil && *p.PathType == networkingv1.PathTypeExact {
		r.exact = true
		return r
	}
	r.elems = splitPath(value)
	return r
}

// matches tells whether the (cleaned) request path p matches: Exact is
// string equality, case-sensitive; Prefix compares element by element, so
// "/foo" matches "/foo", "/foo/" and "/foo/bar" but not "/foobar".
func (r pathRule) matches(p string) bool {
	if r.exact {
		return p == r.path
	}
	if len(r.elems) == 0 {
		return true
	}
	rest := p
	for _, e := range r.elems {
		rest = strings.TrimLeft(rest, "/")
		seg, after, _ := strings.Cut(rest, "/")
		if seg != e {
			return false
		}
		rest = after
	}
	return true
}

// before orders two rules that both match, the winner first: the longer
// path, then Exact over Prefix; equal rules keep their order (the older
// Ingress first).
func (r pathRule) before(o pathRule) bool {
	if r.length != o.length {
		return r.length > o.length
	}
	return r.exact && !o.exact
}

func splitPath(p string) []string {
	var out []string
	for _, e := range strings.Split(p, "/") {
		if e != "" {
			out = append(out, e)
		}
	}
	return out
}
