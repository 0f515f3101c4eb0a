package containers

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/utils/ptr"

	"github.com/flotilla-io/flotilla/pkg/agent/internal/podrun"
)

func TestContainerSecurityContext(t *testing.T) {
	b := New(Config{DataDir: "/var/lib/flotilla"})
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "u1"},
		Spec: corev1.PodSpec{
			SecurityContext: &corev1.PodSecurityContext{
				RunAsUser: ptr.To(int64(1000)), RunAsGroup: ptr.To(int64(3000)), FSGroup: ptr.To(int64(2000)), SupplementalGroups: []int64{4000},
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			},
			HostIPC: true,
		},
	}
	c := &corev1.Container{Name: "c", SecurityContext: &corev1.SecurityContext{
		RunAsUser: ptr.To(int64(1001)), AllowPrivilegeEscalation: ptr.To(false), ReadOnlyRootFilesystem: ptr.To(true),
		Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"NET_ADMIN"}, Drop: []corev1.Capability{"ALL"}},
	}}
	sc, err := b.containerSecurityContext(pod, c, podrun.Image{})
	if err != nil {
		t.Fatal(err)
	}
	if sc.RunAsUser.GetValue() != 1001 || sc.RunAsGroup.GetValue() != 3000 {
		t.Errorf("user %v group %v: the container's user, the pod's group", sc.RunAsUser, sc.RunAsGroup)
	}
	if got := sc.SupplementalGroups; len(got) != 2 || got[0] != 2000 || got[1] != 4000 {
		t.Errorf("supplemental groups %v, want fsGroup then the pod's", got)
	}
	if !sc.NoNewPrivs || !sc.ReadonlyRootfs || sc.Privileged {
		t.Errorf("no_new_privs %v read-only %v privileged %v", sc.NoNewPrivs, sc.ReadonlyRootfs, sc.Privileged)
	}
	if sc.Capabilities.AddCapabilities[0] != "NET_ADMIN" || sc.Capabilities.DropCapabilities[0] != "ALL" {
		t.Errorf("capabilities %v", sc.Capabilities)
	}
	if sc.Seccomp.ProfileType != runtimeapi.SecurityProfile_RuntimeDefault {
		t.Errorf("seccomp %v: the pod's profile", sc.Seccomp)
	}
	if sc.NamespaceOptions.Ipc != runtimeapi.NamespaceMode_NODE {
		t.Errorf("ipc namespace %v", sc.NamespaceOptions.Ipc)
	}
	if !strings.Contains(strings.Join(sc.MaskedPaths, ","), "/proc/kcore") || !strings.Contains(strings.Join(sc.ReadonlyPaths, ","), "/proc/sys") {
		t.Errorf("masked %v read-only %v", sc.MaskedPaths, sc.ReadonlyPaths)
	}

	// Nothing set: escalation allowed, unconfined (the kubelet's default
	// without --seccomp-default), the image's user.
	plain := &corev1.Pod{ObjectMeta: pod.ObjectMeta}
	sc, err = b.containerSecurityContext(plain, &corev1.Container{Name: "c"}, podrun.Image{Username: "app"})
	if err != nil {
		t.Fatal(err)
	}
	if sc.NoNewPrivs || sc.Seccomp.ProfileType != runtimeapi.SecurityProfile_Unconfined || sc.RunAsUser != nil || sc.RunAsUsername != "app" {
		t.Errorf("defaults: %+v", sc)
	}

	// A Localhost profile is read from the agent's seccomp directory;
	// the container's profile wins over the pod's.
	local := &corev1.Container{Name: "c", SecurityContext: &corev1.SecurityContext{SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeLocalhost, LocalhostProfile: ptr.To("profiles/audit.json")}}}
	sc, err = b.containerSecurityContext(pod, local, podrun.Image{})
	if err != nil {
		t.Fatal(err)
	}
	if sc.Seccomp.ProfileType != runtimeapi.SecurityProfile_Localhost || sc.Seccomp.LocalhostRef != "/var/lib/flotilla/seccomp/profiles/audit.json" {
		t.Errorf("localhost seccomp %v", sc.Seccomp)
	}

	// Unmasked /proc: nothing masked or read-only.
	unmasked := &corev1.Container{Name: "c", SecurityContext: &corev1.SecurityContext{ProcMount: ptr.To(corev1.UnmaskedProcMount)}}
	sc, _ = b.containerSecurityContext(plain, unmasked, podrun.Image{})
	if sc.MaskedPaths == nil || len(sc.MaskedPaths) != 0 || len(sc.ReadonlyPaths) != 0 {
		t.Errorf("unmasked: masked %v read-only %v", sc.MaskedPaths, sc.ReadonlyPaths)
	}
}

