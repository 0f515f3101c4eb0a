package serviceaccount

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"k8s.io/apimachinery/pkg/util/uuid"

	"github.com/flotilla-io/flotilla/pkg/pki"
)

// Issuer is the iss claim of bound tokens and the API server's audience,
// upstream's defaults.
const Issuer = "https://kubernetes.default.svc.cluster.local"

// LegacyIssuer is the iss claim of the never-expiring tokens kept in
// Secrets of type kubernetes.io/service-account-token.
const LegacyIssuer = "kubernetes/serviceaccount"

// Claims are what a token says, in upstream's claim names. Bound tokens
// carry the registered claims (iss, sub, aud, exp, iat, nbf, jti) and the
// kubernetes.io object; legacy tokens carry iss, sub and the flat
// kubernetes.io/serviceaccount/* claims and never expire.
type Claims struct {
	jwt.RegisteredClaims
	Kube *KubeClaim `json:"kubernetes.io,omitempty"`

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
	WarnAfter *jwt.NumericDate `json:"warnafter,omitempty"`
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

// signingMethod is the one algorithm tokens are signed with and the only
// one Verify accepts: a token naming another (none, HS256 keyed with the
// public key, ...) is refused before its signature is looked at.
var signingMethod = jwt.SigningMethodES256

// Issue signs a bound token for r, valid from now for r.Expiry (an hour
// if unset), with a fresh jti.
func (s *Signer) Issue(r Request, now time.Time) (string, time.Time, error) {
	if r.Expiry <= 0 {
		r.Expiry = time.Hour
	}
	exp := now.Add(r.Expiry)
	var warnAfter *jwt.NumericDate
	if r.ExtendTo > r.Expiry {
		warnAfter, exp = jwt.NewNumericDate(exp), now.Add(r.ExtendTo)
	}
	audiences := r.Audiences
	if len(audiences) == 0 {
		audiences = []string{Issuer}
	}
	c := Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: Issuer, Subject: Subject(r.Namespace, r.Name), Audience: audiences,
			ExpiresAt: jwt.NewNumericDate(exp), IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now),
			ID: string(uuid.NewUUID()),
		},
		Kube: &KubeClaim{Namespace: r.Namespace, ServiceAccount: Ref{Name: r.Name, UID: r.UID}, Pod: r.Pod, Secret: r.Secret, Node: r.Node, WarnAfter: warnAfter},
	}
	token, err := s.sign(c)
	return token, exp, err
}

// IssueLegacy signs the never-expiring token kept in the Secret named
// secret of the account namespace/name.
func (s *Signer) IssueLegacy(namespace, name, uid, secret string) (string, error) {
	return s.sign(Claims{
		RegisteredClaims: jwt.RegisteredClaims{Issuer: LegacyIssuer, Subject: Subject(namespace, name)},
		LegacyNamespace:  namespace, LegacySecretName: secret, LegacyName: name, LegacyUID: uid,
	})
}

func (s *Signer) sign(c Claims) (string, error) {
	t := jwt.NewWithClaims(signingMethod, c)
	// The header names the key, as upstream's does, and nothing else: the
	// library's default typ is left out so tokens look as they always have.
	t.Header = map[string]any{"alg": signingMethod.Alg(), "kid": s.keyID()}
	token, err := t.SignedString(s.key)
	if err != nil {
		return "", fmt.Errorf("sign service account token: %w", err)
	}
	return token, nil
}

// ErrInvalid is any token this signer did not issue, that expired or
// that is meant for another audience.
var ErrInvalid = errors.New("invalid bearer token")

// Why a well-signed bound token is refused for its time window, in
// upstream's words; each is an ErrInvalid.
var (
	errExpired        = fmt.Errorf("%w: service account token has expired", ErrInvalid)
	errNotValidYet    = fmt.Errorf("%w: service account token is not valid yet", ErrInvalid)
	errIssuedInFuture = fmt.Errorf("%w: service account token is issued in the future", ErrInvalid)
)

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

// leeway is how far the clocks of whoever issued a token and whoever
// checks it may disagree: a token is accepted up to a minute past its
// exp, and a minute before its nbf or iat, as upstream accepts (its JOSE
// library's default leeway).
const leeway = time.Minute

// parser checks the signature only; which claims must hold depends on
// the issuer and is checked after.
var parser = jwt.NewParser(
	jwt.WithValidMethods([]string{signingMethod.Alg()}),
	jwt.WithoutClaimsValidation(),
	jwt.WithStrictDecoding(),
)

// Verify checks the signature and, for bound tokens, the time window and
// that one of audiences (the API server's; Issuer if none) is among the
// token's. Whether the bound objects still exist is the authenticator's
// job.
func (s *Signer) Verify(token string, now time.Time, audiences ...string) (*Claims, error) {
	if len(audiences) == 0 {
		audiences = []string{Issuer}
	}
	var c Claims
	key := func(*jwt.Token) (any, error) { return &s.key.PublicKey, nil }
	if _, err := parser.ParseWithClaims(token, &c, key); err != nil {
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
		if err := validateBound(&c, now, audiences); err != nil {
			return nil, err
		}
	default:
		return nil, ErrInvalid
	}
	return &c, nil
}

// validateBound checks a bound token's exp (which it must have), nbf and
// iat against now with leeway, then its audience.
func validateBound(c *Claims, now time.Time, audiences []string) error {
	err := jwt.NewValidator(
		jwt.WithTimeFunc(func() time.Time { return now }),
		jwt.WithLeeway(leeway),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithAudience(audiences...),
	).Validate(c)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, jwt.ErrTokenExpired):
		return errExpired
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return errNotValidYet
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return errIssuedInFuture
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return &AudienceError{Token: c.Audience, Target: audiences}
	default:
		return ErrInvalid
	}
}
