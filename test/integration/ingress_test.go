package integration

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	gwebsocket "github.com/gorilla/websocket"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"

	"github.com/flotilla-io/flotilla/pkg/ingress"
	"github.com/flotilla-io/flotilla/pkg/server/testserver"
)

// ingBackend is a "pod": an HTTP server on its own loopback address that
// answers with its name and what it was asked, and echoes a websocket.
type ingBackend struct {
	name string
	ip   string
	port int32
}

func startIngBackend(t *testing.T, name, ip string) ingBackend {
	t.Helper()
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatalf("backend %s on %s: %v (the loopback range 127.0.0.0/8 must be usable)", name, ip, err)
	}
	up := gwebsocket.Upgrader{}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ws" {
			conn, err := up.Upgrade(w, r, nil)
			if err != nil {
				return
			}
			defer conn.Close()
			for {
				typ, msg, err := conn.ReadMessage()
				if err != nil {
					return
				}
				if err := conn.WriteMessage(typ, []byte(name+": "+string(msg))); err != nil {
					return
				}
			}
		}
		fmt.Fprintf(w, "%s host=%s path=%s xff=%s proto=%s xhost=%s", name, r.Host, r.URL.Path,
			r.Header.Get("X-Forwarded-For"), r.Header.Get("X-Forwarded-Proto"), r.Header.Get("X-Forwarded-Host"))
	}), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ingBackend{name: name, ip: ip, port: int32(ln.Addr().(*net.TCPAddr).Port)}
}

// ingSlice is one EndpointSlice of svc (port portName) per backend, so
// that backends on different port numbers serve one Service port, as
// pods with a named targetPort may.
func ingSlice(svc, portName string, b ingBackend, ready bool) *discoveryv1.EndpointSlice {
	return &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: svc + "-" + b.name, Labels: map[string]string{
			discoveryv1.LabelServiceName: svc, discoveryv1.LabelManagedBy: "ingress-test"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To(portName), Port: ptr.To(b.port), Protocol: ptr.To(corev1.ProtocolTCP)}},
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{b.ip}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(ready)}}},
	}
}

func ingService(name string, port corev1.ServicePort) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{port}}}
}

// ingCA is a CA and a serving certificate it signed for host, as PEM.
func ingCA(t *testing.T, host string) (*x509.CertPool, []byte, []byte) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ingress test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: host}, DNSNames: []string{host},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return pool, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
}

// ingClient sends every request to the controller's address, whatever
// the URL's host, so the Host header and SNI are the URL's.
type ingClient struct {
	c      *ingress.Controller
	client *http.Client
}

func newIngClient(c *ingress.Controller, roots *x509.CertPool) *ingClient {
	ic := &ingClient{c: c}
	ic.client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			httpAddr, httpsAddr := c.Addresses()
			target := httpAddr
			if strings.HasSuffix(addr, ":443") {
				target = httpsAddr
			}
			if target == "" {
				return nil, errors.New("the ingress does not listen")
			}
			return (&net.Dialer{}).DialContext(ctx, network, target)
		},
		TLSClientConfig: &tls.Config{RootCAs: roots},
	}}
	return ic
}

