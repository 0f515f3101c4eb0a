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
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"k8s.io/client-go/rest"

	"github.com/flotilla-io/flotilla/pkg/pki"
)

// Bootstrap returns a client configuration for node name against server,
// reusing the credentials in dir when they are still good, else joining
// with the token. The certificate also serves the node's addresses ips,
// where the agent answers the server's streaming requests.
func Bootstrap(ctx context.Context, server, tokenText, name string, ips []net.IP, dir string) (*rest.Config, error) {
	token, err := ParseToken(tokenText)
	if err != nil {
		return nil, err
	}
	server = strings.TrimSuffix(server, "/")
	caPath, certPath, keyPath := filepath.Join(dir, "ca.crt"), filepath.Join(dir, "client.crt"), filepath.Join(dir, "client.key")
	ca, err := os.ReadFile(caPath)
	if err != nil || CAHash(ca) != token.CAHash {
		if ca, err = fetchCA(ctx, server, token); err != nil {
			return nil, err
		}
		if err := pki.WriteFile(caPath, ca, 0o644); err != nil {
			return nil, err
		}
	}
	if !stillGood(certPath, keyPath, name, ips) {
		if err := requestCert(ctx, server, token, ca, name, ips, certPath, keyPath); err != nil {
			return nil, err
		}
	}
	return &rest.Config{
		Host:            server,
		TLSClientConfig: rest.TLSClientConfig{CAFile: caPath, CertFile: certPath, KeyFile: keyPath},
		UserAgent:       "flotilla-agent",
		// client-go's default of 5/s throttles every pod start (token,
		// config maps, status, events); these are the kubelet's limits.
		QPS:   50,
		Burst: 100,
	}, nil
}

// fetchCA reads the server's CA without trusting it yet, then pins it
// against the hash in the token.
func fetchCA(ctx context.Context, server string, token Token) ([]byte, error) {
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} // verified by hash below
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, server+CACertsPath, nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch cluster CA: %w", err)
	}
	defer resp.Body.Close()
	ca, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil || resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch cluster CA: status %d (%v)", resp.StatusCode, err)
	}
	if CAHash(ca) != token.CAHash {
		return nil, fmt.Errorf("the server's CA does not match the join token: wrong server or token")
	}
	return ca, nil
}

func requestCert(ctx context.Context, server string, token Token, ca []byte, name string, ips []net.IP, certPath, keyPath string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	csrDER, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject:     pkix.Name{CommonName: NodeUserPrefix + name, Organization: []string{NodeGroup}},
		DNSNames:    []string{name},
		IPAddresses: ips,
	}, key)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, server+CertPath, bytes.NewReader(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csrDER})))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token.Secret)
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("request node certificate: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("request node certificate: %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	if err := pki.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return err
	}
	return pki.WriteFile(certPath, body, 0o644)
}

// stillGood reports whether the stored pair names this node and its
// addresses and has a month left.
func stillGood(certPath, keyPath, name string, ips []net.IP) bool {
	pair, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		return false
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return false
	}
	for _, ip := range ips {
		if !slices.ContainsFunc(leaf.IPAddresses, ip.Equal) {
			return false
		}
	}
	return leaf.Subject.CommonName == NodeUserPrefix+name && time.Until(leaf.NotAfter) > 30*24*time.Hour
}
