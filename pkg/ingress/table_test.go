package ingress

import (
	"crypto/tls"
	"fmt"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	k8stypes "k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	networkinglisters "k8s.io/client-go/listers/networking/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
)

// testSources are real listers over indexers holding objs.
func testSources(t *testing.T, objs ...runtime.Object) sources {
	t.Helper()
	idx := func() cache.Indexer {
		return cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	}
	ings, classes, svcs, slicesIdx, secrets := idx(), idx(), idx(), idx(), idx()
	for _, o := range objs {
		var err error
		switch o.(type) {
		case *networkingv1.Ingress:
			err = ings.Add(o)
		case *networkingv1.IngressClass:
			err = classes.Add(o)
		case *corev1.Service:
			err = svcs.Add(o)
		case *discoveryv1.EndpointSlice:
			err = slicesIdx.Add(o)
		case *corev1.Secret:
			err = secrets.Add(o)
		default:
			t.Fatalf("unexpected %T", o)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	sl := discoverylisters.NewEndpointSliceLister(slicesIdx)
	return sources{
		ingresses: networkinglisters.NewIngressLister(ings),
		classes:   networkinglisters.NewIngressClassLister(classes),
		services:  corelisters.NewServiceLister(svcs),
		secrets:   corelisters.NewSecretLister(secrets),
		slicesOf: func(ns, name string) []*discoveryv1.EndpointSlice {
			out, _ := sl.EndpointSlices(ns).List(labels.SelectorFromSet(labels.Set{discoveryv1.LabelServiceName: name}))
			return out
		},
	}
}

var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func class(name, controller string, isDefault bool, age int) *networkingv1.IngressClass {
	ic := &networkingv1.IngressClass{
		ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(t0.Add(time.Duration(age) * time.Second))},
		Spec:       networkingv1.IngressClassSpec{Controller: controller},
	}
	if isDefault {
		ic.Annotations = map[string]string{networkingv1.AnnotationIsDefaultIngressClass: "true"}
	}
	return ic
}

// ing builds an Ingress created age seconds after t0.
func ing(name string, age int, mutate func(*networkingv1.Ingress)) *networkingv1.Ingress {
	i := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{
		Name: name, Namespace: "ns", UID: k8stypes.UID("uid-" + name), CreationTimestamp: metav1.NewTime(t0.Add(time.Duration(age) * time.Second)),
	}, Spec: networkingv1.IngressSpec{IngressClassName: ptr.To(DefaultClassName)}}
	mutate(i)
	return i
}

func rule(host string, paths ...networkingv1.HTTPIngressPath) networkingv1.IngressRule {
	return networkingv1.IngressRule{Host: host, IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: paths}}}
}

func hpath(typ networkingv1.PathType, p, svc string, port int32) networkingv1.HTTPIngressPath {
	return networkingv1.HTTPIngressPath{Path: p, PathType: &typ, Backend: svcBackend(svc, port)}
}

func svcBackend(svc string, port int32) networkingv1.IngressBackend {
	return networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: svc, Port: networkingv1.ServiceBackendPort{Number: port}}}
}

func service(name string, ports ...corev1.ServicePort) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"}, Spec: corev1.ServiceSpec{Ports: ports}}
}

// slice is an EndpointSlice of svc whose port portName is target, with
// endpoints "ip" (ready) or "ip!" (not ready).
func slice(name, svc, portName string, target int32, eps ...string) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: name, Namespace: "ns", Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To(portName), Port: ptr.To(target), Protocol: ptr.To(corev1.ProtocolTCP)}},
	}
	for _, e := range eps {
		ready := true
		if e[len(e)-1] == '!' {
			e, ready = e[:len(e)-1], false
		}
		s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{Addresses: []string{e}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(ready)}})
	}
	return s
}

// routeOf names the backend a request goes to: "" for a 404.
func routeOf(tab *table, host, p string) string {
	b := tab.route(normalizeHost(host), cleanPath(p))
	if b == nil {
		return ""
	}
	return b.name
}

