package admission

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestSysctlAllowlist(t *testing.T) {
	withUnsafe, err := NewSysctlAllowlist([]string{"kernel.msg*", "net.core.somaxconn"})
	if err != nil {
		t.Fatal(err)
	}
	pod := func(hostNet bool, names ...string) *corev1.Pod {
		p := &corev1.Pod{Spec: corev1.PodSpec{HostNetwork: hostNet, SecurityContext: &corev1.PodSecurityContext{}}}
		for _, n := range names {
			p.Spec.SecurityContext.Sysctls = append(p.Spec.SecurityContext.Sysctls, corev1.Sysctl{Name: n, Value: "1"})
		}
		return p
	}
	for _, tc := range []struct {
		name string
		w    *SysctlAllowlist
		pod  *corev1.Pod
		msg  string // "" = admitted
	}{
		{"safe", nil, pod(false, "kernel.shm_rmid_forced", "net/ipv4/ip_local_port_range"), ""},
		{"unsafe by default", nil, pod(false, "kernel.shm_rmid_forced", "kernel.msgmax"), `forbidden sysctl: "kernel.msgmax" not allowlisted`},
		{"unsafe allowed by pattern", withUnsafe, pod(false, "kernel.msgmax"), ""},
		{"unsafe allowed by name", withUnsafe, pod(false, "net.core.somaxconn"), ""},
		{"net sysctl with host network", nil, pod(true, "net.ipv4.tcp_syncookies"), `forbidden sysctl: "net.ipv4.tcp_syncookies" not allowed with host Net enabled`},
		{"no sysctls", nil, pod(false), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := tc.w.Check(tc.pod)
			if tc.msg == "" {
				if !res.Admit {
					t.Fatalf("rejected: %+v", res)
				}
				return
			}
			if res.Admit || res.Reason != ReasonSysctlForbidden || res.Message != tc.msg {
				t.Fatalf("got %+v, want %s: %s", res, ReasonSysctlForbidden, tc.msg)
			}
		})
	}
	// A sysctl the kernel does not namespace can never be allowed.
	if _, err := NewSysctlAllowlist([]string{"vm.swappiness"}); err == nil {
		t.Fatal("vm.swappiness allowed")
	}
}
