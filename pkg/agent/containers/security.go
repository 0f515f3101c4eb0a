package containers

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"

	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/flotilla-io/flotilla/pkg/agent/internal/podrun"
)

// effectiveSecurityContext is the container's securityContext with the
// pod's settings filled in where the container leaves them unset, as the
// kubelet merges them: the container's own value always wins.
func effectiveSecurityContext(pod *corev1.Pod, c *corev1.Container) *corev1.SecurityContext {
	sc := &corev1.SecurityContext{}
	if c.SecurityContext != nil {
		sc = c.SecurityContext.DeepCopy()
	}
	psc := pod.Spec.SecurityContext
	if psc == nil {
		return sc
	}
	if sc.RunAsUser == nil {
		sc.RunAsUser = psc.RunAsUser
	}
	if sc.RunAsGroup == nil {
		sc.RunAsGroup = psc.RunAsGroup
	}
	if sc.RunAsNonRoot == nil {
		sc.RunAsNonRoot = psc.RunAsNonRoot
	}
	if sc.SeccompProfile == nil {
		sc.SeccompProfile = psc.SeccompProfile
	}
	if sc.SELinuxOptions == nil {
		sc.SELinuxOptions = psc.SELinuxOptions
	}
	if sc.AppArmorProfile == nil {
		sc.AppArmorProfile = psc.AppArmorProfile
	}
	return sc
}

// podName is how the kubelet names a pod in its messages: NAME_NS(UID).
func podName(pod *corev1.Pod) string {
	return fmt.Sprintf("%s_%s(%s)", pod.Name, pod.Namespace, pod.UID)
}

// verifyRunAsNonRoot refuses a container that must not run as root but
// would: its runAsUser is 0, or it sets none and the image's user is root
// (or unset), or a name whose number cannot be known before it starts.
// The messages are the kubelet's.
func verifyRunAsNonRoot(pod *corev1.Pod, c *corev1.Container, sc *corev1.SecurityContext, img podrun.Image) error {
	if sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
		return nil
	}
	if sc.RunAsUser != nil {
		if *sc.RunAsUser == 0 {
			return fmt.Errorf("container's runAsUser breaks non-root policy (pod: %q, container: %s)", podName(pod), c.Name)
		}
		return nil
	}
	switch uid, name := imageUser(img); {
	case uid != nil && *uid == 0:
		return fmt.Errorf("container has runAsNonRoot and image will run as root (pod: %q, container: %s)", podName(pod), c.Name)
	case uid == nil && name != "":
		return fmt.Errorf("container has runAsNonRoot and image has non-numeric user (%s), cannot verify user is non-root (pod: %q, container: %s)", name, podName(pod), c.Name)
	}
	return nil
}

// imageUser is the user an image runs as: an image naming no user runs
// as root.
func imageUser(img podrun.Image) (*int64, string) {
	if img.UID != nil {
		return img.UID, ""
	}
	if img.Username != "" {
		return nil, img.Username
	}
	return new(int64), ""
}

// containerSecurityContext is the CRI security context of container c, as
// the kubelet builds it from the effective securityContext: users and
// groups (the pod's fsGroup and supplementalGroups added), privileges,
// capabilities, no_new_privs, seccomp, the masked and read-only /proc
// paths, and the pod's namespaces.
func (b *Builder) containerSecurityContext(pod *corev1.Pod, c *corev1.Container, img podrun.Image) (*runtimeapi.LinuxContainerSecurityContext, error) {
	sc := effectiveSecurityContext(pod, c)
	if err := verifyRunAsNonRoot(pod, c, sc, img); err != nil {
		return nil, err
	}
	out := &runtimeapi.LinuxContainerSecurityContext{NamespaceOptions: namespaceOptions(pod)}
	if sc.Privileged != nil {
		out.Privileged = *sc.Privileged
	}
	if sc.RunAsUser != nil {
		out.RunAsUser = &runtimeapi.Int64Value{Value: *sc.RunAsUser}
	} else {
		// The image's user, as the kubelet passes it on.
		if img.UID != nil {
			out.RunAsUser = &runtimeapi.Int64Value{Value: *img.UID}
		}
		out.RunAsUsername = img.Username
	}
	if sc.RunAsGroup != nil {
		out.RunAsGroup = &runtimeapi.Int64Value{Value: *sc.RunAsGroup}
	}
	if sc.ReadOnlyRootFilesystem != nil {
		out.ReadonlyRootfs = *sc.ReadOnlyRootFilesystem
	}
	if caps := sc.Capabilities; caps != nil {
		out.Capabilities = &runtimeapi.Capability{}
		for _, c := range caps.Add {
			out.Capabilities.AddCapabilities = append(out.Capabilities.AddCapabilities, string(c))
		}
		for _, c := range caps.Drop {
			out.Capabilities.DropCapabilities = append(out.Capabilities.DropCapabilities, string(c))
		}
	}
	// no_new_privs only when escalation is forbidden outright: unset means
	// allowed, as with the kubelet (validation refuses false together with
	// privileged or CAP_SYS_ADMIN).
	if sc.AllowPrivilegeEscalation != nil {
		out.NoNewPrivs = !*sc.AllowPrivilegeEscalation
	}
	if psc := pod.Spec.SecurityContext; psc != nil {
		if psc.FSGroup != nil {
			out.SupplementalGroups = append(out.SupplementalGroups, *psc.FSGroup)
		}
		out.SupplementalGroups = append(out.SupplementalGroups, psc.SupplementalGroups...)
		if p, err := groupsPolicy(psc.SupplementalGroupsPolicy); err != nil {
			return nil, err
		} else {
			out.SupplementalGroupsPolicy = p
		}
	}
	seccomp, err := b.seccompProfile(sc.SeccompProfile)
	if err != nil {
		return nil, err
	}
	out.Seccomp = seccomp
	out.MaskedPaths, out.ReadonlyPaths = procPaths(sc.ProcMount)
	if o := sc.SELinuxOptions; o != nil {
		out.SelinuxOptions = &runtimeapi.SELinuxOption{User: o.User, Role: o.Role, Type: o.Type, Level: o.Level}
	}
	return out, nil
}

