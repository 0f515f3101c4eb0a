package join

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

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

// NodePasswordHeader carries the agent's per-node password with each
// certificate request; the first join of a node name records it, later
// joins under that name must present it.
const NodePasswordHeader = "Flotilla-Node-Password"

// Certificate kinds an agent asks for (the kind query parameter of
// CertPath): a client certificate to talk to the API, and a serving
// certificate for its streaming and stats port.
const (
	KindClient  = "client"
	KindServing = "serving"
)

// PasswordChecker records a node's password at its first join and checks
// it at every later one, so a node name held by one machine cannot be
// taken over by another that only has the shared token.
type PasswordChecker interface {
	CheckNodePassword(ctx context.Context, node, password string) error
}

// ErrPasswordMismatch is what a PasswordChecker returns when the node name
// is held by another machine.
var ErrPasswordMismatch = errors.New("node password does not match")

// HandlerConfig is what the join endpoints need from the server.
type HandlerConfig struct {
	CA *pki.Authority
	// Token returns the join token in force; it is read at each request
	// so `flotilla token rotate` takes effect without a restart.
	Token func() (Token, error)
	// Passwords holds the per-node passwords.
	Passwords PasswordChecker
	// ReservedNodes are node names no agent may join as (the server's own
	// node, whose agent runs in process).
	ReservedNodes []string
	// ServerNames and ServerIPs are what the API server's certificate
	// names; no node serving certificate may claim them.
	ServerNames []string
	ServerIPs   []net.IP
	Log         *slog.Logger
}

// apiServerDNSNames are the names in-cluster clients reach the API by.
var apiServerDNSNames = []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"}

// Handler serves the CA (public, so agents can pin it against the token)
// and signs node certificate requests presented with the token's secret
// and the node's password.
func Handler(cfg HandlerConfig) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+CACertsPath, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-pem-file")
		_, _ = w.Write(cfg.CA.CertPEM)
	})
	mux.HandleFunc("POST "+CertPath, func(w http.ResponseWriter, r *http.Request) {
		token, err := cfg.Token()
		if err != nil {
			cfg.Log.Error("read join token", "err", err)
			http.Error(w, "join token unavailable", http.StatusInternalServerError)
			return
		}
		secret, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || !secretMatches(secret, token.Secret) {
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		kind := r.URL.Query().Get("kind")
		if kind == "" {
			kind = KindClient
		}
		if kind != KindClient && kind != KindServing {
			http.Error(w, fmt.Sprintf("unknown certificate kind %q (want %s or %s)", kind, KindClient, KindServing), http.StatusBadRequest)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
		if err != nil {
			http.Error(w, "read request", http.StatusBadRequest)
			return
		}
		var node string
		usage := x509.ExtKeyUsageClientAuth
		if kind == KindServing {
			usage = x509.ExtKeyUsageServerAuth
		}
		cert, err := cfg.CA.SignCSR(body, usage, func(csr *x509.CertificateRequest) error {
			var err error
			if node, err = checkSubject(csr, cfg.ReservedNodes); err != nil {
				return err
			}
			if kind == KindClient {
				if len(csr.DNSNames) > 0 || len(csr.IPAddresses) > 0 {
					return errors.New("a node client certificate request may not name DNS names or addresses")
				}
				return nil
			}
			return cfg.checkServingNames(csr, node, isLoopback(r.RemoteAddr))
		})
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		password := r.Header.Get(NodePasswordHeader)
		if password == "" {
			http.Error(w, "a node password is required ("+NodePasswordHeader+" header)", http.StatusBadRequest)
			return
		}
		if err := cfg.Passwords.CheckNodePassword(r.Context(), node, password); err != nil {
			if errors.Is(err, ErrPasswordMismatch) {
				cfg.Log.Warn("refused node certificate: the node name is held by another machine", "node", node, "remote", r.RemoteAddr)
				http.Error(w, fmt.Sprintf("node %q is already joined by another machine (node password does not match)", node), http.StatusForbidden)
				return
			}
			cfg.Log.Error("check node password", "node", node, "err", err)
			http.Error(w, "cannot check the node password", http.StatusInternalServerError)
			return
		}
		cfg.Log.Info("issued node certificate", "node", node, "kind", kind, "remote", r.RemoteAddr)
		w.Header().Set("Content-Type", "application/x-pem-file")
		_, _ = w.Write(cert)
	})
	return mux
}

// checkSubject accepts only system:node:<name> in exactly system:nodes,
// with a name that is a valid node name, and returns the name.
func checkSubject(csr *x509.CertificateRequest, reserved []string) (string, error) {
	name, ok := strings.CutPrefix(csr.Subject.CommonName, NodeUserPrefix)
	if !ok || name == "" || len(csr.Subject.Organization) != 1 || csr.Subject.Organization[0] != NodeGroup {
		return "", fmt.Errorf("a node certificate request must be for %s<node> in group %s", NodeUserPrefix, NodeGroup)
	}
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		return "", fmt.Errorf("invalid node name %q: %s", name, strings.Join(errs, "; "))
	}
	if len(name)+len(passwordSecretSuffix) > validation.DNS1123SubdomainMaxLength {
		return "", fmt.Errorf("node name %q is too long", name)
	}
	if slices.Contains(reserved, name) {
		return "", fmt.Errorf("node name %q is the server's own node", name)
	}
	if len(csr.URIs) > 0 || len(csr.EmailAddresses) > 0 || len(csr.Subject.OrganizationalUnit) > 0 {
		return "", errors.New("a node certificate request may not carry URIs, e-mail addresses or organizational units")
	}
	return name, nil
}

// checkServingNames lets a serving certificate name only the node itself
// and its addresses, never a name or address of the API server: a node
// holding such a certificate could pose as the API server to clients that
// trust the cluster CA. Loopback addresses are allowed only to a requester
// on the server's own machine (a simulator or stats server there), whose
// loopback the server already shares.
func (cfg HandlerConfig) checkServingNames(csr *x509.CertificateRequest, node string, fromLoopback bool) error {
	if len(csr.DNSNames) == 0 && len(csr.IPAddresses) == 0 {
		return errors.New("a node serving certificate request must name the node's addresses")
	}
	for _, dns := range csr.DNSNames {
		if dns != node {
			return fmt.Errorf("a node serving certificate may name only its node %q, not %q", node, dns)
		}
		if slices.Contains(apiServerDNSNames, strings.ToLower(dns)) || slices.Contains(cfg.ServerNames, strings.ToLower(dns)) {
			return fmt.Errorf("a node serving certificate may not name the API server's name %q", dns)
		}
	}
	for _, ip := range csr.IPAddresses {
		switch {
		case ip.IsUnspecified() || ip.IsMulticast():
			return fmt.Errorf("a node serving certificate may not name address %s", ip)
		case ip.IsLoopback():
			if !fromLoopback {
				return fmt.Errorf("a node serving certificate may not name the loopback address %s", ip)
			}
		case slices.ContainsFunc(cfg.ServerIPs, ip.Equal):
			return fmt.Errorf("a node serving certificate may not name the API server's address %s", ip)
		}
	}
	return nil
}

func isLoopback(remoteAddr string) bool {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
