package volumes

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/flotilla-io/flotilla/pkg/agent/internal/downward"
	"github.com/flotilla-io/flotilla/pkg/agent/internal/expansion"
	"github.com/flotilla-io/flotilla/pkg/agent/internal/podrun"
)

// Objects reads the ConfigMaps and Secrets volumes project: the data,
// and found false for a missing optional object.
type Objects interface {
	ConfigMapData(ctx context.Context, ns, name string, optional *bool) (data map[string][]byte, found bool, err error)
	SecretData(ctx context.Context, ns, name string, optional *bool) (data map[string][]byte, found bool, err error)
}

// Config is what a Manager needs.
type Config struct {
	DataDir  string // the agent's data directory; pods' files go under DATA-DIR/pods
	NodeName string
	// Client reads PersistentVolumeClaims, PersistentVolumes and the node,
	// and requests service account tokens.
	Client  kubernetes.Interface
	Objects Objects
	// Allocatable is the node's allocatable, for resourceFieldRefs of
	// limits a container leaves unset.
	Allocatable func() corev1.ResourceList
	Log         *slog.Logger
}

// Manager prepares and refreshes the volumes of one node's pods.
type Manager struct {
	cfg     Config
	refresh refresher
}

// New is a Manager of cfg.
func New(cfg Config) *Manager { return &Manager{cfg: cfg} }

func (m *Manager) podDir(uid types.UID) string { return podrun.PodDir(m.cfg.DataDir, uid) }

// Mounts prepares the volumes container c mounts on the host and returns
// the mounts. vars are its environment, for subPathExpr.
func (m *Manager) Mounts(ctx context.Context, pod *corev1.Pod, c *corev1.Container, vars map[string]string) ([]*runtimeapi.Mount, error) {
	var out []*runtimeapi.Mount
	for i := range c.VolumeMounts {
		vm := &c.VolumeMounts[i]
		var vol *corev1.Volume
		for i := range pod.Spec.Volumes {
			if pod.Spec.Volumes[i].Name == vm.Name {
				vol = &pod.Spec.Volumes[i]
			}
		}
		if vol == nil {
			return nil, fmt.Errorf("volume %q not found", vm.Name)
		}
		host, readOnly, err := m.prepare(ctx, pod, vol)
		if err != nil {
			return nil, fmt.Errorf("volume %q: %w", vol.Name, err)
		}
		sub := vm.SubPath
		if vm.SubPathExpr != "" {
			sub = expansion.Expand(vm.SubPathExpr, vars)
		}
		if sub != "" {
			if filepath.IsAbs(sub) {
				return nil, fmt.Errorf("error SubPath `%s` must not be an absolute path", sub)
			}
			if slices.Contains(strings.Split(filepath.ToSlash(sub), "/"), "..") {
				return nil, fmt.Errorf("unable to provision SubPath `%s`: must not contain '..'", sub)
			}
			if host, err = m.prepareSubpath(pod, c, i, vm, host, sub); err != nil {
				return nil, err
			}
		}
		out = append(out, &runtimeapi.Mount{ContainerPath: vm.MountPath, HostPath: host, Readonly: vm.ReadOnly || readOnly})
	}
	return out, nil
}

func (m *Manager) prepare(ctx context.Context, pod *corev1.Pod, v *corev1.Volume) (string, bool, error) {
	base := filepath.Join(m.podDir(pod.UID), "volumes")
	switch {
	case v.EmptyDir != nil:
		dir := filepath.Join(base, "empty-dir", v.Name)
		if err := os.MkdirAll(dir, 0o777); err != nil {
			return "", false, err
		}
		_ = os.Chmod(dir, 0o777)
		if g := fsGroup(pod); g != nil {
			if err := os.Chown(dir, -1, int(*g)); err != nil {
				return "", false, err
			}
			if err := os.Chmod(dir, os.ModeSetgid|0o777); err != nil {
				return "", false, err
			}
		}
		if v.EmptyDir.Medium == corev1.StorageMediumMemory && !isMountPoint(dir) {
			opts := "mode=0777"
			if v.EmptyDir.SizeLimit != nil {
				opts += fmt.Sprintf(",size=%d", v.EmptyDir.SizeLimit.Value())
			}
			if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, opts); err != nil {
				return "", false, fmt.Errorf("mount tmpfs: %w", err)
			}
		}
		return dir, false, nil
	case v.HostPath != nil:
		return v.HostPath.Path, false, checkHostPath(v.HostPath)
	case v.PersistentVolumeClaim != nil:
		return m.claimPath(ctx, pod, v.PersistentVolumeClaim)
	case v.ConfigMap != nil:
		data, _, err := m.cfg.Objects.ConfigMapData(ctx, pod.Namespace, v.ConfigMap.Name, v.ConfigMap.Optional)
		if err != nil {
			return "", false, err
		}
		dir := filepath.Join(base, "configmap", v.Name)
		return dir, true, writeKeys(dir, data, v.ConfigMap.Items, v.ConfigMap.DefaultMode, fsGroup(pod))
	case v.Secret != nil:
		data, _, err := m.cfg.Objects.SecretData(ctx, pod.Namespace, v.Secret.SecretName, v.Secret.Optional)
		if err != nil {
			return "", false, err
		}
		dir := filepath.Join(base, "secret", v.Name)
		return dir, true, writeKeys(dir, data, v.Secret.Items, v.Secret.DefaultMode, fsGroup(pod))
	case v.DownwardAPI != nil:
		data, err := downward.Files(pod, v.DownwardAPI.Items, m.cfg.Allocatable())
		if err != nil {
			return "", false, err
		}
		dir := filepath.Join(base, "downward-api", v.Name)
		return dir, true, writeKeys(dir, data, downward.Keys(v.DownwardAPI.Items), v.DownwardAPI.DefaultMode, fsGroup(pod))
	case v.Projected != nil:
		data, items, err := m.projectedData(ctx, pod, v.Projected)
		if err != nil {
			return "", false, err
		}
		dir := filepath.Join(base, "projected", v.Name)
		return dir, true, writeKeys(dir, data, items, v.Projected.DefaultMode, fsGroup(pod))
	}
	return "", false, fmt.Errorf("this volume type is not supported by the agent yet")
}

// fsGroup is the group that owns the pod's volumes, if it names one: the
// kubelet makes volume files group-accessible to it and adds it to every
// container's groups, so a non-root container can read what it mounts.
func fsGroup(pod *corev1.Pod) *int64 {
	if sc := pod.Spec.SecurityContext; sc != nil {
		return sc.FSGroup
	}
	return nil
}
