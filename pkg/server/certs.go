package server

import (
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"

	"github.com/flotilla-io/flotilla/pkg/agent"
	"github.com/flotilla-io/flotilla/pkg/pki"
)

// certs are the key pairs the control plane uses.
type certs struct {
	ca         *pki.Authority
	serving    tls.Certificate
	adminCert  []byte
	adminKey   []byte
	etcdServer string // directory holding etcd's server pair and CA
	loopback   tls.Certificate
	// agentClient is what the server presents to node agents when it
	// proxies logs, exec, attach and port-forward to them.
	agentClient tls.Certificate
	// servingIPs are the addresses the API server's certificate names.
	servingIPs []net.IP
}

// loadCerts loads or issues the cluster's certificates. The API server's
// serving certificate names, besides localhost and the bind address, the
// extra addresses clients reach it at: the advertised address and the
// `kubernetes` Service's cluster IP, which in-cluster clients
// (KUBERNETES_SERVICE_HOST) verify, as upstream's certificate does.
func loadCerts(dataDir string, bindAddress string, extra ...net.IP) (*certs, error) {
	dir := filepath.Join(dataDir, "tls")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	ca, err := pki.LoadOrCreateCA(dir, "flotilla-ca")
	if err != nil {
		return nil, err
	}
	c := &certs{ca: ca, etcdServer: dir}
	hostname, _ := os.Hostname()
	ips := []net.IP{net.ParseIP("127.0.0.1"), net.IPv6loopback}
	for _, ip := range append([]net.IP{net.ParseIP(bindAddress)}, extra...) {
		if ip != nil && !ip.IsUnspecified() && !ip.IsLoopback() && !slices.ContainsFunc(ips, ip.Equal) {
			ips = append(ips, ip)
		}
	}
	c.servingIPs = ips
	dns := []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"}
	if hostname != "" {
		dns = append(dns, hostname)
	}
	if c.serving, err = ca.LoadOrIssue(filepath.Join(dir, "serving.crt"), filepath.Join(dir, "serving.key"), pki.LeafRequest{CommonName: "flotilla-apiserver", DNSNames: dns, IPs: ips, Server: true}); err != nil {
		return nil, err
	}
	admin, err := ca.LoadOrIssue(filepath.Join(dir, "admin.crt"), filepath.Join(dir, "admin.key"), pki.LeafRequest{CommonName: "system:admin", Organization: []string{"system:masters"}})
	if err != nil {
		return nil, err
	}
	if c.adminCert, c.adminKey, err = pairPEM(filepath.Join(dir, "admin.crt"), filepath.Join(dir, "admin.key")); err != nil {
		return nil, err
	}
	_ = admin
	// The control plane's own clients (bootstrap, controllers) use this.
	if c.loopback, err = ca.LoadOrIssue(filepath.Join(dir, "controller.crt"), filepath.Join(dir, "controller.key"), pki.LeafRequest{CommonName: "system:flotilla-controller", Organization: []string{"system:masters"}}); err != nil {
		return nil, err
	}
	if c.agentClient, err = ca.LoadOrIssue(filepath.Join(dir, "agent-client.crt"), filepath.Join(dir, "agent-client.key"), pki.LeafRequest{CommonName: agent.APIServerClientName}); err != nil {
		return nil, err
	}
	if _, err = ca.LoadOrIssue(filepath.Join(dir, "etcd-server.crt"), filepath.Join(dir, "etcd-server.key"), pki.LeafRequest{CommonName: "etcd", DNSNames: []string{"localhost"}, IPs: ips, Server: true}); err != nil {
		return nil, err
	}
	return c, nil
}

func pairPEM(certPath, keyPath string) ([]byte, []byte, error) {
	cert, err := os.ReadFile(certPath)
	if err != nil {
		return nil, nil, err
	}
	key, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, nil, err
	}
	return cert, key, nil
}
