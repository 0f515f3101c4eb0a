package integration

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"strings"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/flotilla-io/flotilla/pkg/server/testserver"
)

// TestServiceAccountIssuerDiscovery: a service account (bound to
// system:service-account-issuer-discovery through system:serviceaccounts,
// as upstream) reads the issuer's OpenID metadata and key set, and the
// key set verifies a token the API issued; a client-certificate user
// without the role is refused.
func TestServiceAccountIssuerDiscovery(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{})
	admin := srv.Clientset(t)
	ctx := context.Background()
	if _, err := admin.CoreV1().ServiceAccounts("default").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "oidc"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	tr, err := admin.CoreV1().ServiceAccounts("default").CreateToken(ctx, "oidc", &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		Audiences: []string{"oidc-discovery-test"}, ExpirationSeconds: ptr.To[int64](600)}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	token := tr.Status.Token
	// The token to verify is for another audience; the client calls the
	// API with one for the API server, as a pod's in-cluster client does.
	apiToken, err := admin.CoreV1().ServiceAccounts("default").CreateToken(ctx, "oidc", &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sa := tokenClient(t, srv, apiToken.Status.Token).Discovery().RESTClient()

	raw, err := sa.Get().AbsPath("/.well-known/openid-configuration").DoRaw(ctx)
	if err != nil {
		t.Fatalf("discovery document: %v", err)
	}
	var doc struct {
		Issuer  string   `json:"issuer"`
		JWKSURI string   `json:"jwks_uri"`
		Algs    []string `json:"id_token_signing_alg_values_supported"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("discovery document %s: %v", raw, err)
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts", len(parts))
	}
	var claims struct {
		Issuer string `json:"iss"`
	}
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	if doc.Issuer != claims.Issuer || doc.JWKSURI != claims.Issuer+"/openid/v1/jwks" || len(doc.Algs) != 1 || doc.Algs[0] != "ES256" {
		t.Fatalf("discovery document %s for a token of issuer %q", raw, claims.Issuer)
	}

	raw, err = sa.Get().AbsPath("/openid/v1/jwks").DoRaw(ctx)
	if err != nil {
		t.Fatalf("key set: %v", err)
	}
	var set struct {
		Keys []struct{ Kty, Crv, Kid, Alg, X, Y string }
	}
	if err := json.Unmarshal(raw, &set); err != nil || len(set.Keys) != 1 {
		t.Fatalf("key set %s: %v", raw, err)
	}
	k := set.Keys[0]
	var header struct{ Kid, Alg string }
	h, _ := base64.RawURLEncoding.DecodeString(parts[0])
	if err := json.Unmarshal(h, &header); err != nil {
		t.Fatal(err)
	}
	if k.Kty != "EC" || k.Crv != "P-256" || k.Kid != header.Kid || header.Alg != "ES256" {
		t.Fatalf("key %+v for token header %+v", k, header)
	}
	x, errX := base64.RawURLEncoding.DecodeString(k.X)
	y, errY := base64.RawURLEncoding.DecodeString(k.Y)
	sig, errS := base64.RawURLEncoding.DecodeString(parts[2])
	if errX != nil || errY != nil || errS != nil || len(sig) != 64 {
		t.Fatalf("key or signature does not decode: %v %v %v (signature %d bytes)", errX, errY, errS, len(sig))
	}
	pub := &ecdsa.PublicKey{Curve: elliptic.P256(), X: new(big.Int).SetBytes(x), Y: new(big.Int).SetBytes(y)}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if !ecdsa.Verify(pub, sum[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
		t.Fatal("the published key does not verify the token")
	}
	// A tampered token does not verify: the check above can fail.
	sum2 := sha256.Sum256([]byte(parts[0] + "." + parts[1] + "x"))
	if ecdsa.Verify(pub, sum2[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
		t.Fatal("the key verifies a tampered token")
	}

	// Someone with no role bound is refused, with upstream's message.
	var code int
	res := clientFor(t, srv.UserConfig(t, "nobody")).Discovery().RESTClient().Get().AbsPath("/openid/v1/jwks").Do(ctx).StatusCode(&code)
	if body, _ := res.Raw(); code != http.StatusForbidden || !strings.Contains(string(body), `"message":"forbidden: User \"nobody\" cannot get path \"/openid/v1/jwks\""`) {
		t.Fatalf("user without the role: %d %s", code, body)
	}
}
