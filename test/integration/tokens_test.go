package integration

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"os/exec"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/flotilla-io/flotilla/pkg/server"
	"github.com/flotilla-io/flotilla/pkg/server/testserver"
)

// tokenClient is a client that authenticates with token only.
func tokenClient(t *testing.T, srv *testserver.Instance, token string) kubernetes.Interface {
	t.Helper()
	admin := srv.RESTConfig()
	cfg := &rest.Config{Host: admin.Host, BearerToken: token, TLSClientConfig: rest.TLSClientConfig{CAData: admin.CAData}}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// whoami answers who the API takes token's bearer for: username, UID,
// groups and extra, from a SelfSubjectReview where the API serves them
// (every authenticated user may ask), else from what a
// CertificateSigningRequest records of its requester. An error is the
// API's refusal.
func whoami(t *testing.T, srv *testserver.Instance, token string) (certificatesv1.CertificateSigningRequestSpec, error) {
	t.Helper()
	ctx := context.Background()
	cs := tokenClient(t, srv, token)
	review, err := cs.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err == nil {
		u := review.Status.UserInfo
		extra := map[string]certificatesv1.ExtraValue{}
		for k, v := range u.Extra {
			extra[k] = certificatesv1.ExtraValue(v)
		}
		return certificatesv1.CertificateSigningRequestSpec{Username: u.Username, UID: u.UID, Groups: u.Groups, Extra: extra}, nil
	}
	if !apierrors.IsNotFound(err) {
		return certificatesv1.CertificateSigningRequestSpec{}, err
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, key)
	if err != nil {
		t.Fatal(err)
	}
	csr := &certificatesv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "whoami-"},
		Spec: certificatesv1.CertificateSigningRequestSpec{
			Request:    pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}),
			SignerName: "example.com/whoami",
			Usages:     []certificatesv1.KeyUsage{certificatesv1.UsageClientAuth},
		},
	}
	got, err := cs.CertificatesV1().CertificateSigningRequests().Create(ctx, csr, metav1.CreateOptions{})
	if err != nil {
		return certificatesv1.CertificateSigningRequestSpec{}, err
	}
	return got.Spec, nil
}