func TestClasses(t *testing.T) {
	ours := class(DefaultClassName, ControllerName, true, 0)
	for _, tc := range []struct {
		name    string
		classes []*networkingv1.IngressClass
		ing     func(*networkingv1.Ingress)
		want    bool
	}{
		{"our class", []*networkingv1.IngressClass{ours}, func(*networkingv1.Ingress) {}, true},
		{"another of ours", []*networkingv1.IngressClass{ours, class("second", ControllerName, false, 1)},
			func(i *networkingv1.Ingress) { i.Spec.IngressClassName = ptr.To("second") }, true},
		{"another controller's", []*networkingv1.IngressClass{ours, class("nginx", "k8s.io/ingress-nginx", false, 1)},
			func(i *networkingv1.Ingress) { i.Spec.IngressClassName = ptr.To("nginx") }, false},
		{"a class that does not exist", []*networkingv1.IngressClass{ours},
			func(i *networkingv1.Ingress) { i.Spec.IngressClassName = ptr.To("gone") }, false},
		{"no class, ours the default", []*networkingv1.IngressClass{ours},
			func(i *networkingv1.Ingress) { i.Spec.IngressClassName = nil }, true},
		{"no class, ours not the default", []*networkingv1.IngressClass{class(DefaultClassName, ControllerName, false, 0)},
			func(i *networkingv1.Ingress) { i.Spec.IngressClassName = nil }, false},
		{"no class, a newer default of another controller", []*networkingv1.IngressClass{ours, class("nginx", "k8s.io/ingress-nginx", true, 1)},
			func(i *networkingv1.Ingress) { i.Spec.IngressClassName = nil }, false},
		{"no class, ours the newer default", []*networkingv1.IngressClass{class("nginx", "k8s.io/ingress-nginx", true, 0), class(DefaultClassName, ControllerName, true, 1)},
			func(i *networkingv1.Ingress) { i.Spec.IngressClassName = nil }, true},
		{"annotation naming ours", []*networkingv1.IngressClass{class(DefaultClassName, ControllerName, false, 0)}, func(i *networkingv1.Ingress) {
			i.Spec.IngressClassName = nil
			i.Annotations = map[string]string{classAnnotation: DefaultClassName}
		}, true},
		{"annotation naming another, ours the default", []*networkingv1.IngressClass{ours}, func(i *networkingv1.Ingress) {
			i.Spec.IngressClassName = nil
			i.Annotations = map[string]string{classAnnotation: "nginx"}
		}, false},
		{"being deleted", []*networkingv1.IngressClass{ours}, func(i *networkingv1.Ingress) { i.DeletionTimestamp = ptr.To(metav1.Now()) }, false},
	} {
		if got := readClasses(tc.classes).serves(ing("a", 0, tc.ing)); got != tc.want {
			t.Errorf("%s: served %v, want %v", tc.name, got, tc.want)
		}
	}
	if readClasses([]*networkingv1.IngressClass{class("nginx", "k8s.io/ingress-nginx", true, 0)}).any() {
		t.Error("another controller's class alone counts as ours")
	}
}

