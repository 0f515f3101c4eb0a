package dns_test

import (
	"context"
	"fmt"
	"github.com/flotilla-io/flotilla/pkg/dns"
	"net/netip"
	"slices"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/flotilla-io/flotilla/pkg/server/testserver"
)

const testNS = "dns-test"

func createNamespace(t *testing.T, cs kubernetes.Interface, name string) {
	t.Helper()
	if _, err := cs.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
}

func createService(t *testing.T, cs kubernetes.Interface, svc *corev1.Service) *corev1.Service {
	t.Helper()
	if svc.Namespace == "" {
		svc.Namespace = testNS
	}
	out, err := cs.CoreV1().Services(svc.Namespace).Create(context.Background(), svc, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create service %s: %v", svc.Name, err)
	}
	return out
}

// slice builds an EndpointSlice of service with endpoints "ip[=hostname]"
// (ready unless listed in notReady) and the given ports. No selector is set
// on the tests' Services, so no controller manages these slices.
func createSlice(t *testing.T, cs kubernetes.Interface, service, name string, family discoveryv1.AddressType, ports []discoveryv1.EndpointPort, eps ...discoveryv1.Endpoint) {
	t.Helper()
	sl := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: testNS, Labels: map[string]string{
			discoveryv1.LabelServiceName: service,
			discoveryv1.LabelManagedBy:   "dns-test",
		}},
		AddressType: family,
		Endpoints:   eps,
		Ports:       ports,
	}
	if _, err := cs.DiscoveryV1().EndpointSlices(testNS).Create(context.Background(), sl, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create endpointslice %s: %v", name, err)
	}
}

func ep(ip, hostname string, ready bool) discoveryv1.Endpoint {
	e := discoveryv1.Endpoint{Addresses: []string{ip}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(ready)}}
	if hostname != "" {
		e.Hostname = ptr.To(hostname)
	}
	return e
}

func port(name string, proto corev1.Protocol, n int32) discoveryv1.EndpointPort {
	return discoveryv1.EndpointPort{Name: ptr.To(name), Protocol: ptr.To(proto), Port: ptr.To(n)}
}

