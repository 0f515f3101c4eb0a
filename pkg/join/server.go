package join

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/flotilla-io/flotilla/pkg/pki"
)

// Paths the server answers without a client certificate.
const (
	CACertsPath = "/cacerts"
	CertPath    = "/v1-flotilla/node-certificate"
)

// NodeUserPrefix and NodeGroup name the identity a joined node gets.
const (
	NodeUserPrefix = "system:node:"
	NodeGroup      = "system:nodes"
)

// Handler serves the CA (public, so agents can pin it against the token)
// and signs node certificate requests presented with the token's secret.
func Handler(ca *pki.Authority, token Token, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+CACertsPath, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-pem-file")
		_, _ = w.Write(ca.CertPEM)
	})
	mux.HandleFunc("POST "+CertPath, func(w http.ResponseWriter, r *http.Request) {
		secret, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || !secretMatches(secret, token.Secret) {
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
		if err != nil {
			http.Error(w, "read request", http.StatusBadRequest)
			return
		}
		cert, err := ca.SignCSR(body, func(csr *x509.CertificateRequest) error {
			name, ok := strings.CutPrefix(csr.Subject.CommonName, NodeUserPrefix)
			if !ok || name == "" || len(csr.Subject.Organization) != 1 || csr.Subject.Organization[0] != NodeGroup {
				return fmt.Errorf("a node certificate request must be for %s<node> in group %s", NodeUserPrefix, NodeGroup)
			}
			// The agent serves streaming on its own addresses; the only
			// DNS name it may claim is its node name.
			for _, dns := range csr.DNSNames {
				if dns != name {
					return fmt.Errorf("a node certificate may name only its node %q, not %q", name, dns)
				}
			}
			if len(csr.URIs) > 0 || len(csr.EmailAddresses) > 0 {
				return errors.New("a node certificate request may not carry URIs or e-mail addresses")
			}
			return nil
		})
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		log.Info("issued node certificate", "remote", r.RemoteAddr)
		w.Header().Set("Content-Type", "application/x-pem-file")
		_, _ = w.Write(cert)
	})
	return mux
}
