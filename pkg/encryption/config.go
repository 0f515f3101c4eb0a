package encryption

import (
	"crypto/aes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"
	apiserverv1 "k8s.io/apiserver/pkg/apis/apiserver/v1"
	"k8s.io/apiserver/pkg/storage/value"
	aestransformer "k8s.io/apiserver/pkg/storage/value/encrypt/aes"
	"k8s.io/apiserver/pkg/storage/value/encrypt/identity"
	"k8s.io/apiserver/pkg/storage/value/encrypt/secretbox"
	"sigs.k8s.io/yaml"
)

// ConfigPath is where a server keeps its encryption configuration, as
// k3s does: DATA/cred/encryption-config.json.
func ConfigPath(dataDir string) string {
	return filepath.Join(dataDir, "cred", "encryption-config.json")
}

// KeyPrefix is the stored-value prefix of an aescbc key, as upstream.
func KeyPrefix(keyName string) string { return "k8s:enc:aescbc:v1:" + keyName + ":" }

// Read parses an EncryptionConfiguration (JSON or YAML).
func Read(path string) (*apiserverv1.EncryptionConfiguration, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read encryption configuration: %w", err)
	}
	var cfg apiserverv1.EncryptionConfiguration
	if err := yaml.UnmarshalStrict(data, &cfg); err != nil {
		return nil, fmt.Errorf("parse encryption configuration %s: %w", path, err)
	}
	if cfg.Kind != "EncryptionConfiguration" || cfg.APIVersion != apiserverv1.SchemeGroupVersion.String() {
		return nil, fmt.Errorf("%s: want kind EncryptionConfiguration in %s, got %q in %q", path, apiserverv1.SchemeGroupVersion, cfg.Kind, cfg.APIVersion)
	}
	return &cfg, nil
}

// Write stores cfg at path readable by its owner only, replacing the file
// in one rename so a reader never sees half of it.
func Write(path string, cfg *apiserverv1.EncryptionConfiguration) error {
	cfg.Kind, cfg.APIVersion = "EncryptionConfiguration", apiserverv1.SchemeGroupVersion.String()
	data, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("create %s: %w", filepath.Dir(path), err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("write encryption configuration: %w", err)
	}
	return os.Rename(tmp, path)
}

// NewKey returns a random 32-byte aescbc key, base64 as the file holds it.
func NewKey(name string) apiserverv1.Key {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return apiserverv1.Key{Name: name, Secret: base64.StdEncoding.EncodeToString(b)}
}

// Ensure creates the configuration at path unless it exists: Secrets
// written with a fresh aescbc key, plaintext (stored before encryption
// was turned on) still readable through identity.
func Ensure(path string) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return Write(path, &apiserverv1.EncryptionConfiguration{Resources: []apiserverv1.ResourceConfiguration{{
		Resources: []string{"secrets"},
		Providers: []apiserverv1.ProviderConfiguration{
			{AESCBC: &apiserverv1.AESConfiguration{Keys: []apiserverv1.Key{NewKey("aescbckey")}}},
			{Identity: &apiserverv1.IdentityConfiguration{}},
		},
	}}})
}

// Transformers maps group resources to the transformer of their values.
type Transformers struct {
	exact    map[schema.GroupResource]value.Transformer
	group    map[string]value.Transformer // "*.group"
	wildcard value.Transformer            // "*.*"
}

// For returns the transformer of gr, or nil when its values are stored
// as they are.
func (t *Transformers) For(gr schema.GroupResource) value.Transformer {
	if tr, ok := t.exact[gr]; ok {
		return tr
	}
	if tr, ok := t.group[gr.Group]; ok {
		return tr
	}
	return t.wildcard
}

// Build makes the transformers cfg describes. As upstream, the first
// resource entry naming a resource wins, and the first provider's first
// key writes while every listed key (and identity) reads.
func Build(cfg *apiserverv1.EncryptionConfiguration) (*Transformers, error) {
	t := &Transformers{exact: map[schema.GroupResource]value.Transformer{}, group: map[string]value.Transformer{}}
	for i, rc := range cfg.Resources {
		tr, err := providers(rc.Providers)
		if err != nil {
			return nil, fmt.Errorf("resources[%d]: %w", i, err)
		}
		for _, name := range rc.Resources {
			switch {
			case name == "*.*":
				if t.wildcard == nil {
					t.wildcard = tr
				}
			case strings.HasPrefix(name, "*."):
				if _, ok := t.group[name[2:]]; !ok {
					t.group[name[2:]] = tr
				}
			case name == "*." || name == "*":
				return nil, fmt.Errorf("resources[%d]: %q is not a resource (use *.* or *.GROUP)", i, name)
			default:
				gr := schema.ParseGroupResource(name)
				if _, ok := t.exact[gr]; !ok {
					t.exact[gr] = tr
				}
			}
		}
	}
	return t, nil
}

func providers(ps []apiserverv1.ProviderConfiguration) (value.Transformer, error) {
	if len(ps) == 0 {
		return nil, errors.New("no providers")
	}
	var all []value.PrefixTransformer
	for i, p := range ps {
		var pts []value.PrefixTransformer
		var err error
		switch {
		case p.AESCBC != nil:
			pts, err = aesKeys("aescbc", p.AESCBC.Keys, func(key []byte) (value.Transformer, error) {
				block, err := aes.NewCipher(key)
				if err != nil {
					return nil, err
				}
				return aestransformer.NewCBCTransformer(block), nil
			})
		case p.AESGCM != nil:
			pts, err = aesKeys("aesgcm", p.AESGCM.Keys, func(key []byte) (value.Transformer, error) {
				block, err := aes.NewCipher(key)
				if err != nil {
					return nil, err
				}
				return aestransformer.NewGCMTransformer(block)
			})
		case p.Secretbox != nil:
			pts, err = aesKeys("secretbox", p.Secretbox.Keys, func(key []byte) (value.Transformer, error) {
				if len(key) != 32 {
					return nil, fmt.Errorf("secretbox keys are 32 bytes, not %d", len(key))
				}
				return secretbox.NewSecretboxTransformer([32]byte(key)), nil
			})
		case p.Identity != nil:
			pts = []value.PrefixTransformer{{Transformer: identity.NewEncryptCheckTransformer()}}
		case p.KMS != nil:
			err = errors.New("kms providers are not supported")
		default:
			err = errors.New("names no provider")
		}
		if err != nil {
			return nil, fmt.Errorf("providers[%d]: %w", i, err)
		}
		all = append(all, pts...)
	}
	return value.NewPrefixTransformers(errors.New("no matching prefix found"), all...), nil
}

func aesKeys(kind string, keys []apiserverv1.Key, mk func(key []byte) (value.Transformer, error)) ([]value.PrefixTransformer, error) {
	if len(keys) == 0 {
		return nil, fmt.Errorf("%s: no keys", kind)
	}
	var out []value.PrefixTransformer
	for _, k := range keys {
		if k.Name == "" || strings.Contains(k.Name, ":") {
			return nil, fmt.Errorf("%s: key name %q must be non-empty and without ':'", kind, k.Name)
		}
		secret, err := base64.StdEncoding.DecodeString(k.Secret)
		if err != nil {
			// The message names the key, never its secret.
			return nil, fmt.Errorf("%s key %q: secret is not base64", kind, k.Name)
		}
		tr, err := mk(secret)
		if err != nil {
			return nil, fmt.Errorf("%s key %q: %w", kind, k.Name, err)
		}
		out = append(out, value.PrefixTransformer{Prefix: []byte("k8s:enc:" + kind + ":v1:" + k.Name + ":"), Transformer: tr})
	}
	return out, nil
}
