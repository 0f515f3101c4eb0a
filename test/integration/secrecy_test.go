package integration

import (
	"bytes"
	"context"
	"encoding/base64"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/flotilla-io/flotilla/pkg/server/testserver"
)

// syncBuffer is a log sink many goroutines write.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestNoCredentialsInLogs runs a server with a debug logger and drives it
// through Secrets (created, updated, patched, watched, invalid), service
// account tokens used as bearer tokens, forged bearer tokens and encrypted
// storage; no secret value, token or key may appear in its log.
func TestNoCredentialsInLogs(t *testing.T) {
	var logBuf syncBuffer
	log := slog.New(slog.NewTextHandler(&logBuf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv := testserver.Start(t, testserver.Options{Log: log, SecretsEncryption: true})
	cs := srv.Clientset(t)
	ctx := context.Background()
	secrets := []string{"s3cr3t-data-value-91827", "s3cr3t-string-data-56473", "s3cr3t-patched-value-11223", "s3cr3t-docker-config-99881"}

	w, err := cs.CoreV1().Secrets("default").Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if _, err := cs.CoreV1().Secrets("default").Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "creds"},
		Data:       map[string][]byte{"password": []byte(secrets[0])},
		StringData: map[string]string{"token": secrets[1]},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	patch := `{"data":{"password":"` + base64.StdEncoding.EncodeToString([]byte(secrets[2])) + `"}}`
	if _, err := cs.CoreV1().Secrets("default").Patch(ctx, "creds", types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	// Invalid: the validation error must redact the content.
	_, err = cs.CoreV1().Secrets("default").Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "bad"}, Type: corev1.SecretTypeDockerConfigJson,
		Data: map[string][]byte{corev1.DockerConfigJsonKey: []byte("{" + secrets[3])},
	}, metav1.CreateOptions{})
	if err == nil || strings.Contains(err.Error(), secrets[3]) {
		t.Fatalf("invalid docker config secret: %v (the answer must not echo the content)", err)
	}
	for range 2 {
		select {
		case <-w.ResultChan():
		case <-time.After(10 * time.Second):
			t.Fatal("no watch event for the secret")
		}
	}

	// A service account token, used as a bearer token.
	if _, err := cs.CoreV1().ServiceAccounts("default").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "logged"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	tr, err := cs.CoreV1().ServiceAccounts("default").CreateToken(ctx, "logged", &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	token := tr.Status.Token
	secrets = append(secrets, token)
	tokenCS, err := kubernetes.NewForConfig(&rest.Config{Host: srv.URL, BearerToken: token, TLSClientConfig: rest.TLSClientConfig{CAData: srv.RESTConfig().CAData}})
	if err != nil {
		t.Fatal(err)
	}
	_, _ = tokenCS.CoreV1().Secrets("default").Get(ctx, "creds", metav1.GetOptions{})
	_, _ = tokenCS.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
	// A forged token and one with a bad signature.
	forged := "forged-bearer-token-77665544"
	secrets = append(secrets, forged, token[:len(token)-4]+"AAAA")
	hc, err := rest.HTTPClientFor(&rest.Config{Host: srv.URL, TLSClientConfig: rest.TLSClientConfig{CAData: srv.RESTConfig().CAData}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range secrets[len(secrets)-2:] {
		req, _ := http.NewRequest("GET", srv.URL+"/api/v1/namespaces/default/secrets/creds", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("bad token answered %d", resp.StatusCode)
		}
	}
	// The admin's key and the encryption key are credentials too.
	kc, err := os.ReadFile(srv.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(kc), "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ": "); ok && k == "client-key-data" {
			secrets = append(secrets, v[20:60])
		}
	}
	enc, err := os.ReadFile(srv.Config.DataDir + "/cred/encryption-config.json")
	if err != nil {
		t.Fatal(err)
	}
	if i := strings.Index(string(enc), `"secret": "`); i >= 0 {
		secrets = append(secrets, string(enc[i+11:i+11+40]))
	}
	srv.Stop()

	out := logBuf.String()
	if !strings.Contains(out, "level=DEBUG") {
		t.Fatalf("the debug log is empty; the test proves nothing:\n%s", out)
	}
	for _, s := range secrets {
		for _, form := range []string{s, base64.StdEncoding.EncodeToString([]byte(s))} {
			if strings.Contains(out, form) {
				t.Errorf("log contains a credential or secret value %q", form[:min(len(form), 24)])
			}
		}
	}
	t.Logf("checked %d credentials against %d bytes of debug log", len(secrets), len(out))
}