// groupsPolicy is the CRI form of supplementalGroupsPolicy: Merge (the
// default) adds the groups /etc/group gives the user in the image, Strict
// only those the pod names.
func groupsPolicy(p *corev1.SupplementalGroupsPolicy) (runtimeapi.SupplementalGroupsPolicy, error) {
	if p == nil {
		return runtimeapi.SupplementalGroupsPolicy_Merge, nil
	}
	v, ok := runtimeapi.SupplementalGroupsPolicy_value[string(*p)]
	if !ok {
		return 0, fmt.Errorf("unsupported supplementalGroupsPolicy: %s", *p)
	}
	return runtimeapi.SupplementalGroupsPolicy(v), nil
}

// seccompDir is where Localhost seccomp profiles are read from: the
// agent's counterpart of the kubelet's ROOT-DIR/seccomp.
func (b *Builder) seccompDir() string { return filepath.Join(b.cfg.DataDir, "seccomp") }

// seccompProfile is the CRI seccomp profile of a securityContext's
// seccompProfile. None set is Unconfined, the kubelet's default without
// --seccomp-default; a Localhost profile is a file under seccompDir.
func (b *Builder) seccompProfile(p *corev1.SeccompProfile) (*runtimeapi.SecurityProfile, error) {
	if p == nil {
		return &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Unconfined}, nil
	}
	switch p.Type {
	case corev1.SeccompProfileTypeRuntimeDefault:
		return &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_RuntimeDefault}, nil
	case corev1.SeccompProfileTypeLocalhost:
		if p.LocalhostProfile == nil || *p.LocalhostProfile == "" {
			return nil, fmt.Errorf("localhostProfile must be set if seccompProfile type is Localhost.")
		}
		return &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Localhost, LocalhostRef: filepath.Join(b.seccompDir(), *p.LocalhostProfile)}, nil
	}
	return &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Unconfined}, nil
}

// procPaths are the paths under /proc and /sys the runtime masks and
// makes read-only: the kubelet's defaults (Docker's) for the Default
// procMount, none for Unmasked.
func procPaths(t *corev1.ProcMountType) (masked, readOnly []string) {
	if t != nil && *t == corev1.UnmaskedProcMount {
		return []string{}, []string{}
	}
	return defaultMaskedPaths(), []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}
}

// defaultMaskedPaths hides kernel state a container has no business
// reading (and per-cpu thermal controls where the machine has them).
var defaultMaskedPaths = sync.OnceValue(func() []string {
	paths := []string{
		"/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
		"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
	}
	cpus, _ := filepath.Glob("/sys/devices/system/cpu/cpu[0-9]*/thermal_throttle")
	for _, p := range cpus {
		if _, err := os.Stat(p); err == nil {
			paths = append(paths, p)
		}
	}
	return paths
})

// sandboxSecurityContext is the CRI security context of the pod's
// sandbox, as the kubelet builds it: the pod's user and groups, its
// namespaces, privileged if any container is, and the runtime's default
// seccomp profile for the pause container.
func sandboxSecurityContext(pod *corev1.Pod) (*runtimeapi.LinuxSandboxSecurityContext, error) {
	out := &runtimeapi.LinuxSandboxSecurityContext{
		NamespaceOptions: namespaceOptions(pod),
		Privileged:       privileged(pod),
		Seccomp:          &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_RuntimeDefault},
	}
	psc := pod.Spec.SecurityContext
	if psc == nil {
		return out, nil
	}
	if psc.RunAsUser != nil {
		out.RunAsUser = &runtimeapi.Int64Value{Value: *psc.RunAsUser}
	}
	if psc.RunAsGroup != nil {
		out.RunAsGroup = &runtimeapi.Int64Value{Value: *psc.RunAsGroup}
	}
	if psc.FSGroup != nil {
		out.SupplementalGroups = append(out.SupplementalGroups, *psc.FSGroup)
	}
	out.SupplementalGroups = append(out.SupplementalGroups, psc.SupplementalGroups...)
	p, err := groupsPolicy(psc.SupplementalGroupsPolicy)
	if err != nil {
		return nil, err
	}
	out.SupplementalGroupsPolicy = p
	if o := psc.SELinuxOptions; o != nil {
		out.SelinuxOptions = &runtimeapi.SELinuxOption{User: o.User, Role: o.Role, Type: o.Type, Level: o.Level}
	}
	return out, nil
}
