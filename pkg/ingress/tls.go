package ingress

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// certTable picks the certificate for an SNI name: the exact name first,
// then the wildcard covering its first label, as host rules match.
type certTable struct {
	exact    map[string]*tls.Certificate
	wildcard map[string]*tls.Certificate // by wildcardKey: "*.foo.com" → ".foo.com"
}

// add gives host cert unless an older Ingress gave it one already.
func (t *certTable) add(host string, cert *tls.Certificate) {
	m, key := t.exact, host
	if len(host) > 1 && host[0] == '*' {
		m, key = t.wildcard, host[1:]
	}
	if _, ok := m[key]; !ok {
		m[key] = cert
	}
}

// lookup returns the certificate for serverName, nil when none is named.
func (t *certTable) lookup(serverName string) *tls.Certificate {
	name := normalizeHost(serverName)
	if name == "" {
		return nil
	}
	if c := t.exact[name]; c != nil {
		return c
	}
	if key, ok := wildcardKey(name); ok {
		return t.wildcard[key]
	}
	return nil
}

// certCache keeps each TLS Secret parsed once per version: tables are
// rebuilt at every endpoint change, and parsing a key pair is not free.
// It is used by the table-building goroutine only.
type certCache struct {
	entries map[string]certEntry // namespace/name
	used    map[string]bool      // entries read by the build in progress
}

type certEntry struct {
	uid  types.UID
	rv   string
	cert *tls.Certificate
	err  error
}

func newCertCache() *certCache {
	return &certCache{entries: map[string]certEntry{}, used: map[string]bool{}}
}

// get parses secret, or returns what it gave at this version before.
func (c *certCache) get(secret *corev1.Secret) (*tls.Certificate, error) {
	key := secret.Namespace + "/" + secret.Name
	c.used[key] = true
	if e, ok := c.entries[key]; ok && e.uid == secret.UID && e.rv == secret.ResourceVersion {
		return e.cert, e.err
	}
	cert, err := parseTLSSecret(secret)
	c.entries[key] = certEntry{uid: secret.UID, rv: secret.ResourceVersion, cert: cert, err: err}
	return cert, err
}

// sweep forgets the Secrets the last build did not read.
func (c *certCache) sweep() {
	for key := range c.entries {
		if !c.used[key] {
			delete(c.entries, key)
		}
	}
	c.used = map[string]bool{}
}

// parseTLSSecret reads a kubernetes.io/tls Secret's key pair.
func parseTLSSecret(s *corev1.Secret) (*tls.Certificate, error) {
	if s.Type != corev1.SecretTypeTLS {
		return nil, fmt.Errorf("type is %q, not %q", s.Type, corev1.SecretTypeTLS)
	}
	crt, key := s.Data[corev1.TLSCertKey], s.Data[corev1.TLSPrivateKeyKey]
	if len(crt) == 0 || len(key) == 0 {
		return nil, errors.New("tls.crt or tls.key is empty")
	}
	cert, err := tls.X509KeyPair(crt, key)
	if err != nil {
		return nil, fmt.Errorf("key pair: %w", err)
	}
	return &cert, nil
}

// selfSigned makes the fallback certificate, as traefik serves its
// "TRAEFIK DEFAULT CERT": a client that trusts it was told to.
func selfSigned() (*tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("default certificate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("default certificate serial: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "Flotilla Ingress Default Certificate", Organization: []string{"flotilla"}},
		DNSNames:              []string{"ingress.local"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(1, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("default certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("default certificate: %w", err)
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}
