package proxy

import (
	nft "github.com/flotilla-io/flotilla/pkg/nftutil"

	"net/netip"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func testService(mutate func(*corev1.Service)) *corev1.Service {
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "svc"},
		Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeClusterIP, ClusterIP: "10.43.0.10",
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP}},
		},
	}
	if mutate != nil {
		mutate(s)
	}
	return s
}

type tep struct {
	ip, node                    string
	ready, serving, terminating *bool
}

func testSlice(port int32, eps ...tep) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: "ns", Name: "svc-x", Labels: map[string]string{serviceNameLabel: "svc"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To(port), Protocol: ptr.To(corev1.ProtocolTCP)}},
	}
	for _, e := range eps {
		s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{
			Addresses: []string{e.ip}, NodeName: ptr.To(e.node),
			Conditions: discoveryv1.EndpointConditions{Ready: e.ready, Serving: e.serving, Terminating: e.terminating},
		})
	}
	return s
}

func addrs(eps []endpoint) []string {
	var out []string
	for _, e := range eps {
		out = append(out, e.addr.String())
	}
	return out
}

func TestServicePortsSkipsWhatTheProxyDoesNotHandle(t *testing.T) {
	for name, mutate := range map[string]func(*corev1.Service){
		"headless":      func(s *corev1.Service) { s.Spec.ClusterIP = corev1.ClusterIPNone },
		"ExternalName":  func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeExternalName },
		"IPv6":          func(s *corev1.Service) { s.Spec.ClusterIP = "fd00::10" },
		"another proxy": func(s *corev1.Service) { s.Labels = map[string]string{serviceProxyNameLabel: "other"} },
	} {
		if got := servicePorts(testService(mutate), nil, "n1"); len(got) != 0 {
			t.Errorf("%s: got %d ports, want none", name, len(got))
		}
	}
}

func TestServicePortsReadsSpec(t *testing.T) {
	svc := testService(func(s *corev1.Service) {
		s.Spec.Type = corev1.ServiceTypeLoadBalancer
		s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP, NodePort: 30053})
		s.Spec.Ports[0].NodePort = 30080
		s.Spec.ExternalIPs = []string{"192.0.2.1", "bogus"}
		s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
		s.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
		s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{
			{IP: "192.0.2.2"}, {IP: "192.0.2.3", IPMode: ptr.To(corev1.LoadBalancerIPModeProxy)},
		}
	})
	ports := servicePorts(svc, []*discoveryv1.EndpointSlice{testSlice(8080, tep{ip: "10.244.0.5", node: "n1"})}, "n1")
	if len(ports) != 2 {
		t.Fatalf("got %d ports, want 2", len(ports))
	}
	http, dns := ports[0], ports[1]
	if http.protocol != 6 || dns.protocol != 17 || http.nodePort != 30080 || dns.nodePort != 30053 {
		t.Errorf("protocols/nodePorts: %+v %+v", http, dns)
	}
	if want := []netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")}; !slices.Equal(http.externalIPs, want) {
		t.Errorf("external IPs %v, want %v (the Proxy-mode ingress left out)", http.externalIPs, want)
	}
	if !http.externalLocal || http.affinity != defaultAffinityTimeout {
		t.Errorf("externalLocal %v affinity %v", http.externalLocal, http.affinity)
	}
	if got := addrs(http.endpoints); !slices.Equal(got, []string{"10.244.0.5:8080"}) {
		t.Errorf("http endpoints %v", got)
	}
	if len(dns.endpoints) != 0 {
		t.Errorf("the slice has no dns port, yet dns has endpoints %v", addrs(dns.endpoints))
	}
	// ExternalTrafficPolicy means nothing to a ClusterIP Service.
	cip := servicePorts(testService(func(s *corev1.Service) {
		s.Spec.ExternalIPs = []string{"192.0.2.1"}
		s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
		s.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
		s.Spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptr.To[int32](30)}}
	}), nil, "n1")[0]
	if cip.externalLocal || cip.affinity != 30*time.Second {
		t.Errorf("ClusterIP Service: externalLocal %v affinity %v", cip.externalLocal, cip.affinity)
	}
}

