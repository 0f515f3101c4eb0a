package encryption

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"
	apiserverv1 "k8s.io/apiserver/pkg/apis/apiserver/v1"
	"k8s.io/apiserver/pkg/storage/value"
)

var secrets = schema.GroupResource{Resource: "secrets"}

func build(t *testing.T, ps ...apiserverv1.ProviderConfiguration) value.Transformer {
	t.Helper()
	tr, err := Build(&apiserverv1.EncryptionConfiguration{Resources: []apiserverv1.ResourceConfiguration{{Resources: []string{"secrets"}, Providers: ps}}})
	if err != nil {
		t.Fatal(err)
	}
	if tr.For(schema.GroupResource{Resource: "configmaps"}) != nil {
		t.Fatal("configmaps got a transformer")
	}
	return tr.For(secrets)
}

func cbc(keys ...apiserverv1.Key) apiserverv1.ProviderConfiguration {
	return apiserverv1.ProviderConfiguration{AESCBC: &apiserverv1.AESConfiguration{Keys: keys}}
}

var identityProvider = apiserverv1.ProviderConfiguration{Identity: &apiserverv1.IdentityConfiguration{}}

// TestRotationReadsOldKeys: the stages of a rotation, as transformers see
// them. Values in the old key stay readable (and stale) while both keys
// are configured; plaintext reads through identity; once the old key is
// dropped its values no longer read.
func TestRotationReadsOldKeys(t *testing.T) {
	ctx, key := context.Background(), value.DefaultContext("/flotilla/secrets/default/s")
	plain := []byte("k8s\x00 the object")
	k1, k2 := NewKey("k1"), NewKey("k2")

	before := build(t, cbc(k1), identityProvider)
	old, err := before.TransformToStorage(ctx, plain, key)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(old, []byte(KeyPrefix("k1"))) || bytes.Contains(old, []byte("the object")) {
		t.Fatalf("stored %q", old)
	}
	if got, stale, err := before.TransformFromStorage(ctx, plain, key); err != nil || !stale || !bytes.Equal(got, plain) {
		t.Fatalf("plaintext through identity: %q stale=%v %v", got, stale, err)
	}

	during := build(t, cbc(k2), cbc(k1), identityProvider)
	if got, stale, err := during.TransformFromStorage(ctx, old, key); err != nil || !stale || !bytes.Equal(got, plain) {
		t.Fatalf("old key while rotating: %q stale=%v %v", got, stale, err)
	}
	fresh, err := during.TransformToStorage(ctx, plain, key)
	if err != nil || !bytes.HasPrefix(fresh, []byte(KeyPrefix("k2"))) {
		t.Fatalf("write while rotating: %q %v", fresh, err)
	}
	if _, stale, err := during.TransformFromStorage(ctx, fresh, key); err != nil || stale {
		t.Fatalf("new key value: stale=%v %v", stale, err)
	}

	after := build(t, cbc(k2), identityProvider)
	if _, _, err := after.TransformFromStorage(ctx, old, key); err == nil {
		t.Fatal("a dropped key's value still reads")
	}
}

func TestEnsureAndRejects(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cred", "encryption-config.json")
	if err := Ensure(path); err != nil {
		t.Fatal(err)
	}
	cfg, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if p := cfg.Resources[0].Providers; len(p) != 2 || p[0].AESCBC == nil || p[0].AESCBC.Keys[0].Name != "aescbckey" || p[1].Identity == nil {
		t.Fatalf("default configuration: %+v", cfg)
	}
	for name, ps := range map[string][]apiserverv1.ProviderConfiguration{
		"short key":  {cbc(apiserverv1.Key{Name: "k", Secret: "c2hvcnQ="})},
		"not base64": {cbc(apiserverv1.Key{Name: "k", Secret: "%%%"})},
		"colon name": {cbc(apiserverv1.Key{Name: "a:b", Secret: NewKey("x").Secret})},
		"kms":        {{KMS: &apiserverv1.KMSConfiguration{Name: "k"}}},
		"none":       nil,
	} {
		_, err := Build(&apiserverv1.EncryptionConfiguration{Resources: []apiserverv1.ResourceConfiguration{{Resources: []string{"secrets"}, Providers: ps}}})
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
