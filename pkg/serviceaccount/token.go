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

	"k8s.io/apimachinery/pkg/util/uuid"

	"github.com/flotilla-io/flotilla/pkg/pki"
)

// Issuer is the iss claim of bound tokens and the API server's audience,
// upstream's defaults.
const Issuer = "https://kubernetes.default.svc.cluster.local"

// LegacyIssuer is the iss claim of the never-expiring tokens kept in
// Secrets of type kubernetes.io/service-account-token.
const LegacyIssuer = "kubernetes/serviceaccount"

// Claims are what a token says. Bound tokens carry the registered claims
// and the kubernetes.io object; legacy tokens carry the flat
// kubernetes.io/serviceaccount/* claims and never expire.
type Claims struct {
	Issuer    string     `json:"iss"`
	Subject   string     `json:"sub"`
	Audience  []string   `json:"aud,omitempty"`
	Expiry    int64      `json:"exp,omitempty"`
	IssuedAt  int64      `json:"iat,omitempty"`
	NotBefore int64      `json:"nbf,omitempty"`
	ID        string     `json:"jti,omitempty"`
	Kube      *KubeClaim `json:"kubernetes.io,omitempty"`

	LegacyNamespace  string `json:"kubernetes.io/serviceaccount/namespace,omitempty"`
	LegacySecretName string `json:"kubernetes.io/serviceaccount/secret.name,omitempty"`
	LegacyName       string `json:"kubernetes.io/serviceaccount/service-account.name,omitempty"`
	LegacyUID        string `json:"kubernetes.io/serviceaccount/service-account.uid,omitempty"`
}

// KubeClaim is the private kubernetes.io claim of a bound token: the
// account and the objects whose lifetime bounds the token's.
type KubeClaim struct {
	Namespace      string `json:"namespace"`
	Node           *Ref   `json:"node,omitempty"`
	Pod            *Ref   `json:"pod,omitempty"`
	Secret         *Ref   `json:"secret,omitempty"`
	ServiceAccount Ref    `json:"serviceaccount"`
	// WarnAfter is set on a token whose expiry was extended: the time the
	// caller asked it to last until.
	WarnAfter int64 `json:"warnafter,omitempty"`
}

// Ref names one object by name and UID.
type Ref struct {
	Name string `json:"name"`
	UID  string `json:"uid,omitempty"`
}

// Legacy says whether the claims are those of a Secret-based token.
func (c *Claims) Legacy() bool { return c.Issuer == LegacyIssuer }

// Request asks for one bound token. Pod, Secret and Node are the objects
// it is bound to, if any (a pod-bound token also names the pod's node).
type Request struct {
	Namespace, Name, UID string // the service account
	Pod, Secret, Node    *Ref
	Audiences            []string
	Expiry               time.Duration
	// ExtendTo, if longer than Expiry, is how long the token is valid;
	// Expiry then only becomes its warnafter claim (upstream's extension
	// of kube-api-access tokens, so a late renewal breaks nothing).
	ExtendTo time.Duration
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

// Subject is the username of a service account.
func Subject(namespace, name string) string {
	return "system:serviceaccount:" + namespace + ":" + name
}

// Issue signs a bound token for r, valid from now for r.Expiry (an hour
// if unset), with a fresh jti.
func (s *Signer) Issue(r Request, now time.Time) (string, time.Time, error) {
	if r.Expiry <= 0 {
		r.Expiry = time.Hour
	}
	exp := now.Add(r.Expiry)
	var warnAfter int64
	if r.ExtendTo > r.Expiry {
		warnAfter, exp = exp.Unix(), now.Add(r.ExtendTo)
	}
	c := Claims{
		Issuer: Issuer, Subject: Subject(r.Namespace, r.Name), Audience: r.Audiences,
		Expiry: exp.Unix(), IssuedAt: now.Unix(), NotBefore: now.Unix(), ID: string(uuid.NewUUID()),
		Kube: &KubeClaim{Namespace: r.Namespace, ServiceAccount: Ref{Name: r.Name, UID: r.UID}, Pod: r.Pod, Secret: r.Secret, Node: r.Node, WarnAfter: warnAfter},
	}
	if len(c.Audience) == 0 {
		c.Audience = []string{Issuer}
	}
	token, err := s.sign(c)
	return token, exp, err
}

// IssueLegacy signs the never-expiring token kept in the Secret named
// secret of the account namespace/name.
func (s *Signer) IssueLegacy(namespace, name, uid, secret string) (string, error) {
	return s.sign(Claims{
		Issuer: LegacyIssuer, Subject: Subject(namespace, name),
		LegacyNamespace: namespace, LegacySecretName: secret, LegacyName: name, LegacyUID: uid,
	})
}

func (s *Signer) sign(c Claims) (string, error) {
	header, _ := json.Marshal(map[string]string{"alg": "ES256", "kid": s.keyID()})
	body, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	signing := enc.EncodeToString(header) + "." + enc.EncodeToString(body)
	sum := sha256.Sum256([]byte(signing))
	rr, ss, err := ecdsa.Sign(rand.Reader, s.key, sum[:])
	if err != nil {
		return "", err
	}
	sig := make([]byte, 64)
	rr.FillBytes(sig[:32])
	ss.FillBytes(sig[32:])
	return signing + "." + enc.EncodeToString(sig), nil
}

// ErrInvalid is any token this signer did not issue, that expired or
// that is meant for another audience.
var ErrInvalid = errors.New("invalid bearer token")

// AudienceError is a well-signed token meant for none of the audiences
// it was presented to. It is an ErrInvalid; its message is upstream's,
// which TokenReview reports.
type AudienceError struct {
	Token  []string // the token's audiences
	Target []string // the audiences asked for
}

func (e *AudienceError) Error() string {
	return fmt.Sprintf("token audiences %q is invalid for the target audiences %q", e.Token, e.Target)
}

// Unwrap makes errors.Is(err, ErrInvalid) hold.
func (e *AudienceError) Unwrap() error { return ErrInvalid }

// clockSkew is how far a token's nbf may lie in the future (upstream
// allows the same leeway).
const clockSkew = 60 * time.Second

// Verify checks the signature and, for bound tokens, the time window and
// that one of audiences (the API server's; Issuer if none) is among the
// token's. Whether the bound objects still exist is the authenticator's
// job.
func (s *Signer) Verify(token string, now time.Time, audiences ...string) (*Claims, error) {
	if len(audiences) == 0 {
		audiences = []string{Issuer}
	}
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
	switch c.Issuer {
	case LegacyIssuer:
		if c.LegacyNamespace == "" || c.LegacyName == "" || c.LegacySecretName == "" || c.Subject != Subject(c.LegacyNamespace, c.LegacyName) {
			return nil, ErrInvalid
		}
	case Issuer:
		if c.Kube == nil || c.Kube.Namespace == "" || c.Kube.ServiceAccount.Name == "" || c.Subject != Subject(c.Kube.Namespace, c.Kube.ServiceAccount.Name) {
			return nil, ErrInvalid
		}
		if now.Unix() >= c.Expiry || now.Add(clockSkew).Unix() < c.NotBefore {
			return nil, ErrInvalid
		}
		if !slices.ContainsFunc(c.Audience, func(a string) bool { return slices.Contains(audiences, a) }) {
			return nil, &AudienceError{Token: c.Audience, Target: audiences}
		}
	default:
		return nil, ErrInvalid
	}
	return &c, nil
}
