package encryption

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"
	apiserverv1 "k8s.io/apiserver/pkg/apis/apiserver/v1"
	"k8s.io/apiserver/pkg/storage/value"
)

// Dynamic is a transformer whose implementation can be swapped while the
// server runs (a rotation changes keys); nil passes values through.
type Dynamic struct {
	cur atomic.Pointer[value.Transformer]
}

var _ value.Transformer = (*Dynamic)(nil)

func (d *Dynamic) set(t value.Transformer) {
	if t == nil {
		d.cur.Store(nil)
		return
	}
	d.cur.Store(&t)
}

// TransformFromStorage reads with the current transformer.
func (d *Dynamic) TransformFromStorage(ctx context.Context, data []byte, dataCtx value.Context) ([]byte, bool, error) {
	if t := d.cur.Load(); t != nil {
		return (*t).TransformFromStorage(ctx, data, dataCtx)
	}
	return data, false, nil
}

// TransformToStorage writes with the current transformer.
func (d *Dynamic) TransformToStorage(ctx context.Context, data []byte, dataCtx value.Context) ([]byte, error) {
	if t := d.cur.Load(); t != nil {
		return (*t).TransformToStorage(ctx, data, dataCtx)
	}
	return data, nil
}

// Store is what the manager needs of the storage of one resource.
type Store interface {
	// Rewrite writes every stale value again with the current key and
	// returns how many objects it visited.
	Rewrite(ctx context.Context) (int, error)
	// Values returns every stored value, for status.
	Values(ctx context.Context) ([][]byte, error)
}

// Manager owns a server's encryption configuration file and the
// transformers its stores use.
type Manager struct {
	path    string
	mu      sync.Mutex // one rotation at a time
	dynamic map[schema.GroupResource]*Dynamic
	stores  map[schema.GroupResource]Store
}

// NewManager loads the configuration at path (creating it when missing)
// and returns a manager whose Transformer(gr) the storage uses.
func NewManager(path string) (*Manager, error) {
	if err := Ensure(path); err != nil {
		return nil, err
	}
	cfg, err := Read(path)
	if err != nil {
		return nil, err
	}
	t, err := Build(cfg)
	if err != nil {
		return nil, fmt.Errorf("encryption configuration %s: %w", path, err)
	}
	m := &Manager{path: path, dynamic: map[schema.GroupResource]*Dynamic{}, stores: map[schema.GroupResource]Store{}}
	for gr := range t.exact {
		m.dynamic[gr] = &Dynamic{}
	}
	m.apply(t)
	return m, nil
}

// Encrypts reports whether gr's values go through the configuration:
// the resources it names by name (wildcards are not served).
func (m *Manager) Encrypts(gr schema.GroupResource) bool { return m.dynamic[gr] != nil }

// Transformer is gr's transformer (Encrypts(gr) must hold).
func (m *Manager) Transformer(gr schema.GroupResource) value.Transformer { return m.dynamic[gr] }

// AddStore registers the storage of an encrypted resource for rewrites.
func (m *Manager) AddStore(gr schema.GroupResource, s Store) { m.stores[gr] = s }

func (m *Manager) apply(t *Transformers) {
	for gr, d := range m.dynamic {
		d.set(t.For(gr))
	}
}

func (m *Manager) load(cfg *apiserverv1.EncryptionConfiguration) error {
	t, err := Build(cfg)
	if err != nil {
		return err
	}
	if err := Write(m.path, cfg); err != nil {
		return err
	}
	m.apply(t)
	return nil
}

// Reencrypt rewrites every stored value that is not in the current
// key's form.
func (m *Manager) Reencrypt(ctx context.Context) (int, error) {
	n := 0
	for gr, s := range m.stores {
		k, err := s.Rewrite(ctx)
		n += k
		if err != nil {
			return n, fmt.Errorf("rewrite %s: %w", gr, err)
		}
	}
	return n, nil
}