func revName(t *testing.T, ip string) string {
	t.Helper()
	r, err := mdns.ReverseAddr(ip)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// checkNegative asserts an authoritative negative answer with the zone's
// SOA in the authority section.
func checkNegative(t *testing.T, r *mdns.Msg, rcode int, zone string) {
	t.Helper()
	if r.Rcode != rcode || len(r.Answer) != 0 || !r.Authoritative {
		t.Fatalf("want authoritative %s without dns.Answers, got:\n%v", mdns.RcodeToString[rcode], r)
	}
	if len(r.Ns) != 1 {
		t.Fatalf("want the SOA in the authority section, got:\n%v", r)
	}
	soa, ok := r.Ns[0].(*mdns.SOA)
	if !ok || soa.Hdr.Name != zone || soa.Minttl != dns.DefaultTTL {
		t.Fatalf("want SOA of %s with minimum %d, got %v", zone, dns.DefaultTTL, r.Ns[0])
	}
}

// TestRecords creates Services and EndpointSlices through the API of a
// real control plane and reads every kind of record back over UDP and TCP.
func TestRecords(t *testing.T) {
	in := testserver.Start(t, testserver.Options{})
	cs := in.Clientset(t)
	createNamespace(t, cs, testNS)
	_, addr := dns.StartDNS(t, cs, func(c *dns.Config) {
		c.ReverseCIDRs = []netip.Prefix{netip.MustParsePrefix("10.43.0.0/16"), netip.MustParsePrefix("10.42.0.0/16"), netip.MustParsePrefix("fd00::/64")}
		c.NameserverIPs = []netip.Addr{netip.MustParseAddr("10.43.0.10")}
	})

	web := createService(t, cs, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{
			{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP},
			{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP},
		}},
	})
	webIP := web.Spec.ClusterIP
	createService(t, cs, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "db"},
		Spec:       corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Ports: []corev1.ServicePort{{Name: "pg", Port: 5432}}},
	})
	pgPort := []discoveryv1.EndpointPort{port("pg", corev1.ProtocolTCP, 5432)}
	createSlice(t, cs, "db", "db-a", discoveryv1.AddressTypeIPv4, pgPort,
		ep("10.42.0.5", "db-0", true), ep("10.42.0.6", "db-1", true), ep("10.42.0.8", "db-3", false))
	createSlice(t, cs, "db", "db-b", discoveryv1.AddressTypeIPv4, pgPort,
		ep("10.42.0.7", "", true), ep("10.42.0.5", "db-0", true)) // 10.42.0.5 in two slices: answered once
	createService(t, cs, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "all"},
		Spec:       corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, PublishNotReadyAddresses: true},
	})
	createSlice(t, cs, "all", "all-a", discoveryv1.AddressTypeIPv4, nil, ep("10.42.0.20", "", true), ep("10.42.0.21", "", false))
	createService(t, cs, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "empty"}, Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone}})
	createService(t, cs, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "six"},
		Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, IPFamilies: []corev1.IPFamily{corev1.IPv6Protocol},
			Ports: []corev1.ServicePort{{Name: "http", Port: 80}}},
	})
	createSlice(t, cs, "six", "six-a", discoveryv1.AddressTypeIPv6, []discoveryv1.EndpointPort{port("http", corev1.ProtocolTCP, 8080)},
		ep("fd00::5", "six-0", true), ep("fd00::6", "", true))
	createService(t, cs, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "ext"},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "www.example.org"},
	})
	createService(t, cs, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "alias"},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "web." + testNS + ".svc.cluster.local"},
	})
	const zone = "cluster.local."
	svcName := func(s string) string { return s + "." + testNS + ".svc." + zone }

	// The last object created is in the cache: everything before is too.
	dns.EventuallyAnswers(t, addr, svcName("alias"), mdns.TypeCNAME, mdns.RcodeSuccess, "CNAME "+svcName("web"))

	t.Run("ClusterIP A", func(t *testing.T) {
		r := dns.Ask(t, "udp", addr, svcName("web"), mdns.TypeA, 0)
		if r.Rcode != mdns.RcodeSuccess || !r.Authoritative || len(r.Answer) != 1 {
			t.Fatalf("reply:\n%v", r)
		}
		a := r.Answer[0].(*mdns.A)
		if a.A.String() != webIP || a.Hdr.Ttl != dns.DefaultTTL || a.Hdr.Name != svcName("web") {
			t.Fatalf("answer %v, want %s with TTL %d", a, webIP, dns.DefaultTTL)
		}
		tcp := dns.Ask(t, "tcp", addr, svcName("web"), mdns.TypeA, 0)
		if fmt.Sprint(dns.Answers(tcp.Answer)) != fmt.Sprint(dns.Answers(r.Answer)) {
			t.Fatalf("tcp answer %v differs from udp %v", tcp.Answer, r.Answer)
		}
	})
	t.Run("case-insensitive", func(t *testing.T) {
		name := "WeB.Dns-TEST.sVc.Cluster.LOCAL."
		r := dns.Ask(t, "udp", addr, name, mdns.TypeA, 0)
		if r.Rcode != mdns.RcodeSuccess || len(r.Answer) != 1 || r.Answer[0].(*mdns.A).A.String() != webIP {
			t.Fatalf("reply:\n%v", r)
		}
		if r.Answer[0].Header().Name != name || r.Question[0].Name != name {
			t.Fatalf("owner %q / question %q: want the name as asked, %q", r.Answer[0].Header().Name, r.Question[0].Name, name)
		}
	})
	t.Run("NODATA for AAAA of an IPv4 Service", func(t *testing.T) {
		checkNegative(t, dns.Ask(t, "udp", addr, svcName("web"), mdns.TypeAAAA, 0), mdns.RcodeSuccess, zone)
		checkNegative(t, dns.Ask(t, "udp", addr, svcName("web"), mdns.TypeMX, 0), mdns.RcodeSuccess, zone)
	})
	t.Run("NXDOMAIN", func(t *testing.T) {
		for _, name := range []string{
			svcName("nope"), "nope.svc." + zone, "x.y." + svcName("web"), "db-3." + svcName("db"),
			"_http._udp." + svcName("web"), "_nope._tcp." + svcName("web"), "_sctp." + svcName("web"),
			svcName("empty"), "other." + zone, "not-an-ip." + testNS + ".pod." + zone, "nope." + zone,
		} {
			checkNegative(t, dns.Ask(t, "udp", addr, name, mdns.TypeA, 0), mdns.RcodeNameError, zone)
		}
	})
	t.Run("NODATA for names with names below them", func(t *testing.T) {
		for _, name := range []string{zone, "svc." + zone, testNS + ".svc." + zone, "pod." + zone, testNS + ".pod." + zone, "_tcp." + svcName("web"), "_http._tcp." + svcName("web")} {
			checkNegative(t, dns.Ask(t, "udp", addr, name, mdns.TypeA, 0), mdns.RcodeSuccess, zone)
		}
	})
	t.Run("SRV of a ClusterIP Service", func(t *testing.T) {
		r := dns.Ask(t, "udp", addr, "_http._tcp."+svcName("web"), mdns.TypeSRV, 0)
		if got := dns.Answers(r.Answer); fmt.Sprint(got) != fmt.Sprint([]string{"SRV 0 100 80 " + svcName("web")}) {
			t.Fatalf("answer %v", got)
		}
		if got := dns.Answers(r.Extra); fmt.Sprint(got) != fmt.Sprint([]string{"A " + webIP}) {
			t.Fatalf("additional %v", got)
		}
		r = dns.Ask(t, "udp", addr, "_DNS._UDP."+svcName("web"), mdns.TypeSRV, 0)
		if got := dns.Answers(r.Answer); fmt.Sprint(got) != fmt.Sprint([]string{"SRV 0 100 53 " + svcName("web")}) {
			t.Fatalf("answer %v", got)
		}
	})
	t.Run("headless A: ready endpoints", func(t *testing.T) {
		dns.EventuallyAnswers(t, addr, svcName("db"), mdns.TypeA, mdns.RcodeSuccess, "A 10.42.0.5", "A 10.42.0.6", "A 10.42.0.7")
		dns.EventuallyAnswers(t, addr, svcName("all"), mdns.TypeA, mdns.RcodeSuccess, "A 10.42.0.20", "A 10.42.0.21")
	})
	t.Run("endpoint names", func(t *testing.T) {
		dns.EventuallyAnswers(t, addr, "db-0."+svcName("db"), mdns.TypeA, mdns.RcodeSuccess, "A 10.42.0.5")
		dns.EventuallyAnswers(t, addr, "DB-1."+svcName("db"), mdns.TypeA, mdns.RcodeSuccess, "A 10.42.0.6")
		dns.EventuallyAnswers(t, addr, "10-42-0-7."+svcName("db"), mdns.TypeA, mdns.RcodeSuccess, "A 10.42.0.7")
		dns.EventuallyAnswers(t, addr, "six-0."+svcName("six"), mdns.TypeAAAA, mdns.RcodeSuccess, "AAAA fd00::5")
		dns.EventuallyAnswers(t, addr, "fd00--6."+svcName("six"), mdns.TypeAAAA, mdns.RcodeSuccess, "AAAA fd00::6")
	})
	t.Run("headless SRV: one per endpoint", func(t *testing.T) {
		r := dns.Ask(t, "udp", addr, "_pg._tcp."+svcName("db"), mdns.TypeSRV, 0)
		want := []string{"SRV 0 33 5432 db-0." + svcName("db"), "SRV 0 33 5432 db-1." + svcName("db"), "SRV 0 33 5432 10-42-0-7." + svcName("db")}
		if fmt.Sprint(dns.Answers(r.Answer)) != fmt.Sprint(sorted(want)) {
			t.Fatalf("answer %v, want %v", dns.Answers(r.Answer), want)
		}
		var extra []string
		for _, rr := range r.Extra {
			if a, ok := rr.(*mdns.A); ok {
				extra = append(extra, a.Hdr.Name+" "+a.A.String())
			}
		}
		wantExtra := []string{"db-0." + svcName("db") + " 10.42.0.5", "db-1." + svcName("db") + " 10.42.0.6", "10-42-0-7." + svcName("db") + " 10.42.0.7"}
		if fmt.Sprint(sorted(extra)) != fmt.Sprint(sorted(wantExtra)) {
			t.Fatalf("additional %v, want %v", extra, wantExtra)
		}
		// The port of a headless Service's SRV is the endpoints' port.
		r = dns.Ask(t, "udp", addr, "_http._tcp."+svcName("six"), mdns.TypeSRV, 0)
		if fmt.Sprint(dns.Answers(r.Answer)) != fmt.Sprint(sorted([]string{"SRV 0 50 8080 six-0." + svcName("six"), "SRV 0 50 8080 fd00--6." + svcName("six")})) {
			t.Fatalf("answer %v", dns.Answers(r.Answer))
		}
	})
	t.Run("IPv6 only: AAAA, and A is NODATA", func(t *testing.T) {
		dns.EventuallyAnswers(t, addr, svcName("six"), mdns.TypeAAAA, mdns.RcodeSuccess, "AAAA fd00::5", "AAAA fd00::6")
		checkNegative(t, dns.Ask(t, "udp", addr, svcName("six"), mdns.TypeA, 0), mdns.RcodeSuccess, zone)
	})
	t.Run("ExternalName CNAME", func(t *testing.T) {
		r := dns.Ask(t, "udp", addr, svcName("ext"), mdns.TypeA, 0)
		if r.Rcode != mdns.RcodeSuccess || fmt.Sprint(dns.Answers(r.Answer)) != "[CNAME www.example.org.]" {
			t.Fatalf("reply:\n%v", r)
		}
		// A CNAME to a name of the zone is followed here.
		r = dns.Ask(t, "udp", addr, svcName("alias"), mdns.TypeA, 0)
		if fmt.Sprint(dns.Answers(r.Answer)) != fmt.Sprint(sorted([]string{"CNAME " + svcName("web"), "A " + webIP})) {
			t.Fatalf("answer %v", dns.Answers(r.Answer))
		}
	})
	t.Run("PTR", func(t *testing.T) {
		dns.EventuallyAnswers(t, addr, revName(t, webIP), mdns.TypePTR, mdns.RcodeSuccess, "PTR "+svcName("web"))
		dns.EventuallyAnswers(t, addr, revName(t, "10.42.0.5"), mdns.TypePTR, mdns.RcodeSuccess, "PTR db-0."+svcName("db"))
		dns.EventuallyAnswers(t, addr, revName(t, "10.42.0.7"), mdns.TypePTR, mdns.RcodeSuccess, "PTR 10-42-0-7."+svcName("db"))
		dns.EventuallyAnswers(t, addr, revName(t, "fd00::5"), mdns.TypePTR, mdns.RcodeSuccess, "PTR six-0."+svcName("six"))
		// Not ready, and unknown addresses of the cluster ranges.
		checkNegative(t, dns.Ask(t, "udp", addr, revName(t, "10.42.0.8"), mdns.TypePTR, 0), mdns.RcodeNameError, "42.10.in-addr.arpa.")
		checkNegative(t, dns.Ask(t, "udp", addr, revName(t, "10.43.255.254"), mdns.TypePTR, 0), mdns.RcodeNameError, "43.10.in-addr.arpa.")
		// A reverse name outside the cluster's ranges is forwarded; here
		// there is no upstream.
		if r := dns.Ask(t, "udp", addr, revName(t, "192.0.2.1"), mdns.TypePTR, 0); r.Rcode != mdns.RcodeRefused {
			t.Fatalf("reply:\n%v", r)
		}
	})
	t.Run("pods", func(t *testing.T) {
		dns.EventuallyAnswers(t, addr, "10-42-1-9."+testNS+".pod."+zone, mdns.TypeA, mdns.RcodeSuccess, "A 10.42.1.9")
		dns.EventuallyAnswers(t, addr, "fd00--9."+testNS+".pod."+zone, mdns.TypeAAAA, mdns.RcodeSuccess, "AAAA fd00::9")
		checkNegative(t, dns.Ask(t, "udp", addr, "10-42-1-9."+testNS+".pod."+zone, mdns.TypeAAAA, 0), mdns.RcodeSuccess, zone)
	})
	t.Run("zone apex and version", func(t *testing.T) {
		dns.EventuallyAnswers(t, addr, "dns-version."+zone, mdns.TypeTXT, mdns.RcodeSuccess, `TXT "1.1.0"`)
		r := dns.Ask(t, "udp", addr, zone, mdns.TypeSOA, 0)
		if len(r.Answer) != 1 || r.Answer[0].Header().Rrtype != mdns.TypeSOA {
			t.Fatalf("reply:\n%v", r)
		}
		r = dns.Ask(t, "udp", addr, zone, mdns.TypeNS, 0)
		if fmt.Sprint(dns.Answers(r.Answer)) != "[NS ns.dns.cluster.local.]" || fmt.Sprint(dns.Answers(r.Extra)) != "[A 10.43.0.10]" {
			t.Fatalf("reply:\n%v", r)
		}
	})
	t.Run("outside the cluster without upstreams", func(t *testing.T) {
		r := dns.Ask(t, "udp", addr, "www.example.org.", mdns.TypeA, 0)
		if r.Rcode != mdns.RcodeRefused || r.RecursionAvailable {
			t.Fatalf("reply:\n%v", r)
		}
	})
	t.Run("truncation over UDP, everything over TCP", func(t *testing.T) {
		createService(t, cs, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "many"}, Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone}})
		var eps []discoveryv1.Endpoint
		var want []string
		for i := range 100 {
			eps = append(eps, ep(fmt.Sprintf("10.42.2.%d", i+1), "", true))
			want = append(want, fmt.Sprintf("A 10.42.2.%d", i+1))
		}
		createSlice(t, cs, "many", "many-a", discoveryv1.AddressTypeIPv4, nil, eps...)
		testserver.Eventually(t, 15*time.Second, "many's 100 endpoints", func() (bool, string) {
			r := dns.Ask(t, "tcp", addr, svcName("many"), mdns.TypeA, 0)
			return len(r.Answer) == 100, fmt.Sprint(len(r.Answer), " dns.Answers")
		})
		r := dns.Ask(t, "udp", addr, svcName("many"), mdns.TypeA, 0)
		r.Compress = true // as it came on the wire, for Len
		if !r.Truncated || len(r.Answer) >= 100 || r.Len() > mdns.MinMsgSize {
			t.Fatalf("udp without EDNS: truncated %v, %d dns.Answers, %d bytes", r.Truncated, len(r.Answer), r.Len())
		}
		// An EDNS0 buffer of 4096 holds the whole answer.
		r = dns.Ask(t, "udp", addr, svcName("many"), mdns.TypeA, 4096)
		if r.Truncated || len(r.Answer) != 100 || r.IsEdns0() == nil {
			t.Fatalf("udp with EDNS 4096: truncated %v, %d dns.Answers, opt %v", r.Truncated, len(r.Answer), r.IsEdns0())
		}
		// A buffer of 1000 bytes is honoured.
		r = dns.Ask(t, "udp", addr, svcName("many"), mdns.TypeA, 1000)
		r.Compress = true
		if !r.Truncated || r.Len() > 1000 || len(r.Answer) <= 30 {
			t.Fatalf("udp with EDNS 1000: truncated %v, %d dns.Answers, %d bytes", r.Truncated, len(r.Answer), r.Len())
		}
		r = dns.Ask(t, "tcp", addr, svcName("many"), mdns.TypeA, 0)
		if r.Truncated || fmt.Sprint(dns.Answers(r.Answer)) != fmt.Sprint(sorted(want)) {
			t.Fatalf("tcp: truncated %v, %d dns.Answers", r.Truncated, len(r.Answer))
		}
	})
	t.Run("records go with their objects", func(t *testing.T) {
		if err := cs.CoreV1().Services(testNS).Delete(context.Background(), "web", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		dns.EventuallyAnswers(t, addr, svcName("web"), mdns.TypeA, mdns.RcodeNameError)
		dns.EventuallyAnswers(t, addr, revName(t, webIP), mdns.TypePTR, mdns.RcodeNameError)
		dns.EventuallyAnswers(t, addr, "_http._tcp."+svcName("web"), mdns.TypeSRV, mdns.RcodeNameError)
		// The alias now points nowhere: its CNAME stays, the rcode is the
		// target's (RFC 6604).
		dns.EventuallyAnswers(t, addr, svcName("alias"), mdns.TypeA, mdns.RcodeNameError, "CNAME "+svcName("web"))

		if err := cs.DiscoveryV1().EndpointSlices(testNS).Delete(context.Background(), "db-a", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		dns.EventuallyAnswers(t, addr, svcName("db"), mdns.TypeA, mdns.RcodeSuccess, "A 10.42.0.5", "A 10.42.0.7")
		dns.EventuallyAnswers(t, addr, "db-1."+svcName("db"), mdns.TypeA, mdns.RcodeNameError)
	})
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	slices.Sort(out)
	return out
}