// get returns "CODE BODY".
func (ic *ingClient) get(url string) string {
	resp, err := ic.client.Get(url)
	if err != nil {
		return "error: " + err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return strconv.Itoa(resp.StatusCode) + " " + strings.TrimSpace(string(body))
}

// waitGet waits until a request to url answers with a prefix of want.
func (ic *ingClient) waitGet(t *testing.T, url, want string) string {
	t.Helper()
	var got string
	testserver.Eventually(t, 20*time.Second, "GET "+url+" → "+want, func() (bool, string) {
		got = ic.get(url)
		return strings.HasPrefix(got, want), got
	})
	return got
}

// peerCert is the certificate the HTTPS listener shows for sni.
func peerCert(t *testing.T, c *ingress.Controller, sni string) *x509.Certificate {
	t.Helper()
	_, addr := c.Addresses()
	conn, err := tls.Dial("tcp", addr, &tls.Config{ServerName: sni, InsecureSkipVerify: true})
	if err != nil {
		t.Fatalf("TLS to %s with SNI %q: %v", addr, sni, err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0]
}

// The built-in Ingress controller against a real control plane: its
// server creates the default IngressClass and writes the status; the
// controller routes by host and path to backends on loopback addresses.
func TestIngressController(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{})
	cs := srv.Clientset(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const ns = "web"
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The server makes our class, the default.
	testserver.Eventually(t, 30*time.Second, "IngressClass flotilla", func() (bool, string) {
		ic, err := cs.NetworkingV1().IngressClasses().Get(ctx, ingress.DefaultClassName, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return ic.Spec.Controller == ingress.ControllerName && ic.Annotations[networkingv1.AnnotationIsDefaultIngressClass] == "true", fmt.Sprint(ic)
	})

	alpha1 := startIngBackend(t, "alpha1", "127.0.0.2")
	alpha2 := startIngBackend(t, "alpha2", "127.0.0.3")
	beta := startIngBackend(t, "beta", "127.0.0.4")
	fallback := startIngBackend(t, "fallback", "127.0.0.5")
	late := startIngBackend(t, "late", "127.0.0.6")
	for _, o := range []*corev1.Service{
		ingService("alpha", corev1.ServicePort{Name: "http", Port: 80}),
		ingService("beta", corev1.ServicePort{Name: "web", Port: 8080}),
		ingService("fallback", corev1.ServicePort{Port: 80}),
		ingService("empty", corev1.ServicePort{Port: 80}),
	} {
		if _, err := cs.CoreV1().Services(ns).Create(ctx, o, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range []*discoveryv1.EndpointSlice{
		ingSlice("alpha", "http", alpha1, true), ingSlice("alpha", "http", alpha2, true),
		ingSlice("beta", "web", beta, true), ingSlice("fallback", "", fallback, true),
		ingSlice("empty", "", late, false), // not ready: 503
	} {
		if _, err := cs.DiscoveryV1().EndpointSlices(ns).Create(ctx, s, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	roots, crt, key := ingCA(t, "beta.example.test")
	for _, s := range []*corev1.Secret{
		{ObjectMeta: metav1.ObjectMeta{Name: "beta-tls"}, Type: corev1.SecretTypeTLS, Data: map[string][]byte{corev1.TLSCertKey: crt, corev1.TLSPrivateKeyKey: key}},
		{ObjectMeta: metav1.ObjectMeta{Name: "broken-tls"}, Type: corev1.SecretTypeTLS, Data: map[string][]byte{corev1.TLSCertKey: []byte("not a certificate"), corev1.TLSPrivateKeyKey: []byte("not a key")}},
	} {
		if _, err := cs.CoreV1().Secrets(ns).Create(ctx, s, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	prefix, exact := networkingv1.PathTypePrefix, networkingv1.PathTypeExact
	toService := func(p string, typ *networkingv1.PathType, svc string, port networkingv1.ServiceBackendPort) networkingv1.HTTPIngressPath {
		return networkingv1.HTTPIngressPath{Path: p, PathType: typ, Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: svc, Port: port}}}
	}
	byName := func(n string) networkingv1.ServiceBackendPort { return networkingv1.ServiceBackendPort{Name: n} }
	byNumber := func(n int32) networkingv1.ServiceBackendPort { return networkingv1.ServiceBackendPort{Number: n} }
	rule := func(host string, paths ...networkingv1.HTTPIngressPath) networkingv1.IngressRule {
		return networkingv1.IngressRule{Host: host, IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: paths}}}
	}
	// No class named: the default class, ours, is given by admission.
	main := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: "main"}, Spec: networkingv1.IngressSpec{
		Rules: []networkingv1.IngressRule{
			rule("alpha.example.test",
				toService("/", &prefix, "alpha", byName("http")),
				toService("/empty", &prefix, "empty", byNumber(80)),
				toService("/missing", &exact, "nosuch", byNumber(80))),
			rule("beta.example.test", toService("/", &prefix, "beta", byNumber(8080))),
		},
		TLS: []networkingv1.IngressTLS{{Hosts: []string{"beta.example.test"}, SecretName: "beta-tls"}},
	}}
	broken := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: "broken"}, Spec: networkingv1.IngressSpec{
		Rules: []networkingv1.IngressRule{rule("broken.example.test", toService("/", &prefix, "beta", byName("web")))},
		TLS:   []networkingv1.IngressTLS{{Hosts: []string{"broken.example.test"}, SecretName: "broken-tls"}},
	}}
	for _, ing := range []*networkingv1.Ingress{main, broken} {
		out, err := cs.NetworkingV1().Ingresses(ns).Create(ctx, ing, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if out.Spec.IngressClassName == nil || *out.Spec.IngressClassName != ingress.DefaultClassName {
			t.Fatalf("ingress %s got class %v, want the default %s", ing.Name, out.Spec.IngressClassName, ingress.DefaultClassName)
		}
	}

	// One node's controller, on loopback ports the kernel picks.
	factory := informers.NewSharedInformerFactory(cs, 0)
	c, err := ingress.New(factory, ingress.Config{HTTPAddress: "127.0.0.1:0", HTTPSAddress: "127.0.0.1:0", Client: cs, NodeName: "node-a"})
	if err != nil {
		t.Fatal(err)
	}
	factory.Start(ctx.Done())
	runErr := make(chan error, 1)
	go func() { runErr <- c.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-runErr; err != nil {
			t.Errorf("Run: %v", err)
		}
		factory.Shutdown()
	}()
	testserver.Eventually(t, 20*time.Second, "controller listening", func() (bool, string) {
		h, s := c.Addresses()
		return h != "" && s != "", h + " " + s
	})
	ic := newIngClient(c, roots)

	t.Run("host and path routing, round robin, forwarded headers", func(t *testing.T) {
		got := ic.waitGet(t, "http://alpha.example.test/some/path", "200 alpha")
		if !strings.Contains(got, "host=alpha.example.test path=/some/path xff=127.0.0.1 proto=http xhost=alpha.example.test") {
			t.Errorf("backend saw %q", got)
		}
		seen := map[string]bool{}
		for range 4 {
			seen[strings.Fields(ic.get("http://alpha.example.test/"))[1]] = true
		}
		if !seen["alpha1"] || !seen["alpha2"] {
			t.Errorf("round robin reached %v, want alpha1 and alpha2", seen)
		}
		if got := ic.get("http://beta.example.test:80/x"); !strings.HasPrefix(got, "200 beta host=beta.example.test:80 path=/x") {
			t.Errorf("beta over HTTP: %q", got)
		}
		// Dot segments are resolved before matching: /empty/.. is /.
		if got := ic.get("http://alpha.example.test/empty/../x"); !strings.HasPrefix(got, "200 alpha") || !strings.Contains(got, "path=/x ") {
			t.Errorf("dot segments: %q", got)
		}
	})

	t.Run("TLS with the Secret's certificate by SNI", func(t *testing.T) {
		// The client trusts only the test CA and sends SNI beta.example.test.
		got := ic.get("https://beta.example.test/secure")
		if !strings.HasPrefix(got, "200 beta host=beta.example.test path=/secure xff=127.0.0.1 proto=https xhost=beta.example.test") {
			t.Errorf("HTTPS: %q", got)
		}
		if cn := peerCert(t, c, "beta.example.test").Subject.CommonName; cn != "beta.example.test" {
			t.Errorf("certificate for beta.example.test: %q", cn)
		}
		for _, sni := range []string{"unknown.example.test", ""} {
			cert := peerCert(t, c, sni)
			if cert.Subject.CommonName != "Flotilla Ingress Default Certificate" || cert.Issuer.CommonName != cert.Subject.CommonName {
				t.Errorf("SNI %q: certificate %q issued by %q, want the self-signed default", sni, cert.Subject.CommonName, cert.Issuer.CommonName)
			}
		}
	})

	t.Run("an invalid TLS Secret is reported and falls back to the default certificate", func(t *testing.T) {
		if cn := peerCert(t, c, "broken.example.test").Subject.CommonName; cn != "Flotilla Ingress Default Certificate" {
			t.Errorf("certificate for broken.example.test: %q", cn)
		}
		// Plain HTTP still routes it.
		if got := ic.get("http://broken.example.test/"); !strings.HasPrefix(got, "200 beta") {
			t.Errorf("broken over HTTP: %q", got)
		}
		testserver.Eventually(t, 20*time.Second, "InvalidTLSSecret event", func() (bool, string) {
			evs, err := cs.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("involvedObject.name", "broken").String()})
			if err != nil {
				return false, err.Error()
			}
			var all []string
			for _, e := range evs.Items {
				if e.Reason == "InvalidTLSSecret" && e.Type == corev1.EventTypeWarning && e.InvolvedObject.Kind == "Ingress" &&
					strings.Contains(e.Message, "web/broken-tls") && e.Source.Host == "node-a" {
					return true, ""
				}
				all = append(all, e.Reason+": "+e.Message)
			}
			return false, fmt.Sprint(all)
		})
	})

	t.Run("503 without endpoints, 404 without a default backend", func(t *testing.T) {
		for _, u := range []string{"http://alpha.example.test/empty", "http://alpha.example.test/missing"} {
			if got := ic.get(u); !strings.HasPrefix(got, "503 ") {
				t.Errorf("%s: %q, want 503", u, got)
			}
		}
		// Exact /missing does not match /missing/x: the host's "/" does.
		if got := ic.get("http://alpha.example.test/missing/x"); !strings.HasPrefix(got, "200 alpha") {
			t.Errorf("/missing/x: %q", got)
		}
		if got := ic.get("http://nowhere.example.test/"); !strings.HasPrefix(got, "404 ") {
			t.Errorf("unknown host: %q, want 404", got)
		}
	})

	t.Run("endpoint changes", func(t *testing.T) {
		// The not-ready endpoint becomes ready.
		s, err := cs.DiscoveryV1().EndpointSlices(ns).Get(ctx, "empty-late", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		s.Endpoints[0].Conditions.Ready = ptr.To(true)
		if _, err := cs.DiscoveryV1().EndpointSlices(ns).Update(ctx, s, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		ic.waitGet(t, "http://alpha.example.test/empty", "200 late")
		// alpha2 goes: every request reaches alpha1.
		if err := cs.DiscoveryV1().EndpointSlices(ns).Delete(ctx, "alpha-alpha2", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		testserver.Eventually(t, 20*time.Second, "alpha2 removed", func() (bool, string) {
			var got []string
			for range 4 {
				got = append(got, strings.Fields(ic.get("http://alpha.example.test/") + " x")[1])
			}
			return !slices.Contains(got, "alpha2") && slices.Contains(got, "alpha1"), fmt.Sprint(got)
		})
		// The Service goes: 503.
		if err := cs.CoreV1().Services(ns).Delete(ctx, "empty", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		ic.waitGet(t, "http://alpha.example.test/empty", "503 ")
	})

	t.Run("websocket through the proxy", func(t *testing.T) {
		httpAddr, _ := c.Addresses()
		d := gwebsocket.Dialer{NetDial: func(string, string) (net.Conn, error) { return net.Dial("tcp", httpAddr) }, HandshakeTimeout: 10 * time.Second}
		conn, resp, err := d.Dial("ws://alpha.example.test/ws", nil)
		if err != nil {
			t.Fatalf("websocket: %v (%v)", err, resp)
		}
		defer conn.Close()
		if err := conn.WriteMessage(gwebsocket.TextMessage, []byte("ping")); err != nil {
			t.Fatal(err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, msg, err := conn.ReadMessage()
		if err != nil || !strings.HasPrefix(string(msg), "alpha") || !strings.HasSuffix(string(msg), ": ping") {
			t.Errorf("websocket echo %q, %v", msg, err)
		}
	})

	t.Run("default backend", func(t *testing.T) {
		def := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: "catch-all"}, Spec: networkingv1.IngressSpec{
			IngressClassName: ptr.To(ingress.DefaultClassName),
			DefaultBackend:   &networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "fallback", Port: byNumber(80)}},
		}}
		if _, err := cs.NetworkingV1().Ingresses(ns).Create(ctx, def, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		ic.waitGet(t, "http://nowhere.example.test/anything", "200 fallback")
		// Rules still win over it.
		if got := ic.get("http://alpha.example.test/"); !strings.HasPrefix(got, "200 alpha") {
			t.Errorf("alpha with a default backend: %q", got)
		}
	})

	t.Run("status.loadBalancer lists the Ready nodes", func(t *testing.T) {
		// The not-Ready node first: when the Ready one is seen, so is it.
		mkNode := func(name, ip string, ready corev1.ConditionStatus) {
			n, err := cs.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			now := metav1.Now()
			n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: ip}, {Type: corev1.NodeHostName, Address: name}}
			n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: ready, LastHeartbeatTime: now, LastTransitionTime: now, Reason: "Test"}}
			if _, err := cs.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		mkNode("node-down", "192.0.2.20", corev1.ConditionFalse)
		mkNode("node-a", "192.0.2.10", corev1.ConditionTrue)
		mkNode("node-b", "192.0.2.9", corev1.ConditionTrue)
		for _, name := range []string{"main", "broken", "catch-all"} {
			waitIngressStatus(t, cs, ns, name, "[192.0.2.9 192.0.2.10]")
		}
		// Written only when it changes: from the settled status on, an
		// unrelated change of the Ingress and a heartbeat of a node are
		// two events at most (the Ingress's own update and nothing), and
		// a node leaving is one more, the new status.
		settledIng, err := cs.NetworkingV1().Ingresses(ns).Get(ctx, "main", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		w, err := cs.NetworkingV1().Ingresses(ns).Watch(ctx, metav1.ListOptions{
			FieldSelector: fields.OneTermEqualSelector("metadata.name", "main").String(), ResourceVersion: settledIng.ResourceVersion})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		settledIng.Annotations = map[string]string{"touched": "yes"}
		if _, err := cs.NetworkingV1().Ingresses(ns).Update(ctx, settledIng, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		nodeA, err := cs.CoreV1().Nodes().Get(ctx, "node-a", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		nodeA.Status.Conditions[0].LastHeartbeatTime = metav1.NewTime(time.Now().Add(time.Second))
		if _, err := cs.CoreV1().Nodes().UpdateStatus(ctx, nodeA, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := cs.CoreV1().Nodes().Delete(ctx, "node-b", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		var seen []string
		timeout := time.After(20 * time.Second)
	events:
		for {
			select {
			case ev, ok := <-w.ResultChan():
				if !ok {
					t.Fatalf("watch ended; events %v", seen)
				}
				got, ok := ev.Object.(*networkingv1.Ingress)
				if !ok {
					t.Fatalf("watch event %v %T", ev.Type, ev.Object)
				}
				var ips []string
				for _, e := range got.Status.LoadBalancer.Ingress {
					ips = append(ips, e.IP)
				}
				seen = append(seen, fmt.Sprintf("%s touched=%s %v", ev.Type, got.Annotations["touched"], ips))
				if slices.Equal(ips, []string{"192.0.2.10"}) {
					break events
				}
			case <-timeout:
				t.Fatalf("no status without node-b; events %v", seen)
			}
		}
		want := []string{"MODIFIED touched=yes [192.0.2.9 192.0.2.10]", "MODIFIED touched=yes [192.0.2.10]"}
		if !slices.Equal(seen, want) {
			t.Errorf("events %q, want %q", seen, want)
		}
	})

	t.Run("no IngressClass of ours: not listening", func(t *testing.T) {
		if err := cs.NetworkingV1().IngressClasses().Delete(ctx, ingress.DefaultClassName, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		testserver.Eventually(t, 20*time.Second, "controller stops listening", func() (bool, string) {
			h, s := c.Addresses()
			return h == "" && s == "", h + " " + s
		})
		if got := ic.get("http://alpha.example.test/"); !strings.HasPrefix(got, "error") {
			t.Errorf("request without a class: %q", got)
		}
		// Another controller's class changes nothing; ours again: listening.
		if _, err := cs.NetworkingV1().IngressClasses().Create(ctx, &networkingv1.IngressClass{ObjectMeta: metav1.ObjectMeta{Name: ingress.DefaultClassName},
			Spec: networkingv1.IngressClassSpec{Controller: ingress.ControllerName}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		testserver.Eventually(t, 20*time.Second, "controller listens again", func() (bool, string) {
			h, s := c.Addresses()
			return h != "" && s != "", h + " " + s
		})
		// main names the class explicitly (admission wrote it), so it is
		// served though the new class is not the default.
		ic.waitGet(t, "http://alpha.example.test/", "200 alpha1")
	})
}

// waitIngressStatus waits until the Ingress's load balancer IPs are want
// ("[ip ...]").
func waitIngressStatus(t *testing.T, cs kubernetes.Interface, ns, name, want string) {
	t.Helper()
	testserver.Eventually(t, 20*time.Second, "status of ingress "+name, func() (bool, string) {
		ing, err := cs.NetworkingV1().Ingresses(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		var ips []string
		for _, e := range ing.Status.LoadBalancer.Ingress {
			ips = append(ips, e.IP+e.Hostname)
		}
		got := "[" + strings.Join(ips, " ") + "]"
		return got == want, got
	})
}

// --disable-ingress: the server removes the class it made before and
// makes none, so no agent listens.
func TestIngressDisabled(t *testing.T) {
	dir := t.TempDir()
	first := testserver.Start(t, testserver.Options{DataDir: dir})
	cs := first.Clientset(t)
	ctx := context.Background()
	testserver.Eventually(t, 30*time.Second, "IngressClass flotilla", func() (bool, string) {
		_, err := cs.NetworkingV1().IngressClasses().Get(ctx, ingress.DefaultClassName, metav1.GetOptions{})
		return err == nil, fmt.Sprint(err)
	})
	// An admin's class of ours is not the server's to remove.
	if _, err := cs.NetworkingV1().IngressClasses().Create(ctx, &networkingv1.IngressClass{ObjectMeta: metav1.ObjectMeta{Name: "admins"},
		Spec: networkingv1.IngressClassSpec{Controller: ingress.ControllerName}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	first.Stop()

	cfg := first.Config
	cfg.Controllers.DisableIngress = true
	again := testserver.StartConfig(t, cfg)
	cs = again.Clientset(t)
	testserver.Eventually(t, 30*time.Second, "IngressClass flotilla removed", func() (bool, string) {
		_, err := cs.NetworkingV1().IngressClasses().Get(ctx, ingress.DefaultClassName, metav1.GetOptions{})
		return apierrors.IsNotFound(err), fmt.Sprint(err)
	})
	if _, err := cs.NetworkingV1().IngressClasses().Get(ctx, "admins", metav1.GetOptions{}); err != nil {
		t.Errorf("the admin's class: %v", err)
	}
}

// The status is written only when it changes: a StatusController of the
// test's own, on a client counting its successful status writes, against
// a server that runs none.
func TestIngressStatusWrites(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{DisableControllers: []string{"ingress"}})
	cs := srv.Clientset(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var writes atomic.Int32
	cfg := srv.RESTConfig()
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			resp, err := rt.RoundTrip(r)
			if err == nil && r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, "/status") && resp.StatusCode == http.StatusOK {
				writes.Add(1)
			}
			return resp, err
		})
	}
	counted, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.NetworkingV1().IngressClasses().Create(ctx, &networkingv1.IngressClass{ObjectMeta: metav1.ObjectMeta{Name: "ours",
		Annotations: map[string]string{networkingv1.AnnotationIsDefaultIngressClass: "true"}},
		Spec: networkingv1.IngressClassSpec{Controller: ingress.ControllerName}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, n := range []struct{ name, ip string }{{"node-a", "192.0.2.10"}, {"node-b", "192.0.2.9"}} {
		node, err := cs.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n.name}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		// The node IPAM controller writes the new node's podCIDR meanwhile:
		// retry the status write on the version it leaves.
		err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
			node.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: n.ip}}
			node.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, LastHeartbeatTime: metav1.Now()}}
			_, err := cs.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{})
			if apierrors.IsConflict(err) {
				if fresh, getErr := cs.CoreV1().Nodes().Get(ctx, n.name, metav1.GetOptions{}); getErr == nil {
					node = fresh
				}
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	ings := cs.NetworkingV1().Ingresses("default")
	ing, err := ings.Create(ctx, &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: networkingv1.IngressSpec{
		DefaultBackend: &networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "web", Port: networkingv1.ServiceBackendPort{Number: 80}}}}},
		metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Another controller's Ingress keeps the status its controller wrote.
	other, err := ings.Create(ctx, &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: "other"}, Spec: networkingv1.IngressSpec{
		IngressClassName: ptr.To("nginx"),
		DefaultBackend:   &networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "web", Port: networkingv1.ServiceBackendPort{Number: 80}}}}},
		metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	other.Status.LoadBalancer.Ingress = []networkingv1.IngressLoadBalancerIngress{{IP: "198.51.100.1"}}
	if _, err := ings.UpdateStatus(ctx, other, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	factory := informers.NewSharedInformerFactory(counted, 0)
	sc := ingress.NewStatusController(counted, factory, slog.New(slog.NewTextHandler(io.Discard, nil)))
	factory.Start(ctx.Done())
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc.Run(ctx, 2)
	}()
	defer func() {
		cancel()
		<-done
		factory.Shutdown()
	}()
	// The counter moves when the controller has the answer, which may be
	// after the test sees the status.
	writesAre := func(want int32) {
		t.Helper()
		testserver.Eventually(t, 20*time.Second, fmt.Sprintf("%d status writes", want), func() (bool, string) {
			return writes.Load() >= want, fmt.Sprint(writes.Load())
		})
		if n := writes.Load(); n != want {
			t.Errorf("%d status writes, want %d (one per change)", n, want)
		}
	}
	waitIngressStatus(t, cs, "default", "web", "[192.0.2.9 192.0.2.10]")
	writesAre(1)
	// Changes that leave the status as it is: the Ingress's labels, a
	// node's heartbeat. Then one that changes it: node-b goes.
	ing, err = ings.Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ing.Labels = map[string]string{"touched": "yes"}
	if _, err := ings.Update(ctx, ing, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	nodeA, err := cs.CoreV1().Nodes().Get(ctx, "node-a", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	nodeA.Status.Conditions[0].LastHeartbeatTime = metav1.NewTime(time.Now().Add(time.Second))
	if _, err := cs.CoreV1().Nodes().UpdateStatus(ctx, nodeA, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := cs.CoreV1().Nodes().Delete(ctx, "node-b", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitIngressStatus(t, cs, "default", "web", "[192.0.2.10]")
	writesAre(2)
	// node-a not Ready: no address left.
	nodeA, err = cs.CoreV1().Nodes().Get(ctx, "node-a", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	nodeA.Status.Conditions[0].Status = corev1.ConditionFalse
	if _, err := cs.CoreV1().Nodes().UpdateStatus(ctx, nodeA, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitIngressStatus(t, cs, "default", "web", "[]")
	writesAre(3)
	waitIngressStatus(t, cs, "default", "other", "[198.51.100.1]")
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
