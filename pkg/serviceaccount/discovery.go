package serviceaccount

import (
	"crypto/sha256"
	"encoding/json"
	"net/http"
	"strings"
)

// Paths of service account issuer discovery (OpenID Connect), at which a
// relying party finds the issuer's metadata and the keys that verify its
// tokens.
const (
	DiscoveryPath = "/.well-known/openid-configuration"
	JWKSPath      = "/openid/v1/jwks"
)

// discoveryDoc is the OpenID provider metadata upstream serves: only what
// verifying a token needs.
type discoveryDoc struct {
	Issuer        string   `json:"issuer"`
	JWKSURI       string   `json:"jwks_uri"`
	ResponseTypes []string `json:"response_types_supported"`
	SubjectTypes  []string `json:"subject_types_supported"`
	SigningAlgs   []string `json:"id_token_signing_alg_values_supported"`
}

// jwk is one public key in JSON Web Key form (RFC 7517/7518, EC P-256).
type jwk struct {
	Use string `json:"use"`
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Crv string `json:"crv"`
	Alg string `json:"alg"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

// DiscoveryHandler serves DiscoveryPath and JWKSPath for tokens of
// Issuer: the metadata names the key set at the issuer's own host, where
// the API server answers (kubernetes.default.svc inside the cluster).
func (s *Signer) DiscoveryHandler() http.Handler {
	doc, _ := json.Marshal(discoveryDoc{
		Issuer:        Issuer,
		JWKSURI:       strings.TrimSuffix(Issuer, "/") + JWKSPath,
		ResponseTypes: []string{"id_token"},
		SubjectTypes:  []string{"public"},
		SigningAlgs:   []string{"ES256"},
	})
	pub := s.key.PublicKey
	x, y := make([]byte, 32), make([]byte, 32)
	pub.X.FillBytes(x)
	pub.Y.FillBytes(y)
	keys, _ := json.Marshal(struct {
		Keys []jwk `json:"keys"`
	}{[]jwk{{Use: "sig", Kty: "EC", Kid: s.keyID(), Crv: "P-256", Alg: "ES256", X: enc.EncodeToString(x), Y: enc.EncodeToString(y)}}})
	serve := func(body []byte, contentType string) http.HandlerFunc {
		etag := sha256.Sum256(body)
		return func(w http.ResponseWriter, r *http.Request) {
			// Both documents change only with the key; relying parties
			// may cache them for an hour, as upstream allows.
			w.Header().Set("Content-Type", contentType)
			w.Header().Set("Cache-Control", "public, max-age=3600")
			w.Header().Set("ETag", `"`+enc.EncodeToString(etag[:16])+`"`)
			_, _ = w.Write(body)
		}
	}
	mux := http.NewServeMux()
	mux.Handle("GET "+DiscoveryPath, serve(doc, "application/json"))
	mux.Handle("GET "+JWKSPath, serve(keys, "application/jwk-set+json"))
	return mux
}
