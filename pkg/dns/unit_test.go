package dns

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"
)

// newUnitServer builds a server whose informers are fed by a fake
// clientset holding objs, synced, without sockets: respond is called
// directly.
func newUnitServer(t testing.TB, objs ...runtime.Object) *Server {
	t.Helper()
	factory := informers.NewSharedInformerFactory(fake.NewClientset(objs...), 0)
	s, err := New(Config{Addresses: []string{"127.0.0.1:0"}, Informers: factory, NoForward: true, Log: testLog(),
		ReverseCIDRs: []netip.Prefix{netip.MustParsePrefix("10.43.0.0/16"), netip.MustParsePrefix("fd43::/108")}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); factory.Shutdown() })
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), s.store.hasSynced...) {
		t.Fatal("caches did not sync")
	}
	s.synced.Store(true)
	s.fwd.Store(newForwarder(nil, time.Second, 1))
	return s
}

func query(s *Server, name string, qtype uint16) *mdns.Msg {
	m := new(mdns.Msg)
	m.SetQuestion(name, qtype)
	return s.respond(context.Background(), m, false)
}

// TestDualStackClusterIP covers IPv6 cluster IPs, which this API server
// does not allocate (its Service range is IPv4 only), from a fake
// clientset's informers.
func TestDualStackClusterIP(t *testing.T) {
	svc := func(name string, ips ...string) *corev1.Service {
		return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"},
			Spec: corev1.ServiceSpec{ClusterIP: ips[0], ClusterIPs: ips, Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}}
	}
	s := newUnitServer(t, svc("dual", "10.43.0.20", "fd43::20"), svc("six", "fd43::30"))
	cases := []struct {
		name  string
		qtype uint16
		rcode int
		want  []string
	}{
		{"dual.ns.svc.cluster.local.", mdns.TypeA, mdns.RcodeSuccess, []string{"A 10.43.0.20"}},
		{"dual.ns.svc.cluster.local.", mdns.TypeAAAA, mdns.RcodeSuccess, []string{"AAAA fd43::20"}},
		{"dual.ns.svc.cluster.local.", mdns.TypeANY, mdns.RcodeSuccess, []string{"A 10.43.0.20", "AAAA fd43::20"}},
		{"six.ns.svc.cluster.local.", mdns.TypeAAAA, mdns.RcodeSuccess, []string{"AAAA fd43::30"}},
		{"six.ns.svc.cluster.local.", mdns.TypeA, mdns.RcodeSuccess, nil},
		{"_http._tcp.six.ns.svc.cluster.local.", mdns.TypeSRV, mdns.RcodeSuccess, []string{"SRV 0 100 80 six.ns.svc.cluster.local."}},
		{mustReverse(t, "fd43::30"), mdns.TypePTR, mdns.RcodeSuccess, []string{"PTR six.ns.svc.cluster.local."}},
		{mustReverse(t, "fd43::31"), mdns.TypePTR, mdns.RcodeNameError, nil},
		{mustReverse(t, "10.43.0.20"), mdns.TypePTR, mdns.RcodeSuccess, []string{"PTR dual.ns.svc.cluster.local."}},
		{mustReverse(t, "10.43.0.20"), mdns.TypeA, mdns.RcodeSuccess, nil},
		{"43.10.in-addr.arpa.", mdns.TypeSOA, mdns.RcodeSuccess, []string{"SOA ns.dns.cluster.local. hostmaster.cluster.local. SERIAL 7200 1800 86400 5"}},
		{"0.43.10.in-addr.arpa.", mdns.TypePTR, mdns.RcodeSuccess, nil},
	}
	for _, c := range cases {
		r := query(s, c.name, c.qtype)
		want := slices.Clone(c.want)
		for i := range want {
			want[i] = strings.ReplaceAll(want[i], "SERIAL", fmt.Sprint(s.serial))
		}
		slices.Sort(want)
		if r.Rcode != c.rcode || fmt.Sprint(answers(r.Answer)) != fmt.Sprint(want) {
			t.Errorf("%s %s: want %s %q, got:\n%v", c.name, mdns.TypeToString[c.qtype], mdns.RcodeToString[c.rcode], want, r)
		}
		if len(r.Answer) == 0 && len(r.Ns) != 1 {
			t.Errorf("%s %s: negative answer without SOA:\n%v", c.name, mdns.TypeToString[c.qtype], r)
		}
	}
}