func TestTableRouting(t *testing.T) {
	objs := []runtime.Object{
		class(DefaultClassName, ControllerName, true, 0),
		class("nginx", "k8s.io/ingress-nginx", false, 0),
		// The older Ingress: hosts, a wildcard, a catch-all path.
		ing("old", 0, func(i *networkingv1.Ingress) {
			i.Spec.Rules = []networkingv1.IngressRule{
				rule("foo.example.com", hpath(prefix, "/", "foo", 80), hpath(exact, "/exact", "exact", 80)),
				rule("*.example.com", hpath(prefix, "/", "wild", 80)),
				rule("", hpath(prefix, "/api", "any-api", 80)),
			}
			i.Spec.DefaultBackend = &networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "global-default", Port: networkingv1.ServiceBackendPort{Number: 80}}}
		}),
		// The newer one conflicts on foo.example.com / and adds paths.
		ing("new", 1, func(i *networkingv1.Ingress) {
			i.Spec.Rules = []networkingv1.IngressRule{
				rule("foo.example.com", hpath(prefix, "/", "conflict", 80), hpath(prefix, "/exact", "prefix-exact", 80), hpath(prefix, "/longer/path", "longer", 80)),
				rule("bar.example.org", hpath(exact, "/only", "bar", 80)),
			}
			i.Spec.DefaultBackend = &networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "bar-default", Port: networkingv1.ServiceBackendPort{Number: 80}}}
		}),
		// Another controller's Ingress is not served.
		ing("other", 0, func(i *networkingv1.Ingress) {
			i.Spec.IngressClassName = ptr.To("nginx")
			i.Spec.Rules = []networkingv1.IngressRule{rule("nginx.example.org", hpath(prefix, "/", "nginx", 80))}
		}),
	}
	tab, problems := build(testSources(t, objs...), newCertCache())
	if len(problems) != 0 {
		t.Fatalf("problems: %v", problems)
	}
	if !tab.serving {
		t.Fatal("not serving with our class present")
	}
	for _, tc := range []struct{ host, path, want string }{
		{"foo.example.com", "/", "ns/foo:80"},        // the older Ingress wins the conflict
		{"FOO.example.com:80", "/x", "ns/foo:80"},    // host case and port ignored
		{"foo.example.com", "/exact", "ns/exact:80"}, // Exact over an equal Prefix of the newer one
		{"foo.example.com", "/exact/", "ns/prefix-exact:80"},
		{"foo.example.com", "/longer/path/x", "ns/longer:80"},
		{"foo.example.com", "/api", "ns/foo:80"},       // the host's own "/" before the catch-all's /api
		{"baz.example.com", "/", "ns/wild:80"},         // wildcard
		{"a.b.example.com", "/api/x", "ns/any-api:80"}, // a wildcard covers one label: the catch-all
		{"bar.example.org", "/only", "ns/bar:80"},
		{"bar.example.org", "/other", "ns/bar-default:80"},  // the host's Ingress's default backend
		{"bar.example.com", "/other", "ns/wild:80"},         // the wildcard's paths before a host's default backend
		{"unknown.org", "/nothing", "ns/global-default:80"}, // the oldest default backend
		{"nginx.example.org", "/", "ns/global-default:80"},  // not ours: as unknown
	} {
		if got := routeOf(tab, tc.host, tc.path); got != tc.want {
			t.Errorf("%s%s: routed to %q, want %q", tc.host, tc.path, got, tc.want)
		}
	}

	// Without default backends an unmatched request is a 404.
	tab, _ = build(testSources(t, class(DefaultClassName, ControllerName, true, 0),
		ing("a", 0, func(i *networkingv1.Ingress) {
			i.Spec.Rules = []networkingv1.IngressRule{rule("foo.example.com", hpath(prefix, "/app", "foo", 80))}
		})), newCertCache())
	for _, tc := range []struct{ host, path, want string }{
		{"foo.example.com", "/app/x", "ns/foo:80"},
		{"foo.example.com", "/application", ""},
		{"other.example.com", "/app", ""},
	} {
		if got := routeOf(tab, tc.host, tc.path); got != tc.want {
			t.Errorf("%s%s: routed to %q, want %q", tc.host, tc.path, got, tc.want)
		}
	}

	// Without a class of ours nothing is served and the ports are let go.
	tab, _ = build(testSources(t, objs[1:]...), newCertCache())
	if tab.serving || routeOf(tab, "foo.example.com", "/") != "" {
		t.Errorf("served without our class: serving=%v", tab.serving)
	}
}

func TestBackendEndpoints(t *testing.T) {
	named := networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "web", Port: networkingv1.ServiceBackendPort{Name: "http"}}}
	objs := []runtime.Object{
		class(DefaultClassName, ControllerName, true, 0),
		ing("a", 0, func(i *networkingv1.Ingress) {
			i.Spec.Rules = []networkingv1.IngressRule{rule("",
				hpath(prefix, "/num", "web", 80),
				networkingv1.HTTPIngressPath{Path: "/named", PathType: &prefix, Backend: named},
				hpath(prefix, "/admin", "web", 9000),
				hpath(prefix, "/missing", "missing", 80),
				hpath(prefix, "/noready", "down", 80),
			)}
		}),
		service("web",
			corev1.ServicePort{Name: "http", Port: 80, TargetPort: intstr.FromString("http")},
			corev1.ServicePort{Name: "admin", Port: 9000, TargetPort: intstr.FromInt32(9090)},
			corev1.ServicePort{Name: "udp", Port: 53, Protocol: corev1.ProtocolUDP}),
		service("down", corev1.ServicePort{Port: 80}),
		// Two slices: the named target port differs between them.
		slice("web-1", "web", "http", 8080, "10.0.0.1", "10.0.0.2!"),
		slice("web-2", "web", "http", 8081, "10.0.0.3", "10.0.0.1"),
		slice("web-3", "web", "admin", 9090, "10.0.0.4"),
		slice("down-1", "down", "", 80, "10.0.0.9!"),
	}
	tab, _ := build(testSources(t, objs...), newCertCache())
	for _, tc := range []struct {
		path        string
		want        []string
		unavailable bool
	}{
		{"/num", []string{"10.0.0.1:8080", "10.0.0.1:8081", "10.0.0.3:8081"}, false},
		{"/named", []string{"10.0.0.1:8080", "10.0.0.1:8081", "10.0.0.3:8081"}, false},
		{"/admin", []string{"10.0.0.4:9090"}, false},
		{"/missing", nil, true},
		{"/noready", nil, true},
	} {
		b := tab.route("x", tc.path)
		if b == nil {
			t.Fatalf("%s: no route", tc.path)
		}
		if !slices.Equal(b.endpoints, tc.want) || (b.unavailable != "") != tc.unavailable {
			t.Errorf("%s: endpoints %v (unavailable %q), want %v", tc.path, b.endpoints, b.unavailable, tc.want)
		}
	}
	// Routes to the same Service port share one round robin.
	if tab.route("x", "/num") != tab.route("x", "/num/again") {
		t.Error("same backend resolved twice")
	}
	b := tab.route("x", "/num")
	var picked []string
	for range 6 {
		ep, _ := b.pick()
		picked = append(picked, ep)
	}
	want := []string{"10.0.0.1:8080", "10.0.0.1:8081", "10.0.0.3:8081", "10.0.0.1:8080", "10.0.0.1:8081", "10.0.0.3:8081"}
	if !slices.Equal(picked, want) {
		t.Errorf("round robin picked %v, want %v", picked, want)
	}
	if _, ok := tab.route("x", "/missing").pick(); ok {
		t.Error("picked an endpoint of a missing Service")
	}
	if !tab.services["ns/web"] || !tab.services["ns/missing"] || tab.services["ns/other"] {
		t.Errorf("referenced services %v", tab.services)
	}
}