// claims decodes a JWT's payload without checking it.
func claims(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", token)
	}
	body, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(body, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func mustCreate[T any](t *testing.T, create func(context.Context, T, metav1.CreateOptions) (T, error), obj T) T {
	t.Helper()
	got, err := create(context.Background(), obj, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func requestToken(t *testing.T, cs kubernetes.Interface, ns, sa string, spec authenticationv1.TokenRequestSpec) (*authenticationv1.TokenRequest, error) {
	t.Helper()
	return cs.CoreV1().ServiceAccounts(ns).CreateToken(context.Background(), sa, &authenticationv1.TokenRequest{Spec: spec}, metav1.CreateOptions{})
}

// refused waits until the API refuses token with 401 Unauthorized (the
// authenticator's caches follow deletions within moments).
func refused(t *testing.T, srv *testserver.Instance, token, why string) {
	t.Helper()
	testserver.Eventually(t, 20*time.Second, why+": token refused", func() (bool, string) {
		_, err := whoami(t, srv, token)
		return apierrors.IsUnauthorized(err), "err: " + errString(err)
	})
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

func podFor(name, sa string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PodSpec{
		ServiceAccountName: sa, Containers: []corev1.Container{{Name: "c", Image: "busybox"}},
	}}
}

// TokenRequest as upstream: defaults, limits, bindings and their
// refusals, the claims, and the user a token stands for.
func TestTokenRequest(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{})
	cs := srv.Clientset(t)
	ctx := context.Background()
	ns := "tokens"
	mustCreate(t, cs.CoreV1().Namespaces().Create, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	testserver.Settled(t, cs, ns)
	sa := mustCreate(t, cs.CoreV1().ServiceAccounts(ns).Create, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "app"}})
	pod := mustCreate(t, cs.CoreV1().Pods(ns).Create, podFor("web", "app"))
	other := mustCreate(t, cs.CoreV1().Pods(ns).Create, podFor("other", ""))

	t.Run("defaults", func(t *testing.T) {
		before := time.Now()
		tr, err := requestToken(t, cs, ns, "app", authenticationv1.TokenRequestSpec{})
		if err != nil {
			t.Fatal(err)
		}
		if *tr.Spec.ExpirationSeconds != 3600 || len(tr.Spec.Audiences) != 1 || tr.Spec.Audiences[0] != "https://kubernetes.default.svc.cluster.local" {
			t.Errorf("spec %+v", tr.Spec)
		}
		if d := tr.Status.ExpirationTimestamp.Sub(before); d < 59*time.Minute || d > 61*time.Minute {
			t.Errorf("expires in %v", d)
		}
		c := claims(t, tr.Status.Token)
		kube := c["kubernetes.io"].(map[string]any)
		if c["iss"] != "https://kubernetes.default.svc.cluster.local" || c["sub"] != "system:serviceaccount:tokens:app" || c["jti"] == nil ||
			kube["namespace"] != ns || kube["serviceaccount"].(map[string]any)["uid"] != string(sa.UID) {
			t.Errorf("claims %v", c)
		}
		if exp, iat := c["exp"].(float64), c["iat"].(float64); exp-iat != 3600 || c["nbf"].(float64) != iat {
			t.Errorf("exp %v iat %v nbf %v", exp, iat, c["nbf"])
		}
		who, err := whoami(t, srv, tr.Status.Token)
		if err != nil {
			t.Fatal(err)
		}
		if who.Username != "system:serviceaccount:tokens:app" || who.UID != string(sa.UID) ||
			strings.Join(who.Groups, ",") != "system:serviceaccounts,system:serviceaccounts:tokens,system:authenticated" ||
			!strings.HasPrefix(strings.Join(who.Extra["authentication.kubernetes.io/credential-id"], ""), "JTI=") {
			t.Errorf("user %+v", who)
		}
	})

	t.Run("limits", func(t *testing.T) {
		short := int64(599)
		_, err := requestToken(t, cs, ns, "app", authenticationv1.TokenRequestSpec{ExpirationSeconds: &short})
		if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "spec.expirationSeconds: Invalid value: 599: may not specify a duration less than 10 minutes") {
			t.Errorf("599 s: %v", err)
		}
		long := int64(1<<32 + 1)
		_, err = requestToken(t, cs, ns, "app", authenticationv1.TokenRequestSpec{ExpirationSeconds: &long})
		if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "may not specify a duration larger than 2^32 seconds") {
			t.Errorf("2^32+1 s: %v", err)
		}
		if _, err := requestToken(t, cs, "tokens", "nobody", authenticationv1.TokenRequestSpec{}); !apierrors.IsNotFound(err) {
			t.Errorf("missing account: %v", err)
		}
	})

	t.Run("kubectl create token", func(t *testing.T) {
		out, err := exec.Command("/usr/bin/kubectl", "--kubeconfig", srv.Kubeconfig, "-n", ns, "create", "token", "app",
			"--duration", "20m", "--audience", "vault", "--audience", "https://kubernetes.default.svc.cluster.local",
			"--bound-object-kind", "Pod", "--bound-object-name", "web").CombinedOutput()
		if err != nil {
			t.Fatalf("kubectl create token: %v\n%s", err, out)
		}
		token := strings.TrimSpace(string(out))
		c := claims(t, token)
		kube := c["kubernetes.io"].(map[string]any)
		if c["exp"].(float64)-c["iat"].(float64) != 1200 || len(c["aud"].([]any)) != 2 || c["aud"].([]any)[0] != "vault" ||
			kube["pod"].(map[string]any)["uid"] != string(pod.UID) {
			t.Errorf("claims %v", c)
		}
		who, err := whoami(t, srv, token)
		if err != nil {
			t.Fatal(err)
		}
		if who.Extra["authentication.kubernetes.io/pod-name"][0] != "web" || who.Extra["authentication.kubernetes.io/pod-uid"][0] != string(pod.UID) {
			t.Errorf("extra %v", who.Extra)
		}
		out, err = exec.Command("/usr/bin/kubectl", "--kubeconfig", srv.Kubeconfig, "-n", ns, "create", "token", "app",
			"--bound-object-kind", "Pod", "--bound-object-name", "other").CombinedOutput()
		if err == nil || !strings.Contains(string(out), `cannot bind token for serviceaccount "app" to pod running with different serviceaccount name.`) {
			t.Errorf("pod of another account: %v %s", err, out)
		}
	})

	t.Run("bindings", func(t *testing.T) {
		_, err := requestToken(t, cs, ns, "default", authenticationv1.TokenRequestSpec{BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: "other", UID: "not-its-uid"}})
		if !apierrors.IsConflict(err) || !strings.Contains(err.Error(), "the UID in the bound object reference (not-its-uid) does not match the UID in record") {
			t.Errorf("uid mismatch: %v", err)
		}
		_, err = requestToken(t, cs, ns, "default", authenticationv1.TokenRequestSpec{BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "ConfigMap", APIVersion: "v1", Name: "x"}})
		if !apierrors.IsBadRequest(err) || !strings.Contains(err.Error(), "cannot bind token to object of type /v1, Kind=ConfigMap") {
			t.Errorf("configmap: %v", err)
		}
		_, err = requestToken(t, cs, ns, "default", authenticationv1.TokenRequestSpec{BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "Secret", APIVersion: "v1", Name: "none"}})
		if !apierrors.IsNotFound(err) {
			t.Errorf("missing secret: %v", err)
		}
		if _, err := requestToken(t, cs, ns, "default", authenticationv1.TokenRequestSpec{BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: "other", UID: other.UID}}); err != nil {
			t.Errorf("pod of the default account: %v", err)
		}
	})

	// A kube-api-access token (pod-bound, for the API, 3607 s) is valid
	// for a year with a warnafter claim; the status still says 3607 s.
	t.Run("kube-api-access extension", func(t *testing.T) {
		secs := int64(3607)
		ref := &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: "web"}
		before := time.Now()
		tr, err := requestToken(t, cs, ns, "app", authenticationv1.TokenRequestSpec{ExpirationSeconds: &secs, BoundObjectRef: ref})
		if err != nil {
			t.Fatal(err)
		}
		if d := tr.Status.ExpirationTimestamp.Sub(before); d < 3600*time.Second || d > 3615*time.Second {
			t.Errorf("status expires in %v", d)
		}
		c := claims(t, tr.Status.Token)
		iat := c["iat"].(float64)
		warn, _ := c["kubernetes.io"].(map[string]any)["warnafter"].(float64)
		if c["exp"].(float64)-iat != 365*24*3600 || warn-iat != 3607 {
			t.Errorf("claims %v", c)
		}
		// Not for another audience, nor unbound.
		for _, spec := range []authenticationv1.TokenRequestSpec{
			{ExpirationSeconds: &secs, BoundObjectRef: ref, Audiences: []string{"vault"}},
			{ExpirationSeconds: &secs},
		} {
			tr, err := requestToken(t, cs, ns, "app", spec)
			if err != nil {
				t.Fatal(err)
			}
			if c := claims(t, tr.Status.Token); c["exp"].(float64)-c["iat"].(float64) != 3607 {
				t.Errorf("%+v: claims %v", spec, c)
			}
		}
	})

	t.Run("audience", func(t *testing.T) {
		tr, err := requestToken(t, cs, ns, "app", authenticationv1.TokenRequestSpec{Audiences: []string{"vault"}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := whoami(t, srv, tr.Status.Token); !apierrors.IsUnauthorized(err) {
			t.Errorf("token for another audience: %v", err)
		}
	})
	_ = ctx
}

// A bound token dies with what it is bound to: its ServiceAccount, Pod or
// Secret deleted, or recreated under the same name.
func TestBoundTokenRefusals(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{})
	cs := srv.Clientset(t)
	ctx := context.Background()
	ns := "bound"
	mustCreate(t, cs.CoreV1().Namespaces().Create, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	testserver.Settled(t, cs, ns)
	zero := int64(0)
	now := metav1.DeleteOptions{GracePeriodSeconds: &zero}
	token := func(sa string, ref *authenticationv1.BoundObjectReference) string {
		t.Helper()
		tr, err := requestToken(t, cs, ns, sa, authenticationv1.TokenRequestSpec{BoundObjectRef: ref})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := whoami(t, srv, tr.Status.Token); err != nil {
			t.Fatalf("fresh token refused: %v", err)
		}
		return tr.Status.Token
	}
	newAccount := func(name string) {
		mustCreate(t, cs.CoreV1().ServiceAccounts(ns).Create, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}})
	}

	t.Run("account deleted", func(t *testing.T) {
		newAccount("gone")
		tok := token("gone", nil)
		if err := cs.CoreV1().ServiceAccounts(ns).Delete(ctx, "gone", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		refused(t, srv, tok, "account deleted")
	})
	t.Run("account recreated", func(t *testing.T) {
		newAccount("again")
		tok := token("again", nil)
		if err := cs.CoreV1().ServiceAccounts(ns).Delete(ctx, "again", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		newAccount("again")
		refused(t, srv, tok, "account recreated")
	})
	t.Run("pod deleted", func(t *testing.T) {
		newAccount("p1")
		mustCreate(t, cs.CoreV1().Pods(ns).Create, podFor("p1", "p1"))
		tok := token("p1", &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: "p1"})
		if err := cs.CoreV1().Pods(ns).Delete(ctx, "p1", now); err != nil {
			t.Fatal(err)
		}
		refused(t, srv, tok, "pod deleted")
	})
	t.Run("pod recreated", func(t *testing.T) {
		newAccount("p2")
		mustCreate(t, cs.CoreV1().Pods(ns).Create, podFor("p2", "p2"))
		tok := token("p2", &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: "p2"})
		if err := cs.CoreV1().Pods(ns).Delete(ctx, "p2", now); err != nil {
			t.Fatal(err)
		}
		testserver.Eventually(t, 20*time.Second, "pod p2 gone", func() (bool, string) {
			_, err := cs.CoreV1().Pods(ns).Get(ctx, "p2", metav1.GetOptions{})
			return apierrors.IsNotFound(err), errString(err)
		})
		mustCreate(t, cs.CoreV1().Pods(ns).Create, podFor("p2", "p2"))
		refused(t, srv, tok, "pod recreated")
	})
	t.Run("secret deleted", func(t *testing.T) {
		newAccount("s1")
		mustCreate(t, cs.CoreV1().Secrets(ns).Create, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s1"}, StringData: map[string]string{"a": "b"}})
		tok := token("s1", &authenticationv1.BoundObjectReference{Kind: "Secret", APIVersion: "v1", Name: "s1"})
		if err := cs.CoreV1().Secrets(ns).Delete(ctx, "s1", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		refused(t, srv, tok, "secret deleted")
	})
	t.Run("secret recreated", func(t *testing.T) {
		newAccount("s2")
		mustCreate(t, cs.CoreV1().Secrets(ns).Create, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s2"}})
		tok := token("s2", &authenticationv1.BoundObjectReference{Kind: "Secret", APIVersion: "v1", Name: "s2"})
		if err := cs.CoreV1().Secrets(ns).Delete(ctx, "s2", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		mustCreate(t, cs.CoreV1().Secrets(ns).Create, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s2"}})
		refused(t, srv, tok, "secret recreated")
	})
	t.Run("garbage", func(t *testing.T) {
		if _, err := whoami(t, srv, "a.b.c"); !apierrors.IsUnauthorized(err) {
			t.Errorf("garbage token: %v", err)
		}
	})
}

// Legacy tokens: none is made for an account on its own; a Secret of type
// kubernetes.io/service-account-token gets its never-expiring token,
// ca.crt and namespace from the tokens controller, and the token dies
// with the Secret. A token Secret of a missing account is deleted.
func TestLegacyServiceAccountTokens(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{})
	cs := srv.Clientset(t)
	ctx := context.Background()
	ns := "legacy"
	mustCreate(t, cs.CoreV1().Namespaces().Create, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	testserver.Settled(t, cs, ns)
	sa := mustCreate(t, cs.CoreV1().ServiceAccounts(ns).Create, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "build"}})
	mustCreate(t, cs.CoreV1().Secrets(ns).Create, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "build-token", Annotations: map[string]string{corev1.ServiceAccountNameKey: "build"}},
		Type:       corev1.SecretTypeServiceAccountToken,
	})
	var secret *corev1.Secret
	testserver.Eventually(t, 20*time.Second, "token filled in", func() (bool, string) {
		var err error
		secret, err = cs.CoreV1().Secrets(ns).Get(ctx, "build-token", metav1.GetOptions{})
		return err == nil && len(secret.Data["token"]) > 0, errString(err)
	})
	if string(secret.Data["namespace"]) != ns || !strings.Contains(string(secret.Data["ca.crt"]), "BEGIN CERTIFICATE") ||
		secret.Annotations[corev1.ServiceAccountUIDKey] != string(sa.UID) {
		t.Errorf("secret %v data keys namespace=%q", secret.Annotations, secret.Data["namespace"])
	}
	token := string(secret.Data["token"])
	c := claims(t, token)
	if c["iss"] != "kubernetes/serviceaccount" || c["exp"] != nil || c["kubernetes.io/serviceaccount/secret.name"] != "build-token" ||
		c["kubernetes.io/serviceaccount/service-account.uid"] != string(sa.UID) {
		t.Errorf("legacy claims %v", c)
	}
	who, err := whoami(t, srv, token)
	if err != nil {
		t.Fatal(err)
	}
	if who.Username != "system:serviceaccount:legacy:build" {
		t.Errorf("user %+v", who)
	}
	// The controller has run; it made no Secret for any account.
	list, err := cs.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 1 {
		t.Errorf("%d secrets in %s, want only build-token", len(list.Items), ns)
	}
	// A token Secret of no account is removed.
	orphan := mustCreate(t, cs.CoreV1().Secrets(ns).Create, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "orphan", Annotations: map[string]string{corev1.ServiceAccountNameKey: "nobody"}},
		Type:       corev1.SecretTypeServiceAccountToken,
	})
	testserver.Eventually(t, 20*time.Second, "orphan token secret deleted", func() (bool, string) {
		got, err := cs.CoreV1().Secrets(ns).Get(ctx, "orphan", metav1.GetOptions{})
		return apierrors.IsNotFound(err) || (err == nil && got.UID != orphan.UID), errString(err)
	})
	// The token dies with its Secret.
	if err := cs.CoreV1().Secrets(ns).Delete(ctx, "build-token", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	refused(t, srv, token, "secret deleted")
}