func mustReverse(t testing.TB, ip string) string {
	r, err := mdns.ReverseAddr(ip)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestNotSyncedIsServfail: before the caches are complete an absent name
// may exist, so nothing of the zone is answered, not even NXDOMAIN.
func TestNotSyncedIsServfail(t *testing.T) {
	s := newUnitServer(t)
	s.synced.Store(false)
	if r := query(s, "x.ns.svc.cluster.local.", mdns.TypeA); r.Rcode != mdns.RcodeServerFailure {
		t.Fatalf("reply:\n%v", r)
	}
}

func TestParseZoneName(t *testing.T) {
	const zone = "cluster.local."
	cases := map[string]qname{
		"cluster.local.":                            {kind: kindApex},
		"svc.cluster.local.":                        {kind: kindEmpty},
		"dns.cluster.local.":                        {kind: kindEmpty},
		"ns.dns.cluster.local.":                     {kind: kindNS},
		"dns-version.cluster.local.":                {kind: kindVersion},
		"x.dns-version.cluster.local.":              {},
		"default.svc.cluster.local.":                {kind: kindNamespace, namespace: "default"},
		"web.default.svc.cluster.local.":            {kind: kindService, namespace: "default", service: "web"},
		"web-0.web.default.svc.cluster.local.":      {kind: kindEndpoint, namespace: "default", service: "web", endpoint: "web-0"},
		"_tcp.web.default.svc.cluster.local.":       {kind: kindProto, namespace: "default", service: "web", proto: "TCP"},
		"_http._tcp.web.default.svc.cluster.local.": {kind: kindSRV, namespace: "default", service: "web", port: "http", proto: "TCP"},
		"http._tcp.web.default.svc.cluster.local.":  {},
		"_._tcp.web.default.svc.cluster.local.":     {},
		"a.b.c.web.default.svc.cluster.local.":      {},
		"10-1-2-3.default.pod.cluster.local.":       {kind: kindPod, namespace: "default", pod: netip.MustParseAddr("10.1.2.3")},
		"fd00--1.default.pod.cluster.local.":        {kind: kindPod, namespace: "default", pod: netip.MustParseAddr("fd00::1")},
		"010-1-2-3.default.pod.cluster.local.":      {},
		"10-1-2.default.pod.cluster.local.":         {},
		"default.pod.cluster.local.":                {kind: kindPodNS, namespace: "default"},
		"x.cluster.local.":                          {},
	}
	for name, want := range cases {
		if got := parseZoneName(name, zone); got != want {
			t.Errorf("%s: got %+v, want %+v", name, got, want)
		}
	}
}

func TestReverseNames(t *testing.T) {
	for _, ip := range []string{"10.43.0.1", "0.0.0.0", "255.255.255.255", "fd00::1", "2001:db8::abcd:1"} {
		name := mustReverse(t, ip)
		got, ok := reverseAddr(name)
		if !ok || got != netip.MustParseAddr(ip) {
			t.Errorf("%s: got %v %v, want %s", name, got, ok, ip)
		}
	}
	for _, name := range []string{"1.0.43.in-addr.arpa.", "01.0.43.10.in-addr.arpa.", "256.0.43.10.in-addr.arpa.", "x.0.43.10.in-addr.arpa.", "1.0.0.ip6.arpa."} {
		if got, ok := reverseAddr(name); ok {
			t.Errorf("%s: parsed as %v", name, got)
		}
	}
	zones := map[string]string{
		"10.43.0.0/16": "43.10.in-addr.arpa.", "10.42.0.0/15": "10.in-addr.arpa.", "0.0.0.0/0": "in-addr.arpa.",
		"fd43::/108": strings.Repeat("0.", 23) + "3.4.d.f.ip6.arpa.", // 27 nibbles
	}
	for p, want := range zones {
		if got := reverseZone(netip.MustParsePrefix(p)); got != want {
			t.Errorf("%s: got %s, want %s", p, got, want)
		}
	}
}

// TestUpstreamsFromResolvConf: the host's nameservers, without the
// server's own address.
func TestUpstreamsFromResolvConf(t *testing.T) {
	path := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(path, []byte("search example.org\nnameserver 192.0.2.53\nnameserver 127.0.0.1\nnameserver 2001:db8::53\noptions ndots:2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := Config{ResolvConf: path, Log: testLog()}
	cases := []struct {
		own  []string
		want []string
	}{
		{[]string{"10.43.0.10:53"}, []string{"192.0.2.53:53", "127.0.0.1:53", "[2001:db8::53]:53"}},
		{[]string{"127.0.0.1:53"}, []string{"192.0.2.53:53", "[2001:db8::53]:53"}},
		{[]string{"0.0.0.0:53"}, []string{"192.0.2.53:53", "[2001:db8::53]:53"}},
		{[]string{"127.0.0.1:5353"}, []string{"192.0.2.53:53", "127.0.0.1:53", "[2001:db8::53]:53"}},
	}
	for _, c := range cases {
		var own []netip.AddrPort
		for _, o := range c.own {
			own = append(own, netip.MustParseAddrPort(o))
		}
		got, err := cfg.upstreams(own)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("own %v: upstreams %v, want %v", c.own, got, c.want)
		}
	}
	explicit := Config{Upstreams: []string{"192.0.2.1", "192.0.2.2:5353"}, Log: testLog()}
	if got, _ := explicit.upstreams(nil); !slices.Equal(got, []string{"192.0.2.1:53", "192.0.2.2:5353"}) {
		t.Errorf("explicit upstreams: %v", got)
	}
	if _, err := (&Config{ResolvConf: filepath.Join(t.TempDir(), "missing"), Log: testLog()}).upstreams(nil); err == nil {
		t.Error("a missing resolv.conf is no error")
	}
}

func TestNewChecksConfig(t *testing.T) {
	f := informers.NewSharedInformerFactory(fake.NewClientset(), 0)
	for _, c := range []Config{
		{Addresses: []string{"127.0.0.1:0"}},
		{Informers: f},
		{Informers: f, Addresses: []string{"127.0.0.1"}},
		{Informers: f, Addresses: []string{"127.0.0.1:0"}, Domain: "bad..domain"},
	} {
		if _, err := New(c); err == nil {
			t.Errorf("config %+v accepted", c)
		}
	}
}
