package serviceaccount

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/flotilla-io/flotilla/pkg/pki"
)

// Issuer is the iss claim, upstream's default.
const Issuer = "https://kubernetes.default.svc.cluster.local"

// Claims are what a token says.
type Claims struct {
	Issuer    string   `json:"iss"`
	Subject   string   `json:"sub"`
	Audience  []string `json:"aud"`
	Expiry    int64    `json:"exp"`
	IssuedAt  int64    `json:"iat"`
	NotBefore int64    `json:"nbf"`
	Kube      struct {
		Namespace      string `json:"namespace"`
		ServiceAccount ref    `json:"serviceaccount"`
		Pod            *ref   `json:"pod,omitempty"`
	} `json:"kubernetes.io"`
}

type ref struct {
	Name string `json:"name"`
	UID  string `json:"uid"`
}

// Request asks for one token.
type Request struct {
	Namespace, Name, UID string // the service account
	PodName, PodUID      string // optional binding
	Audiences            []string
	Expiry               time.Duration
}

// Signer holds the key.
type Signer struct{ key *ecdsa.PrivateKey }

// LoadOrCreate reads the PEM key at path, creating it on first use.
func LoadOrCreate(path string) (*Signer, error) {
	if b, err := os.ReadFile(path); err == nil {
		block, _ := pem.Decode(b)
		if block == nil {
			return nil, fmt.Errorf("%s: not PEM", path)
		}
		key, err := x509.ParseECPrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return &Signer{key: key}, nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	if err := pki.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return nil, err
	}
	return &Signer{key: key}, nil
}

// keyID names the key as upstream does: a hash of its public form.
func (s *Signer) keyID() string {
	der, _ := x509.MarshalPKIXPublicKey(&s.key.PublicKey)
	sum := sha256.Sum256(der)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

var enc = base64.RawURLEncoding

// Issue signs a token for r.
func (s *Signer) Issue(r Request, now time.Time) (string, time.Time, error) {
	if r.Expiry <= 0 {
		r.Expiry = time.Hour
	}
	exp := now.Add(r.Expiry)
	c := Claims{Issuer: Issuer, Subject: "system:serviceaccount:" + r.Namespace + ":" + r.Name, Audience: r.Audiences, Expiry: exp.Unix(), IssuedAt: now.Unix(), NotBefore: now.Unix()}
	if len(c.Audience) == 0 {
		c.Audience = []string{Issuer}
	}
	c.Kube.Namespace = r.Namespace
	c.Kube.ServiceAccount = ref{Name: r.Name, UID: r.UID}
	if r.PodName != "" {
		c.Kube.Pod = &ref{Name: r.PodName, UID: r.PodUID}
	}
	header, _ := json.Marshal(map[string]string{"alg": "ES256", "kid": s.keyID(), "typ": "JWT"})
	body, err := json.Marshal(c)
	if err != nil {
		return "", time.Time{}, err
	}
	signing := enc.EncodeToString(header) + "." + enc.EncodeToString(body)
	sum := sha256.Sum256([]byte(signing))
	rr, ss, err := ecdsa.Sign(rand.Reader, s.key, sum[:])
	if err != nil {
		return "", time.Time{}, err
	}
	sig := make([]byte, 64)
	rr.FillBytes(sig[:32])
	ss.FillBytes(sig[32:])
	return signing + "." + enc.EncodeToString(sig), exp, nil
}

// ErrInvalid is any token this signer did not issue or that expired.
var ErrInvalid = errors.New("invalid bearer token")

// Verify checks signature, time and audience (the API server's, the
// issuer) and returns the claims.
func (s *Signer) Verify(token string, now time.Time) (*Claims, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, ErrInvalid
	}
	sig, err := enc.DecodeString(parts[2])
	if err != nil || len(sig) != 64 {
		return nil, ErrInvalid
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if !ecdsa.Verify(&s.key.PublicKey, sum[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
		return nil, ErrInvalid
	}
	var header struct {
		Alg string `json:"alg"`
	}
	hb, err := enc.DecodeString(parts[0])
	if err != nil || json.Unmarshal(hb, &header) != nil || header.Alg != "ES256" {
		return nil, ErrInvalid
	}
	body, err := enc.DecodeString(parts[1])
	if err != nil {
		return nil, ErrInvalid
	}
	var c Claims
	if err := json.Unmarshal(body, &c); err != nil {
		return nil, ErrInvalid
	}
	if c.Issuer != Issuer || now.Unix() >= c.Expiry || now.Unix()+60 < c.NotBefore || !slices.Contains(c.Audience, Issuer) {
		return nil, ErrInvalid
	}
	return &c, nil
}

// User is who a token's claims make the caller.
func (c *Claims) User() (name string, groups []string) {
	return c.Subject, []string{"system:serviceaccounts", "system:serviceaccounts:" + c.Kube.Namespace, "system:authenticated"}
}
