package agent

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// mountsFor prepares the volumes a container mounts on the host and
// returns the mounts. emptyDir, hostPath, configMap and secret are served.
func (a *Agent) mountsFor(ctx context.Context, pod *corev1.Pod, c *corev1.Container) ([]*runtimeapi.Mount, error) {
	var out []*runtimeapi.Mount
	for _, vm := range c.VolumeMounts {
		var vol *corev1.Volume
		for i := range pod.Spec.Volumes {
			if pod.Spec.Volumes[i].Name == vm.Name {
				vol = &pod.Spec.Volumes[i]
			}
		}
		if vol == nil {
			return nil, fmt.Errorf("volume %q not found", vm.Name)
		}
		host, readOnly, err := a.prepareVolume(ctx, pod, vol)
		if err != nil {
			return nil, fmt.Errorf("volume %q: %w", vol.Name, err)
		}
		if vm.SubPath != "" {
			if strings.Contains(vm.SubPath, "..") || filepath.IsAbs(vm.SubPath) {
				return nil, fmt.Errorf("subPath %q must be a relative path without ..", vm.SubPath)
			}
			host = filepath.Join(host, vm.SubPath)
			if _, err := os.Stat(host); os.IsNotExist(err) {
				if err := os.MkdirAll(host, 0o755); err != nil {
					return nil, err
				}
			}
		}
		out = append(out, &runtimeapi.Mount{ContainerPath: vm.MountPath, HostPath: host, Readonly: vm.ReadOnly || readOnly})
	}
	return out, nil
}

func (a *Agent) prepareVolume(ctx context.Context, pod *corev1.Pod, v *corev1.Volume) (string, bool, error) {
	base := filepath.Join(a.podDir(pod), "volumes")
	switch {
	case v.EmptyDir != nil:
		dir := filepath.Join(base, "empty-dir", v.Name)
		if err := os.MkdirAll(dir, 0o777); err != nil {
			return "", false, err
		}
		_ = os.Chmod(dir, 0o777)
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
	case v.ConfigMap != nil:
		cm, err := a.cs.CoreV1().ConfigMaps(pod.Namespace).Get(ctx, v.ConfigMap.Name, metav1.GetOptions{})
		if err != nil {
			if v.ConfigMap.Optional != nil && *v.ConfigMap.Optional {
				cm = &corev1.ConfigMap{}
			} else {
				return "", false, fmt.Errorf("configmap %q not found", v.ConfigMap.Name)
			}
		}
		data := map[string][]byte{}
		for k, s := range cm.Data {
			data[k] = []byte(s)
		}
		for k, b := range cm.BinaryData {
			data[k] = b
		}
		dir := filepath.Join(base, "configmap", v.Name)
		return dir, true, writeKeys(dir, data, v.ConfigMap.Items, v.ConfigMap.DefaultMode)
	case v.Secret != nil:
		s, err := a.cs.CoreV1().Secrets(pod.Namespace).Get(ctx, v.Secret.SecretName, metav1.GetOptions{})
		if err != nil {
			if v.Secret.Optional != nil && *v.Secret.Optional {
				s = &corev1.Secret{}
			} else {
				return "", false, fmt.Errorf("secret %q not found", v.Secret.SecretName)
			}
		}
		dir := filepath.Join(base, "secret", v.Name)
		return dir, true, writeKeys(dir, s.Data, v.Secret.Items, v.Secret.DefaultMode)
	}
	return "", false, fmt.Errorf("this volume type is not supported by the agent yet")
}

// writeKeys writes the selected keys as files into dir (replacing what
// was there), with mode defaultMode or the item's own.
func writeKeys(dir string, data map[string][]byte, items []corev1.KeyToPath, defaultMode *int32) error {
	mode := os.FileMode(0o644)
	if defaultMode != nil {
		mode = os.FileMode(*defaultMode)
	}
	tmp := dir + ".new"
	_ = os.RemoveAll(tmp)
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return err
	}
	write := func(path string, b []byte, m os.FileMode) error {
		full := filepath.Join(tmp, filepath.Clean("/"+path))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return err
		}
		return os.WriteFile(full, b, m)
	}
	if len(items) == 0 {
		for k, b := range data {
			if err := write(k, b, mode); err != nil {
				return err
			}
		}
	} else {
		for _, it := range items {
			b, ok := data[it.Key]
			if !ok {
				return fmt.Errorf("key %q not found", it.Key)
			}
			m := mode
			if it.Mode != nil {
				m = os.FileMode(*it.Mode)
			}
			if err := write(it.Path, b, m); err != nil {
				return err
			}
		}
	}
	_ = os.RemoveAll(dir)
	return os.Rename(tmp, dir)
}

func checkHostPath(hp *corev1.HostPathVolumeSource) error {
	t := corev1.HostPathUnset
	if hp.Type != nil {
		t = *hp.Type
	}
	fi, err := os.Stat(hp.Path)
	switch t {
	case corev1.HostPathDirectoryOrCreate:
		if os.IsNotExist(err) {
			return os.MkdirAll(hp.Path, 0o755)
		}
	case corev1.HostPathFileOrCreate:
		if os.IsNotExist(err) {
			if err := os.MkdirAll(filepath.Dir(hp.Path), 0o755); err != nil {
				return err
			}
			return os.WriteFile(hp.Path, nil, 0o644)
		}
	case corev1.HostPathDirectory:
		if err != nil || !fi.IsDir() {
			return fmt.Errorf("hostPath type check failed: %s is not a directory", hp.Path)
		}
	case corev1.HostPathFile:
		if err != nil || !fi.Mode().IsRegular() {
			return fmt.Errorf("hostPath type check failed: %s is not a file", hp.Path)
		}
	case corev1.HostPathSocket:
		if err != nil || fi.Mode()&os.ModeSocket == 0 {
			return fmt.Errorf("hostPath type check failed: %s is not a socket file", hp.Path)
		}
	case corev1.HostPathCharDev:
		if err != nil || fi.Mode()&os.ModeCharDevice == 0 {
			return fmt.Errorf("hostPath type check failed: %s is not a character device", hp.Path)
		}
	case corev1.HostPathBlockDev:
		if err != nil || fi.Mode()&os.ModeDevice == 0 || fi.Mode()&os.ModeCharDevice != 0 {
			return fmt.Errorf("hostPath type check failed: %s is not a block device", hp.Path)
		}
	}
	return nil
}

func isMountPoint(dir string) bool {
	var st, parent syscall.Stat_t
	if syscall.Stat(dir, &st) != nil || syscall.Stat(filepath.Dir(dir), &parent) != nil {
		return false
	}
	return st.Dev != parent.Dev
}

// cleanupPodDir unmounts memory-backed volumes and removes the pod's
// directory once its containers are gone.
func (a *Agent) cleanupPodDir(pod *corev1.Pod) {
	dir := filepath.Join(a.podDir(pod), "volumes", "empty-dir")
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		if isMountPoint(p) {
			_ = syscall.Unmount(p, 0)
		}
	}
	_ = os.RemoveAll(a.podDir(pod))
}
