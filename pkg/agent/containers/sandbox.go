package containers

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/flotilla-io/flotilla/pkg/agent/internal/podrun"
)

func namespaceOptions(pod *corev1.Pod) *runtimeapi.NamespaceOption {
	ns := &runtimeapi.NamespaceOption{Network: runtimeapi.NamespaceMode_POD, Pid: runtimeapi.NamespaceMode_CONTAINER, Ipc: runtimeapi.NamespaceMode_POD}
	if pod.Spec.HostNetwork {
		ns.Network = runtimeapi.NamespaceMode_NODE
	}
	if pod.Spec.HostPID {
		ns.Pid = runtimeapi.NamespaceMode_NODE
	} else if pod.Spec.ShareProcessNamespace != nil && *pod.Spec.ShareProcessNamespace {
		ns.Pid = runtimeapi.NamespaceMode_POD
	}
	if pod.Spec.HostIPC {
		ns.Ipc = runtimeapi.NamespaceMode_NODE
	}
	return ns
}

func privileged(pod *corev1.Pod) bool {
	for _, c := range append(append([]corev1.Container{}, pod.Spec.InitContainers...), pod.Spec.Containers...) {
		if c.SecurityContext != nil && c.SecurityContext.Privileged != nil && *c.SecurityContext.Privileged {
			return true
		}
	}
	return false
}

// maxHostnameLen is DNS's limit for a label, which the kubelet applies
// to a pod's host name; maxFQDNLen is the kernel's for a UTS host name
// (sethostname refuses a longer one).
const (
	maxHostnameLen = 63
	maxFQDNLen     = 64
)

// hostnameAndDomain are the pod's host name and domain, as the kubelet
// makes them: spec.hostname (a DNS label) or the pod's name, cut to 63
// characters without a trailing '-' or '.' (so pods with long generated
// names still start); with spec.subdomain the domain
// SUBDOMAIN.NAMESPACE.svc.CLUSTER-DOMAIN.
func (b *Builder) hostnameAndDomain(pod *corev1.Pod) (hostname, domain string, err error) {
	hostname = pod.Name
	if pod.Spec.Hostname != "" {
		if msgs := utilvalidation.IsDNS1123Label(pod.Spec.Hostname); len(msgs) != 0 {
			return "", "", fmt.Errorf("pod Hostname %q is not a valid DNS label: %s", pod.Spec.Hostname, strings.Join(msgs, ";"))
		}
		hostname = pod.Spec.Hostname
	}
	if len(hostname) > maxHostnameLen {
		cut := strings.TrimRight(hostname[:maxHostnameLen], "-.")
		if cut == "" {
			return "", "", fmt.Errorf("hostname for pod %q was invalid: %q", pod.Name, hostname)
		}
		hostname = cut
	}
	if pod.Spec.Subdomain != "" {
		if msgs := utilvalidation.IsDNS1123Label(pod.Spec.Subdomain); len(msgs) != 0 {
			return "", "", fmt.Errorf("pod Subdomain %q is not a valid DNS label: %s", pod.Spec.Subdomain, strings.Join(msgs, ";"))
		}
		domain = pod.Spec.Subdomain + "." + pod.Namespace + ".svc." + b.clusterDomain()
	}
	return hostname, domain, nil
}

func (b *Builder) clusterDomain() string {
	if b.cfg.ClusterDomain == "" {
		return defaultClusterDomain
	}
	return b.cfg.ClusterDomain
}

// kernelHostname is the UTS host name of the sandbox: the short name, or
// with setHostnameAsFQDN and a domain the fully qualified one, which must
// fit the kernel's 64 characters.
func kernelHostname(hostname, domain string, asFQDN *bool) (string, error) {
	if domain == "" || asFQDN == nil || !*asFQDN {
		return hostname, nil
	}
	fqdn := hostname + "." + domain
	if len(fqdn) > maxFQDNLen {
		return "", fmt.Errorf("failed to construct FQDN from pod hostname and cluster domain, FQDN %s is too long (%d characters is the max, %d characters requested)", fqdn, maxFQDNLen, len(fqdn))
	}
	return fqdn, nil
}

// Sandbox describes the pod's sandbox: its identity, host name, resolver
// configuration, namespaces and port mappings.
func (b *Builder) Sandbox(pod *corev1.Pod, attempt uint32) (*runtimeapi.PodSandboxConfig, error) {
	// A host-network pod shares the node's UTS namespace: it has the
	// node's name already, and runc refuses to set one without a namespace
	// of its own ("unable to set hostname without a private UTS
	// namespace").
	var hostname string
	if !pod.Spec.HostNetwork {
		short, domain, err := b.hostnameAndDomain(pod)
		if err != nil {
			return nil, err
		}
		if hostname, err = kernelHostname(short, domain, pod.Spec.SetHostnameAsFQDN); err != nil {
			return nil, err
		}
	}
	dns, err := b.podDNS(pod, b.warner(pod))
	if err != nil {
		return nil, err
	}
	security, err := sandboxSecurityContext(pod)
	if err != nil {
		return nil, err
	}
	cfg := &runtimeapi.PodSandboxConfig{
		Metadata:     &runtimeapi.PodSandboxMetadata{Name: pod.Name, Namespace: pod.Namespace, Uid: string(pod.UID), Attempt: attempt},
		Hostname:     hostname,
		LogDirectory: b.logDir(pod),
		Labels:       map[string]string{podrun.LabelPodName: pod.Name, podrun.LabelPodNamespace: pod.Namespace, podrun.LabelPodUID: string(pod.UID)},
		Annotations:  pod.Annotations,
		DnsConfig:    dns,
		Linux: &runtimeapi.LinuxPodSandboxConfig{
			SecurityContext: security,
		},
	}
	if psc := pod.Spec.SecurityContext; psc != nil && len(psc.Sysctls) > 0 {
		cfg.Linux.Sysctls = make(map[string]string, len(psc.Sysctls))
		for _, s := range psc.Sysctls {
			cfg.Linux.Sysctls[s.Name] = s.Value
		}
	}
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			if p.HostPort == 0 {
				continue
			}
			proto := runtimeapi.Protocol_TCP
			switch p.Protocol {
			case corev1.ProtocolUDP:
				proto = runtimeapi.Protocol_UDP
			case corev1.ProtocolSCTP:
				proto = runtimeapi.Protocol_SCTP
			}
			cfg.PortMappings = append(cfg.PortMappings, &runtimeapi.PortMapping{Protocol: proto, ContainerPort: p.ContainerPort, HostPort: p.HostPort, HostIp: p.HostIP})
		}
	}
	return cfg, nil
}

// RuntimeHandler is the CRI runtime handler a pod's sandbox runs with:
// the handler of the RuntimeClass the pod names, "" (the runtime's
// default) when it names none. A class that is gone is an error, as with
// the kubelet: the sandbox is not started until it exists.
func (b *Builder) RuntimeHandler(ctx context.Context, pod *corev1.Pod) (string, error) {
	name := pod.Spec.RuntimeClassName
	if name == nil || *name == "" {
		return "", nil
	}
	rc, err := b.cfg.RuntimeClasses.RuntimeClasses().Get(ctx, *name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "", fmt.Errorf("RuntimeClass %q not found", *name)
	}
	if err != nil {
		return "", fmt.Errorf("look up RuntimeClass %q: %w", *name, err)
	}
	return rc.Handler, nil
}
