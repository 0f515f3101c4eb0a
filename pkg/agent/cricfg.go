package agent

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/flotilla-io/flotilla/pkg/agent/internal/expansion"
	"github.com/flotilla-io/flotilla/pkg/agent/internal/podrun"
)

func (a *Agent) podDir(pod *corev1.Pod) string {
	return filepath.Join(a.cfg.DataDir, "pods", string(pod.UID))
}

func (a *Agent) logDir(pod *corev1.Pod) string {
	return filepath.Join(a.cfg.DataDir, "logs", pod.Namespace+"_"+pod.Name+"_"+string(pod.UID))
}

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

// maxHostnameLen is the kernel's limit for a UTS host name (and DNS's for
// a label): sethostname refuses a longer one.
const maxHostnameLen = 63

// podHostname is the host name a pod's sandbox gets: spec.hostname or the
// pod's name, cut to 63 characters without a trailing '-' or '.' (as the
// kubelet does, so pods with long generated names still start).
func podHostname(pod *corev1.Pod) string {
	h := pod.Name
	if pod.Spec.Hostname != "" {
		h = pod.Spec.Hostname
	}
	if len(h) > maxHostnameLen {
		h = strings.TrimRight(h[:maxHostnameLen], "-.")
	}
	return h
}

// sandboxConfig describes the pod's sandbox: its identity, network and
// port mappings.
func (a *Agent) sandboxConfig(pod *corev1.Pod, attempt uint32) (*runtimeapi.PodSandboxConfig, error) {
	hostname := podHostname(pod)
	if pod.Spec.HostNetwork {
		// The pod shares the node's UTS namespace: it has the node's name
		// already, and runc refuses to set one without a namespace of its
		// own ("unable to set hostname without a private UTS namespace").
		hostname = ""
	}
	cfg := &runtimeapi.PodSandboxConfig{
		Metadata:     &runtimeapi.PodSandboxMetadata{Name: pod.Name, Namespace: pod.Namespace, Uid: string(pod.UID), Attempt: attempt},
		Hostname:     hostname,
		LogDirectory: a.logDir(pod),
		Labels:       map[string]string{podrun.LabelPodName: pod.Name, podrun.LabelPodNamespace: pod.Namespace, podrun.LabelPodUID: string(pod.UID)},
		Annotations:  pod.Annotations,
		Linux: &runtimeapi.LinuxPodSandboxConfig{
			SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{NamespaceOptions: namespaceOptions(pod), Privileged: privileged(pod)},
		},
	}
	if psc := pod.Spec.SecurityContext; psc != nil && len(psc.Sysctls) > 0 {
		cfg.Linux.Sysctls = make(map[string]string, len(psc.Sysctls))
		for _, s := range psc.Sysctls {
			cfg.Linux.Sysctls[s.Name] = s.Value
		}
	}
	if pod.Spec.DNSConfig != nil {
		cfg.DnsConfig = &runtimeapi.DNSConfig{Servers: pod.Spec.DNSConfig.Nameservers, Searches: pod.Spec.DNSConfig.Searches}
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

// containerConfig describes one attempt of a container.
func (a *Agent) containerConfig(ctx context.Context, pod *corev1.Pod, c *corev1.Container, run *podrun.Run, attempt uint32, image string) (*runtimeapi.ContainerConfig, error) {
	env, err := a.envFor(ctx, pod, c, run.PodIP)
	if err != nil {
		return nil, err
	}
	vars := map[string]string{}
	for _, e := range env {
		vars[e.Key] = string(e.Value)
	}
	mounts, err := a.mountsFor(ctx, pod, c, vars)
	if err != nil {
		return nil, err
	}
	for _, extra := range []func() (*runtimeapi.Mount, error){
		func() (*runtimeapi.Mount, error) { return a.etcHostsMount(pod, c, run.PodIP) },
		func() (*runtimeapi.Mount, error) { return a.terminationMessageMount(pod, c, attempt) },
	} {
		m, err := extra()
		if err != nil {
			return nil, err
		}
		if m != nil {
			mounts = append(mounts, m)
		}
	}
	cfg := &runtimeapi.ContainerConfig{
		Metadata:   &runtimeapi.ContainerMetadata{Name: c.Name, Attempt: attempt},
		Image:      &runtimeapi.ImageSpec{Image: image, UserSpecifiedImage: c.Image},
		Command:    expansion.All(c.Command, vars),
		Args:       expansion.All(c.Args, vars),
		WorkingDir: c.WorkingDir,
		Envs:       env,
		Mounts:     mounts,
		Labels:     map[string]string{podrun.LabelPodName: pod.Name, podrun.LabelPodNamespace: pod.Namespace, podrun.LabelPodUID: string(pod.UID), podrun.LabelContainerName: c.Name},
		Annotations: map[string]string{
			"io.kubernetes.container.restartCount":           strconv.Itoa(int(attempt)),
			"io.kubernetes.container.terminationMessagePath": c.TerminationMessagePath,
		},
		LogPath:   filepath.Join(c.Name, strconv.Itoa(int(attempt))+".log"),
		Stdin:     c.Stdin,
		StdinOnce: c.StdinOnce,
		Tty:       c.TTY,
		Linux: &runtimeapi.LinuxContainerConfig{
			Resources:       linuxResources(c),
			SecurityContext: securityContext(pod, c),
		},
	}
	if err := shareTargetPID(pod, c.Name, run, cfg.Linux.SecurityContext.NamespaceOptions); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(a.logDir(pod), c.Name), 0o755); err != nil {
		return nil, err
	}
	return cfg, nil
}

// linuxResources turns requests and limits into cgroup settings, as the
// kubelet does: shares from the cpu request, a CFS quota from the cpu
// limit, the memory limit as is.
func linuxResources(c *corev1.Container) *runtimeapi.LinuxContainerResources {
	r := &runtimeapi.LinuxContainerResources{CpuShares: 2, CpuPeriod: 100000}
	if q, ok := c.Resources.Requests[corev1.ResourceCPU]; ok {
		r.CpuShares = max(q.MilliValue()*1024/1000, 2)
	} else if q, ok := c.Resources.Limits[corev1.ResourceCPU]; ok {
		r.CpuShares = max(q.MilliValue()*1024/1000, 2)
	}
	if q, ok := c.Resources.Limits[corev1.ResourceCPU]; ok {
		r.CpuQuota = max(q.MilliValue()*100, 1000)
	}
	if q, ok := c.Resources.Limits[corev1.ResourceMemory]; ok {
		r.MemoryLimitInBytes = q.Value()
	}
	return r
}

func securityContext(pod *corev1.Pod, c *corev1.Container) *runtimeapi.LinuxContainerSecurityContext {
	sc := &runtimeapi.LinuxContainerSecurityContext{NamespaceOptions: namespaceOptions(pod)}
	if psc := pod.Spec.SecurityContext; psc != nil {
		if psc.RunAsUser != nil {
			sc.RunAsUser = &runtimeapi.Int64Value{Value: *psc.RunAsUser}
		}
		if psc.RunAsGroup != nil {
			sc.RunAsGroup = &runtimeapi.Int64Value{Value: *psc.RunAsGroup}
		}
		sc.SupplementalGroups = psc.SupplementalGroups
		if psc.FSGroup != nil && !slices.Contains(sc.SupplementalGroups, *psc.FSGroup) {
			sc.SupplementalGroups = append(slices.Clone(sc.SupplementalGroups), *psc.FSGroup)
		}
	}
	if csc := c.SecurityContext; csc != nil {
		if csc.Privileged != nil {
			sc.Privileged = *csc.Privileged
		}
		if csc.RunAsUser != nil {
			sc.RunAsUser = &runtimeapi.Int64Value{Value: *csc.RunAsUser}
		}
		if csc.RunAsGroup != nil {
			sc.RunAsGroup = &runtimeapi.Int64Value{Value: *csc.RunAsGroup}
		}
		if csc.ReadOnlyRootFilesystem != nil {
			sc.ReadonlyRootfs = *csc.ReadOnlyRootFilesystem
		}
		// no_new_privs only when escalation is forbidden outright, as the
		// kubelet sets it.
		if csc.AllowPrivilegeEscalation != nil {
			sc.NoNewPrivs = !*csc.AllowPrivilegeEscalation
		}
		if caps := csc.Capabilities; caps != nil {
			sc.Capabilities = &runtimeapi.Capability{}
			for _, c := range caps.Add {
				sc.Capabilities.AddCapabilities = append(sc.Capabilities.AddCapabilities, string(c))
			}
			for _, c := range caps.Drop {
				sc.Capabilities.DropCapabilities = append(sc.Capabilities.DropCapabilities, string(c))
			}
		}
	}
	return sc
}
