package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/authentication/user"

	"github.com/flotilla-io/flotilla/pkg/encryption"
	"github.com/flotilla-io/flotilla/pkg/registry"
)

// encryptPathPrefix serves `flotilla secrets-encrypt`, as k3s serves its
// secrets-encrypt command from the server: status, rotate-keys,
// reencrypt. Only system:masters may call it.
const encryptPathPrefix = "/v1-flotilla/encrypt/"

// encryptResources installs the encryption configuration's transformers
// on the stores of the resources it names.
func (s *Server) encryptResources(resources []*registry.Resource) error {
	if !s.cfg.SecretsEncryption {
		return nil
	}
	m, err := encryption.NewManager(encryption.ConfigPath(s.cfg.DataDir))
	if err != nil {
		return fmt.Errorf("secrets encryption: %w", err)
	}
	for _, r := range resources {
		gr := schema.GroupResource{Group: r.Group, Resource: r.Plural}
		if m.Encrypts(gr) {
			r.Store.SetTransformer(m.Transformer(gr))
			m.AddStore(gr, r.Store)
		}
	}
	s.encryption = m
	return nil
}

func (s *Server) serveEncryption(w http.ResponseWriter, r *http.Request) {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || !slices.Contains(r.TLS.VerifiedChains[0][0].Subject.Organization, user.SystemPrivilegedGroup) {
		http.Error(w, "Forbidden: only system:masters may manage secrets encryption", http.StatusForbidden)
		return
	}
	if s.encryption == nil {
		http.Error(w, encryption.ErrDisabled.Error(), http.StatusConflict)
		return
	}
	op := strings.TrimPrefix(r.URL.Path, encryptPathPrefix)
	var out any
	var err error
	switch {
	case op == "status" && r.Method == http.MethodGet:
		out, err = s.encryption.Status(r.Context())
	case op == "rotate-keys" && r.Method == http.MethodPost:
		var name string
		name, err = s.encryption.RotateKeys(r.Context(), time.Now())
		out = map[string]string{"key": name}
		if err == nil {
			s.log.Info("secrets encryption keys rotated", "key", name)
		}
	case op == "reencrypt" && r.Method == http.MethodPost:
		var n int
		n, err = s.encryption.Reencrypt(r.Context())
		out = map[string]int{"objects": n}
	default:
		http.Error(w, "unknown secrets-encrypt operation (GET status, POST rotate-keys, POST reencrypt)", http.StatusNotFound)
		return
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}