func TestRunAsNonRoot(t *testing.T) {
	b := New(Config{DataDir: t.TempDir()})
	pod := func(user *int64) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "u1"},
			Spec:       corev1.PodSpec{SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true), RunAsUser: user}},
		}
	}
	c := &corev1.Container{Name: "app"}
	for _, tc := range []struct {
		name string
		pod  *corev1.Pod
		img  podrun.Image
		err  string
	}{
		{"image without a user runs as root", pod(nil), podrun.Image{}, `container has runAsNonRoot and image will run as root (pod: "web_ns(u1)", container: app)`},
		{"image user 0", pod(nil), podrun.Image{UID: ptr.To(int64(0))}, "image will run as root"},
		{"image user by name", pod(nil), podrun.Image{Username: "nginx"}, `container has runAsNonRoot and image has non-numeric user (nginx), cannot verify user is non-root (pod: "web_ns(u1)", container: app)`},
		{"runAsUser 0", pod(ptr.To(int64(0))), podrun.Image{UID: ptr.To(int64(1000))}, `container's runAsUser breaks non-root policy (pod: "web_ns(u1)", container: app)`},
		{"image user 1000", pod(nil), podrun.Image{UID: ptr.To(int64(1000))}, ""},
		{"runAsUser overrides a named image user", pod(ptr.To(int64(1000))), podrun.Image{Username: "nginx"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := b.containerSecurityContext(tc.pod, c, tc.img)
			if tc.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("err %v, want %q", err, tc.err)
			}
		})
	}
	// The container's runAsNonRoot false lets it run as root despite the pod.
	root := &corev1.Container{Name: "app", SecurityContext: &corev1.SecurityContext{RunAsNonRoot: ptr.To(false)}}
	if _, err := b.containerSecurityContext(pod(nil), root, podrun.Image{}); err != nil {
		t.Fatal(err)
	}
}

func TestSandboxSecurityContext(t *testing.T) {
	pod := &corev1.Pod{Spec: corev1.PodSpec{
		HostNetwork: true, HostPID: true,
		SecurityContext: &corev1.PodSecurityContext{RunAsUser: ptr.To(int64(1000)), RunAsGroup: ptr.To(int64(3000)), FSGroup: ptr.To(int64(2000)), SupplementalGroups: []int64{4000},
			SupplementalGroupsPolicy: ptr.To(corev1.SupplementalGroupsPolicyStrict)},
		Containers: []corev1.Container{{Name: "c", SecurityContext: &corev1.SecurityContext{Privileged: ptr.To(true)}}},
	}}
	sc, err := sandboxSecurityContext(pod)
	if err != nil {
		t.Fatal(err)
	}
	if sc.RunAsUser.GetValue() != 1000 || sc.RunAsGroup.GetValue() != 3000 || len(sc.SupplementalGroups) != 2 || !sc.Privileged ||
		sc.SupplementalGroupsPolicy != runtimeapi.SupplementalGroupsPolicy_Strict || sc.Seccomp.ProfileType != runtimeapi.SecurityProfile_RuntimeDefault ||
		sc.NamespaceOptions.Network != runtimeapi.NamespaceMode_NODE || sc.NamespaceOptions.Pid != runtimeapi.NamespaceMode_NODE {
		t.Errorf("sandbox security context %+v", sc)
	}
}