// warnings collects the API's Warning headers.
type warnings struct{ got []string }

func (w *warnings) HandleWarningHeader(_ int, _ string, text string) { w.got = append(w.got, text) }

// --service-account-max-token-expiration shortens longer requests, with
// upstream's warning, and the status tells the lifetime granted.
func TestTokenRequestMaxExpiration(t *testing.T) {
	srv := testserver.StartConfig(t, server.Config{
		DataDir: t.TempDir(), BindAddress: "127.0.0.1", DisableAgent: true,
		EtcdClientPort: testserver.FreePort(t), EtcdPeerPort: testserver.FreePort(t),
		ServiceAccountMaxTokenExpiration: 20 * time.Minute,
	})
	cfg := srv.RESTConfig()
	w := &warnings{}
	cfg.WarningHandler = w
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	testserver.Settled(t, cs, "default")
	hour := int64(3600)
	before := time.Now()
	tr, err := requestToken(t, cs, "default", "default", authenticationv1.TokenRequestSpec{ExpirationSeconds: &hour})
	if err != nil {
		t.Fatal(err)
	}
	if *tr.Spec.ExpirationSeconds != 1200 {
		t.Errorf("granted %d s", *tr.Spec.ExpirationSeconds)
	}
	if d := tr.Status.ExpirationTimestamp.Sub(before); d < 19*time.Minute || d > 21*time.Minute {
		t.Errorf("expires in %v", d)
	}
	if c := claims(t, tr.Status.Token); c["exp"].(float64)-c["iat"].(float64) != 1200 {
		t.Errorf("claims %v", c)
	}
	if len(w.got) != 1 || w.got[0] != "requested expiration of 3600 seconds shortened to 1200 seconds" {
		t.Errorf("warnings %q", w.got)
	}
}
