package pki

import (
	"fmt"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Kubeconfig describes one cluster/user/context kubeconfig file.
type Kubeconfig struct {
	Server  string
	CAPEM   []byte
	CertPEM []byte
	KeyPEM  []byte
	Name    string // cluster, user and context name
}

// WriteKubeconfig writes cfg to path with mode 0600 (it holds a private key).
func WriteKubeconfig(path string, cfg Kubeconfig) error {
	name := cfg.Name
	if name == "" {
		name = "default"
	}
	c := clientcmdapi.NewConfig()
	c.Clusters[name] = &clientcmdapi.Cluster{Server: cfg.Server, CertificateAuthorityData: cfg.CAPEM}
	c.AuthInfos[name] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertPEM, ClientKeyData: cfg.KeyPEM}
	c.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: name}
	c.CurrentContext = name
	data, err := clientcmd.Write(*c)
	if err != nil {
		return fmt.Errorf("encode kubeconfig: %w", err)
	}
	return WriteFile(path, data, 0o600)
}
