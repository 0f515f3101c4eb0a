package join

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/flotilla-io/flotilla/pkg/pki"
)

// joinServer is a server data dir with its CA and token, and the join
// endpoints served over TLS with a certificate of that CA.
type joinServer struct {
	dir     string
	ca      *pki.Authority
	url     string
	secrets *fake.Clientset
}

func startJoinServer(t *testing.T, reserved ...string) *joinServer {
	t.Helper()
	dir := t.TempDir()
	ca, err := pki.LoadOrCreateCA(filepath.Join(dir, "tls"), "test-ca")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateToken(dir, ca.CertPEM); err != nil {
		t.Fatal(err)
	}
	js := &joinServer{dir: dir, ca: ca, secrets: fake.NewSimpleClientset()}
	h := Handler(HandlerConfig{
		CA:            ca,
		Token:         func() (Token, error) { return LoadToken(dir) },
		Passwords:     SecretPasswords{Client: func() (kubernetes.Interface, error) { return js.secrets, nil }},
		ReservedNodes: reserved,
		ServerNames:   []string{"server-host"},
		ServerIPs:     []net.IP{net.ParseIP("10.0.0.1"), net.ParseIP("10.43.0.1")},
		Log:           slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	srv := httptest.NewUnstartedServer(h)
	certPEM, keyPEM, err := ca.Issue(pki.LeafRequest{CommonName: "apiserver", IPs: []net.IP{net.ParseIP("127.0.0.1")}, Server: true})
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	js.url = srv.URL
	return js
}

func (js *joinServer) token(t *testing.T) string {
	t.Helper()
	tok, err := LoadToken(js.dir)
	if err != nil {
		t.Fatal(err)
	}
	return tok.String()
}

func leafOf(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// The token buys a client certificate for system:node:NAME in
// system:nodes with client use only, and a serving certificate naming only
// the node and its addresses with server use only.
func TestBootstrapIssuesSeparateClientAndServingCertificates(t *testing.T) {
	js := startJoinServer(t)
	dir := t.TempDir()
	creds, err := Bootstrap(context.Background(), js.url, js.token(t), "node-a", []net.IP{net.ParseIP("192.0.2.10")}, dir)
	if err != nil {
		t.Fatal(err)
	}
	client := leafOf(t, creds.Client.CertFile)
	if client.Subject.CommonName != "system:node:node-a" || len(client.Subject.Organization) != 1 || client.Subject.Organization[0] != "system:nodes" {
		t.Errorf("client subject = %v", client.Subject)
	}
	if len(client.ExtKeyUsage) != 1 || client.ExtKeyUsage[0] != x509.ExtKeyUsageClientAuth || len(client.DNSNames)+len(client.IPAddresses) != 0 {
		t.Errorf("client certificate: usages %v, DNS %v, IPs %v; want client auth only and no names", client.ExtKeyUsage, client.DNSNames, client.IPAddresses)
	}
	serving := leafOf(t, creds.ServingCertFile)
	if len(serving.ExtKeyUsage) != 1 || serving.ExtKeyUsage[0] != x509.ExtKeyUsageServerAuth {
		t.Errorf("serving certificate usages %v, want server auth only", serving.ExtKeyUsage)
	}
	if len(serving.IPAddresses) != 1 || !serving.IPAddresses[0].Equal(net.ParseIP("192.0.2.10")) || len(serving.DNSNames) != 1 || serving.DNSNames[0] != "node-a" {
		t.Errorf("serving certificate names %v %v, want node-a and 192.0.2.10 only", serving.DNSNames, serving.IPAddresses)
	}
	if err := serving.CheckSignatureFrom(js.ca.Cert); err != nil {
		t.Errorf("serving certificate not from the CA: %v", err)
	}
	// The password is recorded as a hash, never in clear.
	pw, _ := os.ReadFile(filepath.Join(dir, "node-password"))
	s, err := js.secrets.CoreV1().Secrets("kube-system").Get(context.Background(), "node-a.node-password.flotilla", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("node password secret: %v", err)
	}
	if len(pw) == 0 || bytes.Contains(s.Data["hash"], bytes.TrimSpace(pw)) {
		t.Errorf("password secret %q must hold a hash of the agent's password", s.Data["hash"])
	}
	// A second bootstrap reuses everything.
	before, _ := os.ReadFile(creds.Client.CertFile)
	if _, err := Bootstrap(context.Background(), js.url, js.token(t), "node-a", []net.IP{net.ParseIP("192.0.2.10")}, dir); err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadFile(creds.Client.CertFile)
	if !bytes.Equal(before, after) {
		t.Error("a still good client certificate was replaced")
	}
}

// Another machine with the shared token cannot take over a joined name;
// the machine that holds it can join again (new certificates).
func TestNodeNameCannotBeTakenOver(t *testing.T) {
	js := startJoinServer(t)
	ips := []net.IP{net.ParseIP("192.0.2.10")}
	first := t.TempDir()
	if _, err := Bootstrap(context.Background(), js.url, js.token(t), "node-a", ips, first); err != nil {
		t.Fatal(err)
	}
	_, err := Bootstrap(context.Background(), js.url, js.token(t), "node-a", []net.IP{net.ParseIP("192.0.2.66")}, t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "403") || !strings.Contains(err.Error(), "already joined by another machine") {
		t.Fatalf("second machine joining as node-a: %v, want 403 already joined", err)
	}
	// The first machine, its certificates gone, joins again with its password.
	for _, f := range []string{"client.crt", "serving.crt"} {
		if err := os.Remove(filepath.Join(first, f)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Bootstrap(context.Background(), js.url, js.token(t), "node-a", ips, first); err != nil {
		t.Fatalf("rejoin with the node's own password: %v", err)
	}
}

// After a rotation the old token is refused; credentials already issued
// are reused without it.
func TestRotatedTokenRefusesOldOne(t *testing.T) {
	js := startJoinServer(t)
	old := js.token(t)
	joined := t.TempDir()
	ips := []net.IP{net.ParseIP("192.0.2.10")}
	if _, err := Bootstrap(context.Background(), js.url, old, "node-a", ips, joined); err != nil {
		t.Fatal(err)
	}
	rotated, err := RotateToken(js.dir)
	if err != nil {
		t.Fatal(err)
	}
	if rotated.String() == old || rotated.CAHash != CAHash(js.ca.CertPEM) {
		t.Fatalf("rotated token %q: want a new secret for the same CA", rotated)
	}
	if _, err := Bootstrap(context.Background(), js.url, old, "node-b", ips, t.TempDir()); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("join with the old token: %v, want 401", err)
	}
	if _, err := Bootstrap(context.Background(), js.url, old, "node-a", ips, joined); err != nil {
		t.Fatalf("a joined agent restarting with the old token must keep its certificates: %v", err)
	}
	if _, err := Bootstrap(context.Background(), js.url, rotated.String(), "node-b", ips, t.TempDir()); err != nil {
		t.Fatalf("join with the new token: %v", err)
	}
}

// Requests the agent would never make are refused: other identities,
// names of the API server, client certificates with names, reserved nodes.
func TestHandlerRefusals(t *testing.T) {
	js := startJoinServer(t, "server-node")
	tok, _ := LoadToken(js.dir)
	for _, tc := range []struct {
		name, kind, cn string
		org            []string
		dns            []string
		ips            []string
		password       string
		want           string
	}{
		{name: "other user", kind: KindClient, cn: "admin", org: []string{NodeGroup}, want: "must be for system:node:"},
		{name: "masters group", kind: KindClient, cn: "system:node:x", org: []string{"system:masters"}, want: "must be for system:node:"},
		{name: "two groups", kind: KindClient, cn: "system:node:x", org: []string{NodeGroup, "system:masters"}, want: "must be for system:node:"},
		{name: "invalid node name", kind: KindClient, cn: "system:node:X_Y", org: []string{NodeGroup}, want: "invalid node name"},
		{name: "server's own node", kind: KindClient, cn: "system:node:server-node", org: []string{NodeGroup}, want: "server's own node"},
		{name: "client with names", kind: KindClient, cn: "system:node:x", org: []string{NodeGroup}, dns: []string{"x"}, want: "may not name"},
		{name: "serving without names", kind: KindServing, cn: "system:node:x", org: []string{NodeGroup}, want: "must name the node's addresses"},
		{name: "serving as kubernetes", kind: KindServing, cn: "system:node:x", org: []string{NodeGroup}, dns: []string{"kubernetes.default.svc"}, want: "may name only its node"},
		{name: "node named kubernetes", kind: KindServing, cn: "system:node:kubernetes", org: []string{NodeGroup}, dns: []string{"kubernetes"}, want: "API server's name"},
		{name: "node named as the server host", kind: KindServing, cn: "system:node:server-host", org: []string{NodeGroup}, dns: []string{"server-host"}, want: "API server's name"},
		{name: "serving the API server's address", kind: KindServing, cn: "system:node:x", org: []string{NodeGroup}, ips: []string{"10.0.0.1"}, want: "API server's address"},
		{name: "serving the kubernetes service IP", kind: KindServing, cn: "system:node:x", org: []string{NodeGroup}, ips: []string{"10.43.0.1"}, want: "API server's address"},
		{name: "unknown kind", kind: "both", cn: "system:node:x", org: []string{NodeGroup}, want: "unknown certificate kind"},
		{name: "no password", kind: KindClient, cn: "system:node:x", org: []string{NodeGroup}, password: "-", want: "node password is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			tmpl := &x509.CertificateRequest{Subject: pkix.Name{CommonName: tc.cn, Organization: tc.org}, DNSNames: tc.dns}
			for _, ip := range tc.ips {
				tmpl.IPAddresses = append(tmpl.IPAddresses, net.ParseIP(ip))
			}
			der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
			if err != nil {
				t.Fatal(err)
			}
			req, _ := http.NewRequest(http.MethodPost, js.url+CertPath+"?kind="+tc.kind, bytes.NewReader(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})))
			req.Header.Set("Authorization", "Bearer "+tok.Secret)
			if tc.password != "-" {
				req.Header.Set(NodePasswordHeader, "pw")
			}
			hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: js.ca.Pool()}}}
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), tc.want) {
				t.Errorf("got %d %q, want 400 containing %q", resp.StatusCode, body, tc.want)
			}
		})
	}
	// Nothing was recorded for refused requests.
	l, _ := js.secrets.CoreV1().Secrets("kube-system").List(context.Background(), metav1.ListOptions{})
	if len(l.Items) != 0 {
		t.Errorf("refused requests recorded passwords: %d secrets", len(l.Items))
	}
}

// Loopback addresses are for requesters on the server's machine only.
func TestServingLoopbackOnlyFromLoopback(t *testing.T) {
	cfg := HandlerConfig{}
	csr := &x509.CertificateRequest{IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
	if err := cfg.checkServingNames(csr, "x", false); err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Errorf("loopback from a remote requester: %v", err)
	}
	if err := cfg.checkServingNames(csr, "x", true); err != nil {
		t.Errorf("loopback from the server's machine: %v", err)
	}
	if err := cfg.checkServingNames(&x509.CertificateRequest{DNSNames: []string{"localhost"}}, "localhost", true); err == nil {
		t.Error("a node named localhost got a serving certificate for localhost")
	}
}