func TestCategorize(t *testing.T) {
	yes, no := ptr.To(true), ptr.To(false)
	cases := []struct {
		name           string
		mutate         func(*corev1.Service)
		eps            []tep
		cluster, local []string
		any            bool
	}{
		{
			name:    "ready endpoints (conditions unset mean ready)",
			eps:     []tep{{ip: "10.0.0.1", node: "n1"}, {ip: "10.0.0.2", node: "n2", ready: no}},
			cluster: []string{"10.0.0.1:80"}, any: true,
		},
		{
			name: "no ready endpoint: the serving terminating ones",
			eps: []tep{
				{ip: "10.0.0.1", node: "n1", ready: no, serving: yes, terminating: yes},
				{ip: "10.0.0.2", node: "n1", ready: no, serving: no, terminating: yes},
				{ip: "10.0.0.3", node: "n1", ready: no},
			},
			cluster: []string{"10.0.0.1:80"}, any: true,
		},
		{
			name: "ready ones win over terminating ones",
			eps: []tep{
				{ip: "10.0.0.1", node: "n1", ready: no, serving: yes, terminating: yes},
				{ip: "10.0.0.2", node: "n2"},
			},
			cluster: []string{"10.0.0.2:80"}, any: true,
		},
		{
			name: "internal Local: this node's endpoints only",
			mutate: func(s *corev1.Service) {
				s.Spec.InternalTrafficPolicy = ptr.To(corev1.ServiceInternalTrafficPolicyLocal)
			},
			eps:   []tep{{ip: "10.0.0.1", node: "n1"}, {ip: "10.0.0.2", node: "n2"}},
			local: []string{"10.0.0.1:80"}, any: true,
		},
		{
			name: "internal Local without local endpoints still has endpoints elsewhere",
			mutate: func(s *corev1.Service) {
				s.Spec.InternalTrafficPolicy = ptr.To(corev1.ServiceInternalTrafficPolicyLocal)
			},
			eps: []tep{{ip: "10.0.0.2", node: "n2"}},
			any: true,
		},
		{
			name: "external Local on a NodePort: both lists",
			mutate: func(s *corev1.Service) {
				s.Spec.Type = corev1.ServiceTypeNodePort
				s.Spec.Ports[0].NodePort = 30080
				s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
			},
			eps:     []tep{{ip: "10.0.0.1", node: "n1"}, {ip: "10.0.0.2", node: "n2"}},
			cluster: []string{"10.0.0.1:80", "10.0.0.2:80"}, local: []string{"10.0.0.1:80"}, any: true,
		},
		{name: "nothing usable", eps: []tep{{ip: "10.0.0.1", node: "n1", ready: no, serving: no}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sp := servicePorts(testService(c.mutate), []*discoveryv1.EndpointSlice{testSlice(80, c.eps...)}, "n1")[0]
			cluster, local, any := categorize(sp)
			if !slices.Equal(addrs(cluster), c.cluster) || !slices.Equal(addrs(local), c.local) || any != c.any {
				t.Errorf("got cluster %v local %v any %v, want %v %v %v", addrs(cluster), addrs(local), any, c.cluster, c.local, c.any)
			}
		})
	}
}

func TestBuildProgramMapsServiceAddresses(t *testing.T) {
	cidr := netip.MustParsePrefix("10.244.0.0/16")
	sp := servicePorts(testService(func(s *corev1.Service) {
		s.Spec.Type = corev1.ServiceTypeNodePort
		s.Spec.Ports[0].NodePort = 30080
		s.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
	}), []*discoveryv1.EndpointSlice{testSlice(8080, tep{ip: "10.244.0.5", node: "n1"}, tep{ip: "10.244.0.6", node: "n2"})}, "n1")[0]
	p := buildProgram(sp, cidr)
	names := namesFor(sp.key)
	cip := netip.MustParseAddr("10.43.0.10")
	e1, e2 := endpointChain(sp.key, netip.MustParseAddrPort("10.244.0.5:8080")), endpointChain(sp.key, netip.MustParseAddrPort("10.244.0.6:8080"))
	want := map[elemID]elemVal{
		{setClusterIPs, string(nft.AddrKey(cip))}:                 {},
		{mapServiceIPs, string(nft.AddrProtoPortKey(cip, 6, 80))}: gotoVal(names.service),
		{mapServiceNodePorts, string(protoPort(6, 30080))}:        gotoVal(names.external),
	}
	if len(p.elems) != len(want) {
		t.Errorf("elements %v, want %v", p.elems, want)
	}
	for id, v := range want {
		if p.elems[id] != v {
			t.Errorf("element %s %x = %v, want %v", id.set, id.key, p.elems[id], v)
		}
	}
	var chains []string
	for _, c := range p.chains {
		chains = append(chains, c.name)
	}
	if wantChains := []string{e1, e2, names.service, names.external}; !slices.Equal(chains, wantChains) {
		t.Errorf("chains %v, want %v", chains, wantChains)
	}
	if len(p.affinity) != 2 {
		t.Errorf("affinity sets %v, want one per endpoint", p.affinity)
	}

	// Without endpoints: reject, on the ClusterIP and on the NodePort.
	sp.endpoints = nil
	p = buildProgram(sp, cidr)
	if len(p.chains) != 0 {
		t.Errorf("chains without endpoints: %v", p.chains)
	}
	if v := p.elems[elemID{mapNoEndpointServices, string(nft.AddrProtoPortKey(cip, 6, 80))}]; v != gotoVal(chainReject) {
		t.Errorf("ClusterIP without endpoints: %v", v)
	}
	if v := p.elems[elemID{mapNoEndpointNodePort, string(protoPort(6, 30080))}]; v != gotoVal(chainReject) {
		t.Errorf("NodePort without endpoints: %v", v)
	}
}
