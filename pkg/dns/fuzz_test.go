package dns

import (
	"context"
	"encoding/binary"
	"net"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
)

// fuzzObjects give the fuzzed names something to find: a ClusterIP
// Service with named ports, a headless one with endpoints, an
// ExternalName.
func fuzzObjects() *fake.Clientset {
	return fake.NewClientset(
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns"},
			Spec: corev1.ServiceSpec{ClusterIP: "10.43.0.20", ClusterIPs: []string{"10.43.0.20"}, Ports: []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP}}}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "ns"},
			Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Ports: []corev1.ServicePort{{Name: "pg", Port: 5432}}}},
		&discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: "db-a", Namespace: "ns", Labels: map[string]string{discoveryv1.LabelServiceName: "db"}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"10.42.0.5"}, Hostname: ptr.To("db-0")}, {Addresses: []string{"10.42.0.6"}}},
			Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("pg"), Port: ptr.To(int32(5432)), Protocol: ptr.To(corev1.ProtocolTCP)}}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "ext", Namespace: "ns"},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "www.example.org"}},
	)
}

// FuzzServeDNS feeds raw bytes to the request path twice: to the handler
// after the library's parsing, where every reply must pack and parse back
// within the size the query allows; and over a real UDP socket, where
// every datagram with a query header must get a reply that parses and
// carries its ID, and the server must keep answering a known name.
func FuzzServeDNS(f *testing.F) {
	for _, q := range []struct {
		name  string
		qtype uint16
	}{
		{"web.ns.svc.cluster.local.", mdns.TypeA}, {"WEB.ns.svc.cluster.local.", mdns.TypeAAAA},
		{"_http._tcp.web.ns.svc.cluster.local.", mdns.TypeSRV}, {"db.ns.svc.cluster.local.", mdns.TypeA},
		{"_pg._tcp.db.ns.svc.cluster.local.", mdns.TypeSRV}, {"db-0.db.ns.svc.cluster.local.", mdns.TypeA},
		{"ext.ns.svc.cluster.local.", mdns.TypeA}, {"10-42-0-9.ns.pod.cluster.local.", mdns.TypeA},
		{"20.0.43.10.in-addr.arpa.", mdns.TypePTR}, {"cluster.local.", mdns.TypeSOA}, {"cluster.local.", mdns.TypeANY},
		{"dns-version.cluster.local.", mdns.TypeTXT}, {"www.example.org.", mdns.TypeA}, {".", mdns.TypeNS},
	} {
		m := new(mdns.Msg)
		m.SetQuestion(q.name, q.qtype)
		b, _ := m.Pack()
		f.Add(b)
		m.SetEdns0(512, true)
		b, _ = m.Pack()
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1})

	up := startUpstream(f, map[string]func(*mdns.Msg, bool){
		"www.example.org.": func(m *mdns.Msg, _ bool) { m.Answer = aRecords(m.Question[0].Name, 2) },
	})
	srv, addr := startDNS(f, fuzzObjects(), func(c *Config) {
		c.NoForward = false
		c.Upstreams = []string{up.addr}
		c.UpstreamTimeout = 200 * time.Millisecond
	})

	f.Fuzz(func(t *testing.T, b []byte) {
		// The handler, on what the library accepts.
		req := new(mdns.Msg)
		if len(b) >= 12 && req.Unpack(b) == nil && acceptQuery(header(b)) == mdns.MsgAccept {
			resp := srv.respond(context.Background(), req, false)
			out, err := resp.Pack()
			if err != nil {
				t.Fatalf("reply does not pack: %v\n%v", err, resp)
			}
			limit := mdns.MinMsgSize
			if opt := req.IsEdns0(); opt != nil {
				limit = max(limit, int(opt.UDPSize()))
			}
			if len(out) > limit {
				t.Fatalf("reply of %d bytes for a UDP limit of %d", len(out), limit)
			}
			if err := new(mdns.Msg).Unpack(out); err != nil {
				t.Fatalf("reply does not parse: %v\n%v", err, resp)
			}
		}

		// The whole path, over a socket.
		if len(b) > 65000 {
			return
		}
		c, err := net.Dial("udp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Write(b); err != nil {
			t.Fatal(err)
		}
		// The library drops what has no header or is a response, so that
		// the server cannot be used to reflect traffic; the rest is answered.
		if len(b) >= 12 && b[2]&0x80 == 0 {
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			buf := make([]byte, 65535)
			n, err := c.Read(buf)
			if err != nil {
				t.Fatalf("no reply: %v", err)
			}
			r := new(mdns.Msg)
			if err := r.Unpack(buf[:n]); err != nil {
				t.Fatalf("reply does not parse: %v", err)
			}
			if r.Id != binary.BigEndian.Uint16(b) || !r.Response {
				t.Fatalf("reply id %d response %v, want id %d", r.Id, r.Response, binary.BigEndian.Uint16(b))
			}
		}
		r, err := exchange("udp", addr, "web.ns.svc.cluster.local.", mdns.TypeA, 0)
		if err != nil || r.Rcode != mdns.RcodeSuccess || len(r.Answer) != 1 {
			t.Fatalf("server stopped answering: %v\n%v", err, r)
		}
	})
}

func header(b []byte) mdns.Header {
	return mdns.Header{
		Id: binary.BigEndian.Uint16(b), Bits: binary.BigEndian.Uint16(b[2:]),
		Qdcount: binary.BigEndian.Uint16(b[4:]), Ancount: binary.BigEndian.Uint16(b[6:]),
		Nscount: binary.BigEndian.Uint16(b[8:]), Arcount: binary.BigEndian.Uint16(b[10:]),
	}
}
