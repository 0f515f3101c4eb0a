package serviceaccount

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// handSigned builds a token the way Flotilla signed them before it used
// the JWT library: a sorted-key header, the claims as given, and an
// ES256 signature of r and s as 32 bytes each.
func handSigned(t *testing.T, s *Signer, header map[string]string, claims string) string {
	t.Helper()
	h, err := json.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	signing := enc.EncodeToString(h) + "." + enc.EncodeToString([]byte(claims))
	sum := sha256.Sum256([]byte(signing))
	r, ss, err := ecdsa.Sign(rand.Reader, s.key, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	ss.FillBytes(sig[32:])
	return signing + "." + enc.EncodeToString(sig)
}

func newSigner(t *testing.T) *Signer {
	t.Helper()
	s, err := LoadOrCreate(filepath.Join(t.TempDir(), "sa.key"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Tokens issued before the library signed them (pods hold them in
// projected volumes, Secrets hold legacy ones) still verify.
func TestTokensFromBeforeTheLibraryVerify(t *testing.T) {
	s := newSigner(t)
	now := time.Unix(1_790_000_000, 0)
	header := map[string]string{"alg": "ES256", "kid": s.keyID()}
	bound := handSigned(t, s, header, fmt.Sprintf(`{"iss":%q,"sub":"system:serviceaccount:ns:app","aud":["vault"],`+
		`"exp":%d,"iat":%d,"nbf":%d,"jti":"8d3c","kubernetes.io":{"namespace":"ns",`+
		`"node":{"name":"n1","uid":"nu"},"pod":{"name":"web","uid":"pu"},"serviceaccount":{"name":"app","uid":"su"},"warnafter":%d}}`,
		Issuer, now.Add(time.Hour).Unix(), now.Unix(), now.Unix(), now.Add(10*time.Minute).Unix()))
	c, err := s.Verify(bound, now.Add(30*time.Minute), "vault")
	if err != nil {
		t.Fatalf("bound token from before: %v", err)
	}
	if c.ID != "8d3c" || c.Kube.Pod.UID != "pu" || c.Kube.Node.Name != "n1" || c.Kube.ServiceAccount.UID != "su" ||
		c.Kube.WarnAfter.Unix() != now.Add(10*time.Minute).Unix() || c.ExpiresAt.Unix() != now.Add(time.Hour).Unix() {
		t.Errorf("claims %+v kube %+v", c.RegisteredClaims, c.Kube)
	}
	legacy := handSigned(t, s, header, `{"iss":"kubernetes/serviceaccount","sub":"system:serviceaccount:ns:build",`+
		`"kubernetes.io/serviceaccount/namespace":"ns","kubernetes.io/serviceaccount/secret.name":"build-token",`+
		`"kubernetes.io/serviceaccount/service-account.name":"build","kubernetes.io/serviceaccount/service-account.uid":"u1"}`)
	c, err = s.Verify(legacy, now)
	if err != nil {
		t.Fatalf("legacy token from before: %v", err)
	}
	if !c.Legacy() || c.LegacySecretName != "build-token" || c.LegacyUID != "u1" {
		t.Errorf("legacy claims %+v", c)
	}
}

// The header of a token is what it was before the library: the key's
// name and the algorithm, nothing more.
func TestTokenHeader(t *testing.T) {
	s := newSigner(t)
	tok, _, err := s.Issue(Request{Namespace: "ns", Name: "app"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	h, err := enc.DecodeString(strings.Split(tok, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf(`{"alg":"ES256","kid":%q}`, s.keyID())
	if string(h) != want {
		t.Errorf("header %s, want %s", h, want)
	}
	// Only the public key's hash names it: the JWKS document serves the same kid.
	der, _ := x509.MarshalPKIXPublicKey(&s.key.PublicKey)
	sum := sha256.Sum256(der)
	if s.keyID() != enc.EncodeToString(sum[:]) {
		t.Errorf("kid %s is not the hash of the public key", s.keyID())
	}
}

// A token is refused unless it is signed with ES256 by the cluster's key,
// whatever else its header says.
func TestOnlyTheSigningAlgorithmIsAccepted(t *testing.T) {
	s := newSigner(t)
	now := time.Now()
	claims := Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: Issuer, Subject: Subject("ns", "app"), Audience: []string{Issuer},
			ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour)), IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now),
		},
		Kube: &KubeClaim{Namespace: "ns", ServiceAccount: Ref{Name: "app", UID: "u"}},
	}
	good, err := s.sign(claims)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Verify(good, now); err != nil {
		t.Fatalf("the signer's own token: %v", err)
	}
	// HMAC keyed with the public key: the classic confusion attack.
	pubDER, _ := x509.MarshalPKIXPublicKey(&s.key.PublicKey)
	hs, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(pubDER)
	if err != nil {
		t.Fatal(err)
	}
	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, claims).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	// The right signature under a header that names another algorithm.
	parts := strings.Split(good, ".")
	relabelled := enc.EncodeToString([]byte(`{"alg":"ES384","kid":"x"}`)) + "." + parts[1] + "." + parts[2]
	for name, tok := range map[string]string{"HS256 with the public key": hs, "alg none": none, "relabelled": relabelled} {
		if _, err := s.Verify(tok, now); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err %v, want ErrInvalid", name, err)
		}
	}
}

// Bound tokens must carry exp and may not come from the future; the
// refusals say why in upstream's words.
func TestBoundTokenTimeClaims(t *testing.T) {
	s := newSigner(t)
	now := time.Now()
	sign := func(exp, iat *jwt.NumericDate) string {
		tok, err := s.sign(Claims{
			RegisteredClaims: jwt.RegisteredClaims{Issuer: Issuer, Subject: Subject("ns", "app"), Audience: []string{Issuer}, ExpiresAt: exp, IssuedAt: iat},
			Kube:             &KubeClaim{Namespace: "ns", ServiceAccount: Ref{Name: "app"}},
		})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	hour := jwt.NewNumericDate(now.Add(time.Hour))
	for _, tc := range []struct {
		name, token, msg string
	}{
		{"no exp", sign(nil, jwt.NewNumericDate(now)), "invalid bearer token"},
		{"expired", sign(jwt.NewNumericDate(now.Add(-2*leeway)), nil), "invalid bearer token: service account token has expired"},
		{"issued in the future", sign(hour, jwt.NewNumericDate(now.Add(2*leeway))), "invalid bearer token: service account token is issued in the future"},
	} {
		_, err := s.Verify(tc.token, now)
		if !errors.Is(err, ErrInvalid) || err.Error() != tc.msg {
			t.Errorf("%s: err %v, want %q", tc.name, err, tc.msg)
		}
	}
	if _, err := s.Verify(sign(hour, jwt.NewNumericDate(now.Add(leeway/2))), now); err != nil {
		t.Errorf("iat within the leeway refused: %v", err)
	}
	var aud *AudienceError
	if _, err := s.Verify(sign(hour, nil), now, "vault"); !errors.As(err, &aud) ||
		err.Error() != `token audiences ["https://kubernetes.default.svc.cluster.local"] is invalid for the target audiences ["vault"]` {
		t.Errorf("other audience: %v", err)
	}
}
