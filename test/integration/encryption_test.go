package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/flotilla-io/flotilla/pkg/encryption"
	"github.com/flotilla-io/flotilla/pkg/server/testserver"
)

// storedSecret is the value etcd holds for a Secret, read directly.
func storedSecret(t *testing.T, srv *testserver.Instance, name string) []byte {
	t.Helper()
	resp, err := srv.EtcdClient().Get(context.Background(), "/flotilla/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range resp.Kvs {
		if strings.HasSuffix(string(kv.Key), "/secrets/default/"+name) {
			return kv.Value
		}
	}
	t.Fatalf("no etcd key for secret default/%s", name)
	return nil
}

// encryptCall calls the server's secrets-encrypt endpoint as the admin.
func encryptCall(t *testing.T, srv *testserver.Instance, method, op string, out any) {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", srv.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(method, srv.URL+"/v1-flotilla/encrypt/"+op, nil)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: %s %s", method, op, resp.Status, body)
	}
	if err := json.Unmarshal(body, out); err != nil {
		t.Fatalf("%s: %v: %s", op, err, body)
	}
}

func createSecret(t *testing.T, cs kubernetes.Interface, name, val string) {
	t.Helper()
	_, err := cs.CoreV1().Secrets("default").Create(context.Background(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string][]byte{"password": []byte(val)},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
}

func secretValue(t *testing.T, cs kubernetes.Interface, name string) string {
	t.Helper()
	s, err := cs.CoreV1().Secrets("default").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("read secret %s: %v", name, err)
	}
	return string(s.Data["password"])
}

// TestSecretsEncryptionAtRest: a Secret written before encryption was on
// stays readable (identity fallback) and is encrypted by reencrypt; new
// Secrets are stored with upstream's aescbc prefix and no plaintext; a
// key rotation moves every Secret to the new key, drops the old one and
// leaves every Secret readable, also after a restart.
func TestSecretsEncryptionAtRest(t *testing.T) {
	dir := t.TempDir()
	const oldVal, newVal = "plain-before-encryption-4711", "encrypted-from-the-start-0815"
	srv := testserver.Start(t, testserver.Options{DataDir: dir})
	createSecret(t, srv.Clientset(t), "old", oldVal)
	if v := storedSecret(t, srv, "old"); !bytes.Contains(v, []byte(oldVal)) {
		t.Fatalf("without encryption the stored value should hold the plaintext: %q", v)
	}
	srv.Stop()

	srv = testserver.Start(t, testserver.Options{DataDir: dir, SecretsEncryption: true})
	cs := srv.Clientset(t)
	if _, err := os.Stat(encryption.ConfigPath(dir)); err != nil {
		t.Fatalf("encryption configuration not created: %v", err)
	}
	if got := secretValue(t, cs, "old"); got != oldVal {
		t.Fatalf("plaintext secret after enabling encryption: %q", got)
	}
	createSecret(t, cs, "new", newVal)
	v := storedSecret(t, srv, "new")
	if !bytes.HasPrefix(v, []byte(encryption.KeyPrefix("aescbckey"))) || bytes.Contains(v, []byte(newVal)) {
		t.Fatalf("new secret stored as %q, want k8s:enc:aescbc:v1:aescbckey: and no plaintext", v[:min(len(v), 60)])
	}
	var st encryption.Status
	encryptCall(t, srv, "GET", "status", &st)
	if st.Keys[0] != "aescbc:aescbckey" || st.Values["identity"] < 1 || st.Values["aescbc:aescbckey"] < 1 {
		t.Fatalf("status before reencrypt: %+v", st)
	}
	var n map[string]int
	encryptCall(t, srv, "POST", "reencrypt", &n)
	if v := storedSecret(t, srv, "old"); !bytes.HasPrefix(v, []byte(encryption.KeyPrefix("aescbckey"))) || bytes.Contains(v, []byte(oldVal)) {
		t.Fatalf("old secret after reencrypt: %q", v[:min(len(v), 60)])
	}

	var rot struct{ Key string }
	encryptCall(t, srv, "POST", "rotate-keys", &rot)
	if rot.Key == "" || rot.Key == "aescbckey" {
		t.Fatalf("rotate-keys returned key %q", rot.Key)
	}
	for name, val := range map[string]string{"old": oldVal, "new": newVal} {
		if v := storedSecret(t, srv, name); !bytes.HasPrefix(v, []byte(encryption.KeyPrefix(rot.Key))) {
			t.Errorf("%s after rotation stored as %q, want prefix %s", name, v[:min(len(v), 60)], encryption.KeyPrefix(rot.Key))
		}
		if got := secretValue(t, cs, name); got != val {
			t.Errorf("%s after rotation reads %q", name, got)
		}
	}
	st = encryption.Status{}
	encryptCall(t, srv, "GET", "status", &st)
	if len(st.Keys) != 2 || st.Keys[0] != "aescbc:"+rot.Key || st.Keys[1] != "identity" || st.Values["identity"] != 0 || st.Values["aescbc:aescbckey"] != 0 || st.Values["aescbc:"+rot.Key] < 2 {
		t.Fatalf("status after rotation: %+v", st)
	}
	cfg, err := os.ReadFile(encryption.ConfigPath(dir))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(cfg), `"aescbckey"`) {
		t.Fatalf("old key still in the configuration after rotation")
	}
	srv.Stop()

	srv = testserver.Start(t, testserver.Options{DataDir: dir, SecretsEncryption: true})
	if got := secretValue(t, srv.Clientset(t), "old"); got != oldVal {
		t.Fatalf("after restart: %q", got)
	}
}
