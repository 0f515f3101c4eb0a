package containers

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/flotilla-io/flotilla/pkg/agent/internal/podrun"
)

type objects map[string]map[string][]byte

func (o objects) ConfigMapData(_ context.Context, _, name string, _ *bool) (map[string][]byte, bool, error) {
	d, ok := o[name]
	return d, ok, nil
}

func (o objects) SecretData(context.Context, string, string, *bool) (map[string][]byte, bool, error) {
	return nil, false, nil
}

// mounter records the variables it was given and mounts nothing.
type mounter struct{ vars map[string]string }

func (m *mounter) Mounts(_ context.Context, _ *corev1.Pod, _ *corev1.Container, vars map[string]string) ([]*runtimeapi.Mount, error) {
	m.vars = vars
	return []*runtimeapi.Mount{{ContainerPath: "/data", HostPath: "/somewhere"}}, nil
}

func TestContainer(t *testing.T) {
	dataDir := t.TempDir()
	vols := &mounter{}
	b := New(Config{DataDir: dataDir, NodeIP: "192.0.2.1", Objects: objects{"cfg": {"MODE": []byte("fast")}}, Volumes: vols,
		Allocatable: func() corev1.ResourceList {
			return corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("8Gi")}
		}})
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "uid-1"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "c", Image: "busybox", Command: []string{"sh", "-c"}, Args: []string{"echo $(MODE) $(CPUS) $$(MODE)"},
			TerminationMessagePath: "/dev/termination-log",
			EnvFrom:                []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}},
			Env: []corev1.EnvVar{
				{Name: "CPUS", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.cpu"}}},
				{Name: "MEM", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.memory", Divisor: resource.MustParse("1Gi")}}},
				{Name: "IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}},
				{Name: "HOST", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.hostIP"}}},
				{Name: "GREETING", Value: "hi $(MODE)"},
			},
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m")}, Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")}},
		}}},
	}
	run := podrun.New()
	run.PodIP = "10.42.0.7"
	cfg, err := b.Container(context.Background(), pod, &pod.Spec.Containers[0], run, 2, podrun.Image{Ref: "sha256:busybox"})
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, kv := range cfg.Envs {
		env[kv.Key] = string(kv.Value)
	}
	// limits.memory is the container's own (64Mi in GiB, rounded up).
	for k, want := range map[string]string{"MODE": "fast", "CPUS": "4", "MEM": "1", "IP": "10.42.0.7", "HOST": "192.0.2.1", "GREETING": "hi fast"} {
		if env[k] != want {
			t.Errorf("env %s = %q, want %q", k, env[k], want)
		}
	}
	if cfg.Args[0] != "echo fast 4 $(MODE)" || vols.vars["CPUS"] != "4" {
		t.Errorf("args %q, mount vars %v", cfg.Args, vols.vars)
	}
	if cfg.Metadata.Name != "c" || cfg.Metadata.Attempt != 2 || cfg.Image.Image != "sha256:busybox" || cfg.Image.UserSpecifiedImage != "busybox" ||
		cfg.LogPath != filepath.Join("c", "2.log") || cfg.Labels[podrun.LabelPodUID] != "uid-1" || cfg.Annotations["io.kubernetes.container.restartCount"] != "2" {
		t.Errorf("config %+v", cfg)
	}
	if r := cfg.Linux.Resources; r.CpuShares != 512 || r.MemoryLimitInBytes != 64<<20 || r.CpuQuota != 0 {
		t.Errorf("resources %+v", r)
	}
	paths := map[string]bool{}
	for _, m := range cfg.Mounts {
		paths[m.ContainerPath] = true
	}
	if !paths["/data"] || !paths["/etc/hosts"] || !paths["/dev/termination-log"] || len(cfg.Mounts) != 3 {
		t.Errorf("mounts %v", cfg.Mounts)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "logs", "ns_web_uid-1", "c")); err != nil {
		t.Errorf("log directory: %v", err)
	}
}

func TestSandbox(t *testing.T) {
	b := New(Config{DataDir: "/data", ClusterDNS: []string{"10.43.0.10"}, ResolvConf: writeResolvConf(t, "nameserver 192.0.2.53\n")})
	share := true
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "uid-1", Annotations: map[string]string{"a": "b"}},
		Spec: corev1.PodSpec{
			ShareProcessNamespace: &share,
			SecurityContext:       &corev1.PodSecurityContext{Sysctls: []corev1.Sysctl{{Name: "net.core.somaxconn", Value: "1024"}}},
			Containers:            []corev1.Container{{Name: "c", Ports: []corev1.ContainerPort{{ContainerPort: 80, HostPort: 8080, Protocol: corev1.ProtocolUDP}, {ContainerPort: 81}}}},
		},
	}
	cfg, err := b.Sandbox(pod, 3)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Metadata.Attempt != 3 || cfg.Hostname != "web" || cfg.LogDirectory != "/data/logs/ns_web_uid-1" || cfg.Labels[podrun.LabelPodName] != "web" || cfg.Annotations["a"] != "b" {
		t.Errorf("sandbox %+v", cfg)
	}
	if ns := cfg.Linux.SecurityContext.NamespaceOptions; ns.Pid != runtimeapi.NamespaceMode_POD || ns.Network != runtimeapi.NamespaceMode_POD {
		t.Errorf("namespaces %+v", ns)
	}
	if cfg.Linux.Sysctls["net.core.somaxconn"] != "1024" {
		t.Errorf("sysctls %v", cfg.Linux.Sysctls)
	}
	if len(cfg.PortMappings) != 1 || cfg.PortMappings[0].HostPort != 8080 || cfg.PortMappings[0].Protocol != runtimeapi.Protocol_UDP {
		t.Errorf("port mappings %v", cfg.PortMappings)
	}
	pod.Spec.HostNetwork = true
	if cfg, _ := b.Sandbox(pod, 0); cfg.Hostname != "" || cfg.Linux.SecurityContext.NamespaceOptions.Network != runtimeapi.NamespaceMode_NODE {
		t.Errorf("host network sandbox %+v", cfg)
	}
}
