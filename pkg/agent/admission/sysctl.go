package admission

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/component-helpers/node/util/sysctl"
)

// ReasonSysctlForbidden is the kubelet's reason for a pod whose sysctls
// the node does not allow.
const ReasonSysctlForbidden = "SysctlForbidden"

// SafeSysctls are the sysctls every node allows, upstream's safe set:
// namespaced by the kernel (so a pod's value stays in its own
// namespaces) and isolated (no effect on other pods). The newer ones need
// a kernel this project requires anyway (5.15 or later).
var SafeSysctls = []string{
	"kernel.shm_rmid_forced",
	"net.ipv4.ip_local_port_range",
	"net.ipv4.tcp_syncookies",
	"net.ipv4.ping_group_range",
	"net.ipv4.ip_unprivileged_port_start",
	"net.ipv4.ip_local_reserved_ports",
	"net.ipv4.tcp_keepalive_time",
	"net.ipv4.tcp_fin_timeout",
	"net.ipv4.tcp_keepalive_intvl",
	"net.ipv4.tcp_keepalive_probes",
	"net.ipv4.tcp_rmem",
	"net.ipv4.tcp_wmem",
}

// safeOnly allows the safe sysctls alone.
var safeOnly = func() *SysctlAllowlist {
	w, err := NewSysctlAllowlist(nil)
	if err != nil {
		panic(err) // the safe set is a constant
	}
	return w
}()

// SysctlAllowlist is the sysctls a node lets pods set: names, and
// prefixes of patterns ending in '*', each with the namespace that makes
// it safe to set for one pod.
type SysctlAllowlist struct {
	names    map[string]sysctl.Namespace
	prefixes map[string]sysctl.Namespace
}

// NewSysctlAllowlist allows the safe sysctls and the unsafe ones an
// administrator names (--allowed-unsafe-sysctls: names or patterns ending
// in '*'). A sysctl the kernel does not namespace can never be allowed:
// setting it for one pod would set it for the node.
func NewSysctlAllowlist(unsafe []string) (*SysctlAllowlist, error) {
	w := &SysctlAllowlist{names: map[string]sysctl.Namespace{}, prefixes: map[string]sysctl.Namespace{}}
	for _, s := range append(append([]string{}, SafeSysctls...), unsafe...) {
		if s == "" || strings.Count(s, "*") > 1 || strings.Contains(s, "*") && !strings.HasSuffix(s, "*") {
			return nil, fmt.Errorf("sysctl pattern %q: want a name or a prefix ending in '*'", s)
		}
		ns, nameOrPrefix, prefixed := sysctl.GetNamespace(s)
		if ns == sysctl.UnknownNamespace {
			return nil, fmt.Errorf("the sysctls %q are not known to be namespaced", nameOrPrefix)
		}
		if prefixed {
			w.prefixes[nameOrPrefix] = ns
		} else {
			w.names[nameOrPrefix] = ns
		}
	}
	return w, nil
}

// Check admits a pod whose sysctls are all allowed and live in namespaces
// the pod does not share with the host; otherwise it is rejected with the
// kubelet's reason and message.
func (w *SysctlAllowlist) Check(pod *corev1.Pod) Result {
	sc := pod.Spec.SecurityContext
	if sc == nil || len(sc.Sysctls) == 0 {
		return Result{Admit: true}
	}
	if w == nil {
		w = safeOnly
	}
	for _, s := range sc.Sysctls {
		if err := w.validate(s.Name, pod.Spec.HostNetwork, pod.Spec.HostIPC); err != nil {
			return Result{Reason: ReasonSysctlForbidden, Message: fmt.Sprintf("forbidden sysctl: %v", err)}
		}
	}
	return Result{Admit: true}
}

func (w *SysctlAllowlist) validate(name string, hostNet, hostIPC bool) error {
	name = sysctl.NormalizeName(name)
	ns, found := w.names[name]
	if !found {
		for p, pns := range w.prefixes {
			if strings.HasPrefix(name, p) {
				ns, found = pns, true
				break
			}
		}
	}
	if !found {
		return fmt.Errorf("%q not allowlisted", name)
	}
	if ns == sysctl.IPCNamespace && hostIPC || ns == sysctl.NetNamespace && hostNet {
		return fmt.Errorf("%q not allowed with host %s enabled", name, ns)
	}
	return nil
}
