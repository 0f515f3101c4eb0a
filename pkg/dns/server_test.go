package dns_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"github.com/flotilla-io/flotilla/pkg/dns"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"

	"github.com/flotilla-io/flotilla/pkg/server/testserver"
)

// TestForwarding runs a fake upstream resolver on loopback and checks
// what goes to it and what comes back: plain dns.Answers, NXDOMAIN, a UDP
// reply truncated upstream (retried over TCP), an ExternalName's target,
// and SERVFAIL when no upstream dns.Answers.
func TestForwarding(t *testing.T) {
	in := testserver.Start(t, testserver.Options{})
	cs := in.Clientset(t)
	createNamespace(t, cs, testNS)
	up := dns.StartUpstream(t, map[string]func(m *mdns.Msg, tcp bool){
		"www.example.org.": func(m *mdns.Msg, _ bool) { m.Answer = dns.ARecords(m.Question[0].Name, 1) },
		"big.example.org.": func(m *mdns.Msg, tcp bool) {
			if !tcp {
				m.Truncated = true
				return
			}
			m.Answer = dns.ARecords(m.Question[0].Name, 60)
		},
	})
	// A silent upstream first: the forwarder moves on to the next one.
	silent, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	_, addr := dns.StartDNS(t, cs, func(c *dns.Config) {
		c.NoForward = false
		c.Upstreams = []string{silent.LocalAddr().String(), up.Addr()}
		c.UpstreamTimeout = 300 * time.Millisecond
	})

	t.Run("answer", func(t *testing.T) {
		r := dns.Ask(t, "udp", addr, "WWW.example.org.", mdns.TypeA, 0)
		if r.Rcode != mdns.RcodeSuccess || fmt.Sprint(dns.Answers(r.Answer)) != "[A 192.0.2.1]" || !r.RecursionAvailable {
			t.Fatalf("reply:\n%v", r)
		}
		if r.Question[0].Name != "WWW.example.org." {
			t.Fatalf("question %q: want it as asked", r.Question[0].Name)
		}
	})
	t.Run("NXDOMAIN passed on", func(t *testing.T) {
		if r := dns.Ask(t, "udp", addr, "nx.example.org.", mdns.TypeA, 0); r.Rcode != mdns.RcodeNameError {
			t.Fatalf("reply:\n%v", r)
		}
	})
	t.Run("truncated upstream reply retried over TCP", func(t *testing.T) {
		tcpBefore := up.TCPQueries()
		// The client's buffer holds the 60 records; the upstream's UDP
		// reply did not.
		r := dns.Ask(t, "udp", addr, "big.example.org.", mdns.TypeA, 4096)
		if r.Truncated || len(r.Answer) != 60 {
			t.Fatalf("truncated %v, %d dns.Answers", r.Truncated, len(r.Answer))
		}
		if up.TCPQueries() == tcpBefore {
			t.Fatal("the upstream got no TCP query")
		}
		// Without EDNS the client gets TC over UDP, then all over TCP.
		r = dns.Ask(t, "udp", addr, "big.example.org.", mdns.TypeA, 0)
		if !r.Truncated || len(r.Answer) >= 60 {
			t.Fatalf("udp: truncated %v, %d dns.Answers", r.Truncated, len(r.Answer))
		}
		r = dns.Ask(t, "tcp", addr, "big.example.org.", mdns.TypeA, 0)
		if r.Truncated || len(r.Answer) != 60 {
			t.Fatalf("tcp: truncated %v, %d dns.Answers", r.Truncated, len(r.Answer))
		}
	})
	t.Run("ExternalName target resolved upstream", func(t *testing.T) {
		createService(t, cs, &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: "ext"},
			Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "www.example.org"},
		})
		name := "ext." + testNS + ".svc.cluster.local."
		dns.EventuallyAnswers(t, addr, name, mdns.TypeA, mdns.RcodeSuccess, "CNAME www.example.org.", "A 192.0.2.1")
		createService(t, cs, &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: "dangling"},
			Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "nx.example.org"},
		})
		dns.EventuallyAnswers(t, addr, "dangling."+testNS+".svc.cluster.local.", mdns.TypeA, mdns.RcodeNameError, "CNAME nx.example.org.")
	})
	t.Run("SERVFAIL when no upstream dns.Answers", func(t *testing.T) {
		_, lone := dns.StartDNS(t, cs, func(c *dns.Config) {
			c.NoForward = false
			c.Upstreams = []string{silent.LocalAddr().String()}
			c.UpstreamTimeout = 200 * time.Millisecond
		})
		r := dns.Ask(t, "udp", lone, "www.example.org.", mdns.TypeA, 0)
		if r.Rcode != mdns.RcodeServerFailure {
			t.Fatalf("reply:\n%v", r)
		}
		// The cluster's names do not depend on the upstreams.
		if r := dns.Ask(t, "udp", lone, "dns-version.cluster.local.", mdns.TypeTXT, 0); r.Rcode != mdns.RcodeSuccess || len(r.Answer) != 1 {
			t.Fatalf("reply:\n%v", r)
		}
	})
}

