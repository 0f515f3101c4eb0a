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

// Credentials are what a joined node holds: a client configuration for
// the API (certificate for system:node:<name>, client use only) and a
// serving pair for its streaming and stats port (its own addresses only,
// server use only).
type Credentials struct {
	Client                          *rest.Config
	ServingCertFile, ServingKeyFile string
}

// Bootstrap returns the credentials of node name against server, reusing
// those in dir when they are still good, else joining with the token and
// the node's password (kept in dir, created at the first join). The
// serving certificate names the node's addresses ips.
func Bootstrap(ctx context.Context, server, tokenText, name string, ips []net.IP, dir string) (*Credentials, error) {
	token, err := ParseToken(tokenText)
	if err != nil {
		return nil, err
	}
	server = strings.TrimSuffix(server, "/")
	caPath := filepath.Join(dir, "ca.crt")
	certPath, keyPath := filepath.Join(dir, "client.crt"), filepath.Join(dir, "client.key")
	servingCert, servingKey := filepath.Join(dir, "serving.crt"), filepath.Join(dir, "serving.key")
	ca, err := os.ReadFile(caPath)
	if err != nil || CAHash(ca) != token.CAHash {
		if ca, err = fetchCA(ctx, server, token); err != nil {
			return nil, err
		}
		if err := pki.WriteFile(caPath, ca, 0o644); err != nil {
			return nil, err
		}
	}
	clientOK := stillGood(certPath, keyPath, name, nil, x509.ExtKeyUsageClientAuth)
	servingOK := stillGood(servingCert, servingKey, name, ips, x509.ExtKeyUsageServerAuth)
	if !clientOK || !servingOK {
		password, err := loadOrCreatePassword(dir)
		if err != nil {
			return nil, err
		}
		r := certRequester{server: server, token: token, ca: ca, password: password, name: name}
		if !clientOK {
			if err := r.request(ctx, KindClient, nil, certPath, keyPath); err != nil {
				return nil, err
			}
		}
		if !servingOK {
			if err := r.request(ctx, KindServing, ips, servingCert, servingKey); err != nil {
				return nil, err
			}
		}
	}
	return &Credentials{
		Client: &rest.Config{
			Host:            server,
			TLSClientConfig: rest.TLSClientConfig{CAFile: caPath, CertFile: certPath, KeyFile: keyPath},
			UserAgent:       "flotilla-agent",
			// client-go's default of 5/s throttles every pod start (token,
			// config maps, status, events); these are the kubelet's limits.
			QPS:   50,
			Burst: 100,
		},
		ServingCertFile: servingCert,
		ServingKeyFile:  servingKey,
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

// certRequester asks the server for the node's certificates.
type certRequester struct {
	server   string
	token    Token
	ca       []byte
	password string
	name     string
}

// request asks for a certificate of kind for a new key, naming ips in a
// serving certificate, and writes the pair.
func (c certRequester) request(ctx context.Context, kind string, ips []net.IP, certPath, keyPath string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.CertificateRequest{Subject: pkix.Name{CommonName: NodeUserPrefix + c.name, Organization: []string{NodeGroup}}}
	if kind == KindServing {
		tmpl.DNSNames, tmpl.IPAddresses = []string{c.name}, ips
	}
	csrDER, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(c.ca)
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.server+CertPath+"?kind="+kind, bytes.NewReader(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csrDER})))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token.Secret)
	req.Header.Set(NodePasswordHeader, c.password)
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("request node %s certificate: %w", kind, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("request node %s certificate: %s: %s", kind, resp.Status, strings.TrimSpace(string(body)))
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
// addresses, has exactly the usage wanted (a pair from before client and
// serving certificates were split has both, and is replaced) and has a
// month left.
func stillGood(certPath, keyPath, name string, ips []net.IP, usage x509.ExtKeyUsage) bool {
	pair, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		return false
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return false
	}
	if len(leaf.ExtKeyUsage) != 1 || leaf.ExtKeyUsage[0] != usage {
		return false
	}
	for _, ip := range ips {
		if !slices.ContainsFunc(leaf.IPAddresses, ip.Equal) {
			return false
		}
	}
	return leaf.Subject.CommonName == NodeUserPrefix+name && time.Until(leaf.NotAfter) > 30*24*time.Hour
}
