package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testNetworkPolicy: in a namespace with a web pod and two clients, a
// default-deny ingress policy cuts both clients off (the connection is
// refused, not left hanging), and a policy allowing pods labelled
// role=client lets exactly that one through again.
func testNetworkPolicy(sc *svcCluster) {
	t := sc.t
	ns := sc.namespace("netpol")
	sc.ok(`apiVersion: v1
kind: Pod
metadata: {name: web, labels: {app: web}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {name: web, image: busybox, command: ["sh", "-c", "mkdir -p /www; echo hello > /www/index.html; exec httpd -f -p 8080 -h /www"]}
---
apiVersion: v1
kind: Pod
metadata: {name: client, labels: {role: client}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {name: c, image: busybox, command: ["sleep", "3600"]}
---
apiVersion: v1
kind: Pod
metadata: {name: stranger}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {name: c, image: busybox, command: ["sleep", "3600"]}
`, "apply", "-n", ns, "-f", "-")
	sc.ok("", "wait", "-n", ns, "--for=condition=Ready", "pod", "--all", "--timeout=90s")
	webIP := strings.TrimSpace(sc.ok("", "get", "pod", "web", "-n", ns, "-o", "jsonpath={.status.podIP}"))
	fetch := func(from string) result {
		return sc.kubectl("", "exec", "-n", ns, from, "--", "wget", "-q", "-T", "3", "-O-", "http://"+webIP+":8080/")
	}
	// reaches waits until from's fetch succeeds (want) or fails (!want)
	// with wget's own error, the positive signal of a refused connection.
	reaches := func(from string, want bool) {
		t.Helper()
		sc.eventually(from+" reaching web = "+map[bool]string{true: "yes", false: "refused"}[want], 60*time.Second, func() (bool, string) {
			r := fetch(from)
			if want {
				return r.code == 0 && strings.Contains(r.stdout, "hello"), r.String()
			}
			return r.code != 0 && strings.Contains(r.stderr, "wget:"), r.String()
		})
	}
	reaches("client", true)
	reaches("stranger", true)

	sc.ok(`apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny}
spec:
  podSelector: {}
  policyTypes: [Ingress]
`, "apply", "-n", ns, "-f", "-")
	reaches("client", false)
	reaches("stranger", false)
	// Refused at once, not after the 3 s timeout: a denied TCP
	// connection gets a reset.
	start := time.Now()
	if r := fetch("stranger"); r.code == 0 || time.Since(start) > 2500*time.Millisecond+time.Second {
		t.Errorf("denied fetch: %s after %v, want a quick refusal", r.String(), time.Since(start))
	}

	sc.ok(`apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-clients}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from:
    - podSelector: {matchLabels: {role: client}}
    ports:
    - {port: 8080}
`, "apply", "-n", ns, "-f", "-")
	reaches("client", true)
	reaches("stranger", false)
	contains(t, sc.ok("", "get", "netpol", "-n", ns), "allow-clients", "app=web", "default-deny", "<none>")
}

// testIngress: two hosts routed to two Services by the node's built-in
// ingress controller, one of them over TLS with a certificate from a
// Secret, reached with curl from the node's host.
func testIngress(sc *svcCluster) {
	t := sc.t
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatalf("curl is not installed: %v", err)
	}
	ns := sc.namespace("ingress")
	for _, app := range []string{"blue", "green"} {
		sc.ok(strings.ReplaceAll(`apiVersion: v1
kind: Pod
metadata: {name: APP, labels: {app: APP}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {name: web, image: busybox, command: ["sh", "-c", "mkdir -p /www; echo I am APP > /www/index.html; exec httpd -f -p 8080 -h /www"]}
---
apiVersion: v1
kind: Service
metadata: {name: APP}
spec:
  selector: {app: APP}
  ports: [{name: http, port: 80, targetPort: 8080}]
`, "APP", app), "apply", "-n", ns, "-f", "-")
	}
	caFile, certFile, keyFile := selfSignedCert(t, "green.example.test")
	sc.ok("", "create", "secret", "tls", "green-tls", "-n", ns, "--cert", certFile, "--key", keyFile)
	sc.ok(`apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: colours}
spec:
  tls:
  - {hosts: [green.example.test], secretName: green-tls}
  rules:
  - host: blue.example.test
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: blue, port: {number: 80}}}}
  - host: green.example.test
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: green, port: {name: http}}}}
`, "apply", "-n", ns, "-f", "-")
	sc.waitReady(ns, "app in (blue,green)", 2)
	curl := func(args ...string) result {
		cmd := exec.Command("nsenter", append([]string{"--net=" + sc.ns.Path, "--", "curl", "-sS", "--max-time", "5"}, args...)...)
		var out, errb strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		code := 0
		if err != nil {
			code = 1
		}
		return result{stdout: out.String(), stderr: errb.String(), code: code}
	}
	sc.eventually("blue over HTTP", 60*time.Second, func() (bool, string) {
		r := curl("--resolve", "blue.example.test:80:"+svcNodeIP, "http://blue.example.test/")
		return r.code == 0 && strings.Contains(r.stdout, "I am blue"), r.String()
	})
	sc.eventually("green over HTTPS, its certificate checked", 60*time.Second, func() (bool, string) {
		r := curl("--cacert", caFile, "--resolve", "green.example.test:443:"+svcNodeIP, "https://green.example.test/")
		return r.code == 0 && strings.Contains(r.stdout, "I am green"), r.String()
	})
	// An unknown host is no one's: 404.
	if r := curl("-o", "/dev/null", "-w", "%{http_code}", "--resolve", "red.example.test:80:"+svcNodeIP, "http://red.example.test/"); strings.TrimSpace(r.stdout) != "404" {
		t.Errorf("unknown host: %s", r.String())
	}
	sc.eventually("the Ingress shows the node's address", 60*time.Second, func() (bool, string) {
		out := sc.kubectl("", "get", "ingress", "colours", "-n", ns, "-o", "jsonpath={.status.loadBalancer.ingress[*].ip}").stdout
		return strings.Contains(out, svcNodeIP), out
	})
}

// selfSignedCert writes a CA-less self-signed certificate for host and
// its key; the certificate is also the CA file a client trusts.
func selfSignedCert(t *testing.T, host string) (caFile, certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: host}, DNSNames: []string{host},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, certFile, keyFile
}