// rawQuery builds a query's wire bytes and lets mutate change them.
func rawQuery(t *testing.T, id uint16, name string, qtype uint16, mutate func(*mdns.Msg)) []byte {
	t.Helper()
	m := new(mdns.Msg)
	m.SetQuestion(name, qtype)
	m.Id = id
	if mutate != nil {
		mutate(m)
	}
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sendRaw sends b over UDP and returns the parsed reply.
func sendRaw(t *testing.T, addr string, b []byte) *mdns.Msg {
	t.Helper()
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
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
	return r
}

// sendRawTCP sends b with its length prefix over TCP and returns the
// parsed reply.
func sendRawTCP(t *testing.T, addr string, b []byte) *mdns.Msg {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(binary.BigEndian.AppendUint16(nil, uint16(len(b)))); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
	var l [2]byte
	if _, err := io.ReadFull(c, l[:]); err != nil {
		t.Fatalf("no reply: %v", err)
	}
	buf := make([]byte, binary.BigEndian.Uint16(l[:]))
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatal(err)
	}
	r := new(mdns.Msg)
	if err := r.Unpack(buf); err != nil {
		t.Fatalf("reply does not parse: %v", err)
	}
	return r
}

// TestBadInput sends malformed, oversized and unsupported queries and
// checks each gets the right rcode while the server keeps answering.
func TestBadInput(t *testing.T) {
	in := testserver.Start(t, testserver.Options{})
	cs := in.Clientset(t)
	_, addr := dns.StartDNS(t, cs, nil)
	const probe = "dns-version.cluster.local."
	stillAnswers := func(t *testing.T) {
		t.Helper()
		for _, network := range []string{"udp", "tcp"} {
			if r := dns.Ask(t, network, addr, probe, mdns.TypeTXT, 0); r.Rcode != mdns.RcodeSuccess || len(r.Answer) != 1 {
				t.Fatalf("probe over %s:\n%v", network, r)
			}
		}
	}
	longName := strings.Repeat(strings.Repeat("a", 63)+".", 3) + strings.Repeat("b", 62) + ".cluster.local."

	cases := []struct {
		name  string
		tcp   bool
		bytes func(t *testing.T) []byte
		rcode int
	}{
		{"truncated question", false, func(t *testing.T) []byte { b := rawQuery(t, 1, probe, mdns.TypeTXT, nil); return b[:len(b)-3] }, mdns.RcodeFormatError},
		{"two questions", false, func(t *testing.T) []byte {
			return rawQuery(t, 2, probe, mdns.TypeTXT, func(m *mdns.Msg) { m.Question = append(m.Question, m.Question[0]) })
		}, mdns.RcodeFormatError},
		{"no question", false, func(t *testing.T) []byte {
			return rawQuery(t, 3, probe, mdns.TypeTXT, func(m *mdns.Msg) { m.Question = nil })
		}, mdns.RcodeFormatError},
		{"label with reserved bits", false, func(t *testing.T) []byte {
			b := rawQuery(t, 4, probe, mdns.TypeTXT, nil)
			b[12] = 0x45 // a label type 01: extended labels, unsupported
			return b
		}, mdns.RcodeFormatError},
		{"name longer than 255 octets", false, func(t *testing.T) []byte {
			b := rawQuery(t, 5, "x.cluster.local.", mdns.TypeA, nil)
			var wire []byte
			for _, l := range mdns.SplitDomainName(longName) {
				wire = append(append(wire, byte(len(l))), l...)
			}
			wire = append(wire, 0)
			return append(append(b[:12:12], wire...), b[len(b)-4:]...)
		}, mdns.RcodeFormatError},
		{"opcode UPDATE", false, func(t *testing.T) []byte {
			return rawQuery(t, 6, "cluster.local.", mdns.TypeSOA, func(m *mdns.Msg) { m.Opcode = mdns.OpcodeUpdate })
		}, mdns.RcodeNotImplemented},
		{"opcode NOTIFY", false, func(t *testing.T) []byte {
			return rawQuery(t, 7, "cluster.local.", mdns.TypeSOA, func(m *mdns.Msg) { m.Opcode = mdns.OpcodeNotify })
		}, mdns.RcodeNotImplemented},
		{"opcode STATUS", false, func(t *testing.T) []byte {
			return rawQuery(t, 8, probe, mdns.TypeTXT, func(m *mdns.Msg) { m.Opcode = mdns.OpcodeStatus })
		}, mdns.RcodeNotImplemented},
		{"oversized UDP datagram", false, func(t *testing.T) []byte {
			return rawQuery(t, 9, probe, mdns.TypeTXT, func(m *mdns.Msg) {
				m.SetEdns0(4096, false)
				m.IsEdns0().Option = append(m.IsEdns0().Option, &mdns.EDNS0_PADDING{Padding: make([]byte, 10000)})
			})
		}, mdns.RcodeFormatError},
		{"answer section in a query", true, func(t *testing.T) []byte {
			return rawQuery(t, 10, probe, mdns.TypeTXT, func(m *mdns.Msg) { m.Answer = dns.ARecords(probe, 1) })
		}, mdns.RcodeFormatError},
		{"two OPT records", false, func(t *testing.T) []byte {
			return rawQuery(t, 11, probe, mdns.TypeTXT, func(m *mdns.Msg) {
				m.SetEdns0(1232, false)
				m.Extra = append(m.Extra, m.Extra[0])
			})
		}, mdns.RcodeFormatError},
		{"EDNS version 1", false, func(t *testing.T) []byte {
			return rawQuery(t, 12, probe, mdns.TypeTXT, func(m *mdns.Msg) { m.SetEdns0(1232, false); m.IsEdns0().SetVersion(1) })
		}, mdns.RcodeBadVers},
		{"OPT as question type", false, func(t *testing.T) []byte { return rawQuery(t, 13, probe, mdns.TypeOPT, nil) }, mdns.RcodeFormatError},
		{"zone transfer", true, func(t *testing.T) []byte { return rawQuery(t, 14, "cluster.local.", mdns.TypeAXFR, nil) }, mdns.RcodeRefused},
		{"oversized TCP message", true, func(t *testing.T) []byte {
			// 3 additional records of 20 KB each: more than a query has.
			return rawQuery(t, 15, probe, mdns.TypeTXT, func(m *mdns.Msg) {
				for range 3 {
					txt := &mdns.TXT{Hdr: mdns.RR_Header{Name: probe, Rrtype: mdns.TypeTXT, Class: mdns.ClassINET}}
					for range 80 {
						txt.Txt = append(txt.Txt, strings.Repeat("y", 255))
					}
					m.Extra = append(m.Extra, txt)
				}
			})
		}, mdns.RcodeFormatError},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := c.bytes(t)
			id := binary.BigEndian.Uint16(b)
			var r *mdns.Msg
			if c.tcp {
				r = sendRawTCP(t, addr, b)
			} else {
				r = sendRaw(t, addr, b)
			}
			if r.Rcode != c.rcode || r.Id != id || !r.Response {
				t.Fatalf("want %s for id %d, got:\n%v", mdns.RcodeToString[c.rcode], id, r)
			}
			stillAnswers(t)
		})
	}
	if len(longName) <= 255 {
		t.Fatalf("test name is %d octets, not too long", len(longName))
	}
}