// RotateKeys does k3s's rotate-keys in one go: a new aescbc key becomes
// the write key while the old ones still read, every value is rewritten
// with it, and then the old keys are dropped. It returns the new key's
// name.
func (m *Manager) RotateKeys(ctx context.Context, now time.Time) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cfg, err := Read(m.path)
	if err != nil {
		return "", err
	}
	key := NewKey("aescbckey-" + now.UTC().Format("20060102T150405Z"))
	first := apiserverv1.ProviderConfiguration{AESCBC: &apiserverv1.AESConfiguration{Keys: []apiserverv1.Key{key}}}
	for i := range cfg.Resources {
		cfg.Resources[i].Providers = append([]apiserverv1.ProviderConfiguration{first}, cfg.Resources[i].Providers...)
	}
	if err := m.load(cfg); err != nil {
		return "", fmt.Errorf("add the new key: %w", err)
	}
	if _, err := m.Reencrypt(ctx); err != nil {
		// The old keys stay: everything is still readable.
		return "", err
	}
	for i := range cfg.Resources {
		cfg.Resources[i].Providers = []apiserverv1.ProviderConfiguration{first, {Identity: &apiserverv1.IdentityConfiguration{}}}
	}
	if err := m.load(cfg); err != nil {
		return "", fmt.Errorf("drop the old keys: %w", err)
	}
	return key.Name, nil
}

// Status describes the keys and what the stored values use.
type Status struct {
	// Keys lists the configured providers' keys in order, the first
	// writing ("identity" for plaintext).
	Keys []string `json:"keys"`
	// Values counts stored values by the key (or "identity") they are
	// in.
	Values map[string]int `json:"values"`
}

// Status reads the configuration and every stored value's prefix.
func (m *Manager) Status(ctx context.Context) (*Status, error) {
	cfg, err := Read(m.path)
	if err != nil {
		return nil, err
	}
	st := &Status{Values: map[string]int{}}
	var prefixes [][]byte
	for _, rc := range cfg.Resources {
		if !slices.Contains(rc.Resources, "secrets") {
			continue
		}
		for _, p := range rc.Providers {
			for kind, keys := range map[string]*apiserverv1.AESConfiguration{"aescbc": p.AESCBC, "aesgcm": p.AESGCM} {
				if keys == nil {
					continue
				}
				for _, k := range keys.Keys {
					st.Keys = append(st.Keys, kind+":"+k.Name)
					prefixes = append(prefixes, []byte("k8s:enc:"+kind+":v1:"+k.Name+":"))
				}
			}
			if p.Secretbox != nil {
				for _, k := range p.Secretbox.Keys {
					st.Keys = append(st.Keys, "secretbox:"+k.Name)
					prefixes = append(prefixes, []byte("k8s:enc:secretbox:v1:"+k.Name+":"))
				}
			}
			if p.Identity != nil {
				st.Keys = append(st.Keys, "identity")
			}
		}
		break
	}
	for _, s := range m.stores {
		values, err := s.Values(ctx)
		if err != nil {
			return nil, err
		}
	next:
		for _, v := range values {
			for i, p := range prefixes {
				if bytes.HasPrefix(v, p) {
					st.Values[st.keyOf(i)]++
					continue next
				}
			}
			if bytes.HasPrefix(v, []byte("k8s:enc:")) {
				st.Values["unknown"]++
			} else {
				st.Values["identity"]++
			}
		}
	}
	return st, nil
}

// keyOf is the i-th encrypting key's name (Keys minus identity entries).
func (st *Status) keyOf(i int) string {
	for _, k := range st.Keys {
		if k == "identity" {
			continue
		}
		if i == 0 {
			return k
		}
		i--
	}
	return "unknown"
}

// ErrDisabled is returned by the API when the server runs without
// --secrets-encryption.
var ErrDisabled = errors.New("secrets encryption is not enabled on this server (flotilla server --secrets-encryption)")