func TestTableCertificates(t *testing.T) {
	fooCert, fooSecret := testCertSecret(t, "foo-tls", "foo.example.com")
	wildCert, wildSecret := testCertSecret(t, "wild-tls", "*.example.com")
	_, otherSecret := testCertSecret(t, "other-tls", "foo.example.com")
	bad := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "bad-tls", Namespace: "ns", ResourceVersion: "7"}, Type: corev1.SecretTypeTLS,
		Data: map[string][]byte{corev1.TLSCertKey: []byte("not a cert"), corev1.TLSPrivateKeyKey: []byte("nor a key")}}
	opaque := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "opaque", Namespace: "ns"}, Type: corev1.SecretTypeOpaque,
		Data: fooSecret.Data}
	objs := []runtime.Object{
		class(DefaultClassName, ControllerName, true, 0), fooSecret, wildSecret, otherSecret, bad, opaque,
		ing("a", 0, func(i *networkingv1.Ingress) {
			i.Spec.Rules = []networkingv1.IngressRule{rule("foo.example.com", hpath(prefix, "/", "foo", 80))}
			i.Spec.TLS = []networkingv1.IngressTLS{
				{SecretName: "foo-tls"}, // no hosts: the Ingress's rule hosts
				{Hosts: []string{"*.example.com"}, SecretName: "wild-tls"},
				{Hosts: []string{"bad.example.com"}, SecretName: "bad-tls"},
				{Hosts: []string{"opaque.example.com"}, SecretName: "opaque"},
				{Hosts: []string{"gone.example.com"}, SecretName: "gone"},
			}
		}),
		// A newer Ingress does not take foo.example.com's certificate.
		ing("b", 1, func(i *networkingv1.Ingress) {
			i.Spec.TLS = []networkingv1.IngressTLS{{Hosts: []string{"foo.example.com"}, SecretName: "other-tls"}}
		}),
	}
	cc := newCertCache()
	tab, problems := build(testSources(t, objs...), cc)
	def := &tls.Certificate{}
	for sni, want := range map[string]*tls.Certificate{
		"foo.example.com":     fooCert,
		"FOO.example.com":     fooCert,
		"bar.example.com":     wildCert,
		"bad.example.com":     wildCert, // its own Secret is bad; the wildcard still covers it
		"a.bar.example.com":   def,
		"example.com":         def,
		"":                    def,
		"unknown.example.org": def,
	} {
		got := tab.certificate(sni, def)
		if (want == def) != (got == def) || (want != def && string(got.Certificate[0]) != string(want.Certificate[0])) {
			t.Errorf("SNI %q: wrong certificate", sni)
		}
	}
	var probs []string
	for _, p := range problems {
		probs = append(probs, fmt.Sprintf("%s %s %q", p.ingress.Name, p.secret, p.version))
	}
	slices.Sort(probs)
	want := []string{`a ns/bad-tls "7"`, `a ns/gone ""`, `a ns/opaque ""`}
	if !slices.Equal(probs, want) {
		t.Errorf("problems %v, want %v", probs, want)
	}
	// Parsed once per Secret version.
	before := cc.entries["ns/foo-tls"].cert
	tab2, _ := build(testSources(t, objs...), cc)
	if cc.entries["ns/foo-tls"].cert != before || tab2.certificate("foo.example.com", def) != before {
		t.Error("an unchanged Secret was parsed again")
	}
}
