package containers

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// defaultClusterDomain is the DNS domain of Services and pods'
// subdomains when Config.ClusterDomain is unset.
const defaultClusterDomain = "cluster.local"

// The file's headers are upstream's: tools and tests look for them.
const (
	etcHostsPath             = "/etc/hosts"
	nodeHostsFile            = "/etc/hosts" // the node's own, for host-network pods
	managedHostsHeader       = "# Kubernetes-managed hosts file.\n"
	managedHostNetworkHeader = "# Kubernetes-managed hosts file (host network).\n"
	hostAliasesHeader        = "\n# Entries added by HostAliases.\n"
	hostsFileName            = "etc-hosts"
	hostsFileMode            = 0o644
)

// etcHostsMount writes the pod's managed /etc/hosts and mounts it into
// the container, as the kubelet does: the pod's own address and name
// (ADDRESS HOSTNAME.SUBDOMAIN.NS.svc.DOMAIN HOSTNAME with a subdomain; the
// short name even with setHostnameAsFQDN), then spec.hostAliases. A host-network pod sees the node's hosts file
// with the aliases added. A container that mounts a volume at /etc/hosts
// keeps its own; a pod without an address yet gets none.
func (b *Builder) etcHostsMount(pod *corev1.Pod, c *corev1.Container, podIP string) (*runtimeapi.Mount, error) {
	if podIP == "" && !pod.Spec.HostNetwork {
		return nil, nil
	}
	for _, vm := range c.VolumeMounts {
		if vm.MountPath == etcHostsPath {
			return nil, nil
		}
	}
	var content []byte
	if pod.Spec.HostNetwork {
		node, err := os.ReadFile(nodeHostsFile)
		if err != nil {
			return nil, fmt.Errorf("read the node's hosts file: %w", err)
		}
		content = hostNetworkHostsFile(node, pod.Spec.HostAliases)
	} else {
		hostname, domain, err := b.hostnameAndDomain(pod)
		if err != nil {
			return nil, err
		}
		content = managedHostsFile(podIP, hostname, domain, pod.Spec.HostAliases)
	}
	path := filepath.Join(b.podDir(pod), hostsFileName)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, content, hostsFileMode); err != nil {
		return nil, err
	}
	if err := os.Chmod(path, hostsFileMode); err != nil {
		return nil, err
	}
	return &runtimeapi.Mount{ContainerPath: etcHostsPath, HostPath: path}, nil
}

func managedHostsFile(podIP, hostname, domain string, aliases []corev1.HostAlias) []byte {
	var b bytes.Buffer
	b.WriteString(managedHostsHeader)
	b.WriteString("127.0.0.1\tlocalhost\n")
	b.WriteString("::1\tlocalhost ip6-localhost ip6-loopback\n")
	b.WriteString("fe00::0\tip6-localnet\n")
	b.WriteString("fe00::0\tip6-mcastprefix\n")
	b.WriteString("fe00::1\tip6-allnodes\n")
	b.WriteString("fe00::2\tip6-allrouters\n")
	if domain != "" {
		fmt.Fprintf(&b, "%s\t%s.%s\t%s\n", podIP, hostname, domain, hostname)
	} else {
		fmt.Fprintf(&b, "%s\t%s\n", podIP, hostname)
	}
	b.Write(hostAliasEntries(aliases))
	return b.Bytes()
}

func hostNetworkHostsFile(node []byte, aliases []corev1.HostAlias) []byte {
	var b bytes.Buffer
	b.WriteString(managedHostNetworkHeader)
	b.Write(node)
	b.Write(hostAliasEntries(aliases))
	return b.Bytes()
}

// hostAliasEntries writes one line per alias IP with all its names.
func hostAliasEntries(aliases []corev1.HostAlias) []byte {
	if len(aliases) == 0 {
		return nil
	}
	var b bytes.Buffer
	b.WriteString(hostAliasesHeader)
	for _, h := range aliases {
		fmt.Fprintf(&b, "%s\t%s\n", h.IP, strings.Join(h.Hostnames, "\t"))
	}
	return b.Bytes()
}
