package ingress

import (
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
)

var (
	exact    = networkingv1.PathTypeExact
	prefix   = networkingv1.PathTypePrefix
	implSpec = networkingv1.PathTypeImplementationSpecific
)

// The table of examples of upstream's Ingress documentation ("Examples"
// under "Path types"), one path at a time.
func TestPathMatchDocExamples(t *testing.T) {
	for _, tc := range []struct {
		typ         networkingv1.PathType
		rule, req   string
		wantMatched bool
	}{
		{prefix, "/", "/", true},
		{prefix, "/", "/anything/at/all", true},
		{exact, "/foo", "/foo", true},
		{exact, "/foo", "/bar", false},
		{exact, "/foo", "/foo/", false},
		{exact, "/foo/", "/foo", false},
		{prefix, "/foo", "/foo", true},
		{prefix, "/foo", "/foo/", true},
		{prefix, "/foo/", "/foo", true},
		{prefix, "/foo/", "/foo/", true},
		{prefix, "/aaa/bb", "/aaa/bbb", false},
		{prefix, "/aaa/bbb", "/aaa/bbb", true},
		{prefix, "/aaa/bbb/", "/aaa/bbb", true},    // ignores the trailing slash
		{prefix, "/aaa/bbb", "/aaa/bbb/", true},    // matches the trailing slash
		{prefix, "/aaa/bbb", "/aaa/bbb/ccc", true}, // matches the subpath
		{prefix, "/aaa/bbb", "/aaa/bbbxyz", false}, // no string prefix match
		{prefix, "/aaa", "/ccc", false},
		// The task's: /foo matches /foo, /foo/, /foo/bar, never /foobar.
		{prefix, "/foo", "/foo/bar", true},
		{prefix, "/foo", "/foobar", false},
		// ImplementationSpecific is Prefix here.
		{implSpec, "/foo", "/foo/bar", true},
		{implSpec, "/foo", "/foobar", false},
		// Exact is case-sensitive, as are prefix elements.
		{exact, "/foo", "/FOO", false},
		{prefix, "/foo", "/Foo/bar", false},
	} {
		typ := tc.typ
		r := newPathRule(networkingv1.HTTPIngressPath{Path: tc.rule, PathType: &typ})
		if got := r.matches(cleanPath(tc.req)); got != tc.wantMatched {
			t.Errorf("%s %q on %q: matched %v, want %v", tc.typ, tc.rule, tc.req, got, tc.wantMatched)
		}
	}
}

// The documentation's examples with several paths: which one wins.
func TestPathPrecedenceDocExamples(t *testing.T) {
	type p struct {
		typ  networkingv1.PathType
		path string
	}
	for _, tc := range []struct {
		paths []p
		req   string
		want  string // "typ path" of the winner, "" for none
	}{
		{[]p{{prefix, "/"}, {prefix, "/aaa"}}, "/aaa/ccc", "Prefix /aaa"},
		{[]p{{prefix, "/"}, {prefix, "/aaa"}, {prefix, "/aaa/bbb"}}, "/aaa/bbb", "Prefix /aaa/bbb"},
		{[]p{{prefix, "/"}, {prefix, "/aaa"}, {prefix, "/aaa/bbb"}}, "/ccc", "Prefix /"},
		{[]p{{prefix, "/aaa"}}, "/ccc", ""},
		// Mixed: Exact wins over Prefix of the same path, in either order.
		{[]p{{prefix, "/foo"}, {exact, "/foo"}}, "/foo", "Exact /foo"},
		{[]p{{exact, "/foo"}, {prefix, "/foo"}}, "/foo", "Exact /foo"},
		{[]p{{exact, "/foo"}, {prefix, "/foo"}}, "/foo/x", "Prefix /foo"},
		// The longest wins even when Exact is shorter.
		{[]p{{exact, "/foo"}, {prefix, "/foo/bar"}}, "/foo/bar", "Prefix /foo/bar"},
		{[]p{{prefix, "/foo/bar"}, {exact, "/foo/bar/baz"}}, "/foo/bar/baz", "Exact /foo/bar/baz"},
	} {
		h := &hostRoutes{}
		for _, x := range tc.paths {
			typ := x.typ
			h.routes = append(h.routes, route{
				pathRule: newPathRule(networkingv1.HTTPIngressPath{Path: x.path, PathType: &typ}),
				backend:  &backend{name: string(x.typ) + " " + x.path},
			})
		}
		sortRoutes(h)
		got := ""
		if b := h.match(cleanPath(tc.req)); b != nil {
			got = b.name
		}
		if got != tc.want {
			t.Errorf("paths %v, request %q: %q wins, want %q", tc.paths, tc.req, got, tc.want)
		}
	}
}

func TestCleanPath(t *testing.T) {
	for in, want := range map[string]string{
		"":                   "/",
		"/":                  "/",
		"/foo":               "/foo",
		"/foo/":              "/foo/",
		"//foo///bar":        "/foo/bar",
		"/public/../private": "/private",
		"/a/./b/":            "/a/b/",
		"/../../etc":         "/etc",
		"foo":                "/foo",
	} {
		if got := cleanPath(in); got != want {
			t.Errorf("cleanPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNormalizeHost(t *testing.T) {
	for in, want := range map[string]string{
		"Foo.Example.COM":      "foo.example.com",
		"foo.example.com:8080": "foo.example.com",
		"foo.example.com.":     "foo.example.com",
		"[::1]:80":             "::1",
		"[::1]":                "::1",
		"":                     "",
	} {
		if got := normalizeHost(in); got != want {
			t.Errorf("normalizeHost(%q) = %q, want %q", in, got, want)
		}
	}
}

// Upstream's spec: "*.foo.com" matches "bar.foo.com" but not
// "baz.bar.foo.com" nor "foo.com".
func TestWildcardHosts(t *testing.T) {
	tab := &table{
		exact:    map[string]*hostRoutes{"bar.foo.com": routesTo("exact")},
		wildcard: map[string]*hostRoutes{".foo.com": routesTo("wildcard")},
		anyHost:  routesTo("any"),
	}
	for host, want := range map[string]string{
		"bar.foo.com":     "exact",
		"qux.foo.com":     "wildcard",
		"baz.bar.foo.com": "any",
		"foo.com":         "any",
		"xfoo.com":        "any",
		"other.org":       "any",
	} {
		if got := tab.route(host, "/").name; got != want {
			t.Errorf("host %q routed to %q, want %q", host, got, want)
		}
	}
}

func routesTo(name string) *hostRoutes {
	return &hostRoutes{routes: []route{{pathRule: newPathRule(networkingv1.HTTPIngressPath{Path: "/", PathType: &prefix}), backend: &backend{name: name}}}}
}
