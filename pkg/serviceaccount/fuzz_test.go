package serviceaccount

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/json"
	"math/big"
	"strings"
	"testing"
	"time"
)

// signedByKey is a plain reading of a compact ES256 JWS, written without
// the JWT library: three dot-separated base64url parts, a header whose
// alg is ES256, and a 64-byte r||s signature the key verifies over the
// first two parts.
func signedByKey(pub *ecdsa.PublicKey, token string) bool {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return false
	}
	h, err := enc.DecodeString(parts[0])
	if err != nil {
		return false
	}
	var header struct {
		Alg string `json:"alg"`
	}
	if json.Unmarshal(h, &header) != nil || header.Alg != "ES256" {
		return false
	}
	sig, err := enc.DecodeString(parts[2])
	if err != nil || len(sig) != 64 {
		return false
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	return ecdsa.Verify(pub, sum[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:]))
}

// FuzzVerify feeds Verify arbitrary tokens: it must never panic, and a
// token it accepts must be signed by the key (by the plain reading
// above), name a known issuer and an account its subject agrees with.
func FuzzVerify(f *testing.F) {
	s, err := LoadOrCreate(f.TempDir() + "/sa.key")
	if err != nil {
		f.Fatal(err)
	}
	now := time.Unix(1_790_000_000, 0)
	bound, _, err := s.Issue(Request{Namespace: "ns", Name: "app", UID: "u", Pod: &Ref{Name: "p", UID: "pu"}, Audiences: []string{"vault"}}, now)
	if err != nil {
		f.Fatal(err)
	}
	legacy, err := s.IssueLegacy("ns", "app", "u", "app-token")
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{bound, legacy, "", "a.b.c", "..", bound + ".", strings.Replace(bound, ".", "..", 1),
		enc.EncodeToString([]byte(`{"alg":"none"}`)) + "." + strings.Split(bound, ".")[1] + "."} {
		f.Add(seed, int64(0))
	}
	f.Fuzz(func(t *testing.T, token string, skew int64) {
		at := now.Add(time.Duration(skew%(48*3600)) * time.Second)
		c, err := s.Verify(token, at, "vault", Issuer)
		if err != nil {
			if c != nil {
				t.Fatalf("claims %+v returned with error %v", c, err)
			}
			return
		}
		if !signedByKey(&s.key.PublicKey, token) {
			t.Fatalf("accepted a token the key did not sign: %q", token)
		}
		switch {
		case c.Legacy():
			if c.Subject != Subject(c.LegacyNamespace, c.LegacyName) {
				t.Fatalf("legacy subject %q for %s/%s", c.Subject, c.LegacyNamespace, c.LegacyName)
			}
		case c.Issuer == Issuer:
			if c.Kube == nil || c.Subject != Subject(c.Kube.Namespace, c.Kube.ServiceAccount.Name) || c.ExpiresAt == nil {
				t.Fatalf("bound claims %+v", c)
			}
			if at.Add(-leeway).After(c.ExpiresAt.Time) {
				t.Fatalf("accepted at %v a token that expired at %v", at, c.ExpiresAt.Time)
			}
		default:
			t.Fatalf("accepted issuer %q", c.Issuer)
		}
	})
}