// TestRunStops checks that Run returns once its context ends and that its
// sockets are closed then.
func TestRunStops(t *testing.T) {
	in := testserver.Start(t, testserver.Options{})
	cs := in.Clientset(t)
	factory := informers.NewSharedInformerFactory(cs, 0)
	defer factory.Shutdown()
	srv, err := dns.New(dns.Config{Addresses: []string{"127.0.0.1:0"}, Informers: factory, NoForward: true, Log: dns.TestLog()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	factory.Start(ctx.Done())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	select {
	case <-srv.Ready():
	case err := <-done:
		t.Fatalf("stopped early: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("not ready")
	}
	addr := srv.Addrs()[0]
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	// Both sockets are free again: binding the same port succeeds.
	pc, ln, err := dns.BindPair(addr)
	if err != nil {
		t.Fatalf("port still held after Run returned: %v", err)
	}
	pc.Close()
	ln.Close()
	// Run serves again after it returned (the agent retries a server
	// that failed), but never twice at once.
	ctx2, cancel2 := context.WithCancel(context.Background())
	done2 := make(chan error, 1)
	go func() { done2 <- srv.Run(ctx2) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		// Port 0 was configured: the second Run binds a port of its own.
		if a := srv.Addrs(); len(a) > 0 && a[0] != addr {
			if _, err := dns.Exchange("udp", a[0], "kubernetes.default.svc.cluster.local.", mdns.TypeA, 0); err == nil {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the second Run does not answer")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := srv.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Fatalf("a concurrent Run: %v, want an already running error", err)
	}
	cancel2()
	if err := <-done2; err != nil {
		t.Fatalf("second run: %v", err)
	}
}
