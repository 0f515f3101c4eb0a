package dns

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
)

func testLog() *slog.Logger {
	if os.Getenv("FLOTILLA_TEST_DEBUG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// startDNS runs a server on loopback, answering from informers of cs,
// until the test ends, and returns its address once it is ready.
func startDNS(t testing.TB, cs kubernetes.Interface, mutate func(*Config)) (*Server, string) {
	t.Helper()
	factory := informers.NewSharedInformerFactory(cs, 0)
	cfg := Config{
		Addresses: []string{"127.0.0.1:0"},
		Informers: factory,
		NoForward: true,
		Log:       testLog(),
	}
	if mutate != nil {
		mutate(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatalf("new dns server: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	factory.Start(ctx.Done())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("dns server: %v", err)
		}
		factory.Shutdown()
	})
	select {
	case <-srv.Ready():
	case err := <-done:
		t.Fatalf("dns server stopped before ready: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("dns server not ready within 30s")
	}
	addrs := srv.Addrs()
	if len(addrs) != 1 {
		t.Fatalf("bound addresses: %v", addrs)
	}
	return srv, addrs[0]
}

// ask sends one query over net ("udp" or "tcp"); edns > 0 adds an OPT
// record with that buffer size.
func ask(t testing.TB, network, addr, name string, qtype uint16, edns uint16) *mdns.Msg {
	t.Helper()
	r, err := exchange(network, addr, name, qtype, edns)
	if err != nil {
		t.Fatalf("query %s %s over %s: %v", name, mdns.TypeToString[qtype], network, err)
	}
	return r
}

func exchange(network, addr, name string, qtype uint16, edns uint16) (*mdns.Msg, error) {
	m := new(mdns.Msg)
	m.SetQuestion(name, qtype)
	if edns > 0 {
		m.SetEdns0(edns, false)
	}
	c := &mdns.Client{Net: network, Timeout: 5 * time.Second}
	r, _, err := c.Exchange(m, addr)
	return r, err
}

// answers renders an answer section as sorted "TYPE value" strings.
func answers(rrs []mdns.RR) []string {
	var out []string
	for _, rr := range rrs {
		h := rr.Header()
		v := strings.TrimPrefix(rr.String(), h.String())
		out = append(out, mdns.TypeToString[h.Rrtype]+" "+v)
	}
	slices.Sort(out)
	return out
}

// eventuallyAnswers polls until name's qtype answer is want (sorted
// "TYPE value" strings) with rcode.
func eventuallyAnswers(t testing.TB, addr, name string, qtype uint16, rcode int, want ...string) *mdns.Msg {
	t.Helper()
	slices.Sort(want)
	var last *mdns.Msg
	deadline := time.Now().Add(15 * time.Second)
	for {
		r, err := exchange("udp", addr, name, qtype, 0)
		if err == nil {
			last = r
			if r.Rcode == rcode && slices.Equal(answers(r.Answer), want) {
				return r
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s %s: want %s %q; last reply (err %v):\n%v", name, mdns.TypeToString[qtype], mdns.RcodeToString[rcode], want, err, last)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// fakeUpstream is a resolver on loopback for the forwarding tests: it
// answers from a table, counts the queries it got over each transport and
// truncates over UDP what is marked so.
type fakeUpstream struct {
	addr     string
	udpCount atomic.Int64
	tcpCount atomic.Int64
	zone     map[string]func(m *mdns.Msg, tcp bool)
}

func startUpstream(t testing.TB, zone map[string]func(m *mdns.Msg, tcp bool)) *fakeUpstream {
	t.Helper()
	pc, ln, err := bindPair("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &fakeUpstream{addr: pc.LocalAddr().String(), zone: zone}
	for _, srv := range []*mdns.Server{{PacketConn: pc, Handler: u}, {Listener: ln, Handler: u}} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		done := make(chan struct{})
		go func() { defer close(done); _ = srv.ActivateAndServe() }()
		<-started
		t.Cleanup(func() { _ = srv.Shutdown(); <-done })
	}
	return u
}

func (u *fakeUpstream) ServeDNS(w mdns.ResponseWriter, req *mdns.Msg) {
	_, tcp := w.RemoteAddr().(*net.TCPAddr)
	if tcp {
		u.tcpCount.Add(1)
	} else {
		u.udpCount.Add(1)
	}
	m := new(mdns.Msg)
	m.SetReply(req)
	m.RecursionAvailable = true
	if f, ok := u.zone[strings.ToLower(req.Question[0].Name)]; ok {
		f(m, tcp)
	} else {
		m.Rcode = mdns.RcodeNameError
	}
	_ = w.WriteMsg(m)
}

func aRecords(name string, n int) []mdns.RR {
	var out []mdns.RR
	for i := range n {
		rr, _ := mdns.NewRR(fmt.Sprintf("%s 60 IN A 192.0.2.%d", name, i+1))
		out = append(out, rr)
	}
	return out
}
