package agent

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/flotilla-io/flotilla/pkg/agent/internal/downward"
	"github.com/flotilla-io/flotilla/pkg/agent/internal/expansion"
)

// mountsFor prepares the volumes a container mounts on the host and
// returns the mounts. emptyDir, hostPath, configMap and secret are served.
// mountsFor prepares the volumes container c mounts. vars are its
// environment, for subPathExpr.
func (a *Agent) mountsFor(ctx context.Context, pod *corev1.Pod, c *corev1.Container, vars map[string]string) ([]*runtimeapi.Mount, error) {
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
		sub := vm.SubPath
		if vm.SubPathExpr != "" {
			sub = expansion.Expand(vm.SubPathExpr, vars)
		}
		if sub != "" {
			if slices.Contains(strings.Split(filepath.ToSlash(sub), "/"), "..") || filepath.IsAbs(sub) {
				return nil, fmt.Errorf("subPath %q must be a relative path without ..", sub)
			}
			host = filepath.Join(host, sub)
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
		return a.claimPath(ctx, pod, v.PersistentVolumeClaim)
	case v.ConfigMap != nil:
		data, _, err := a.objects.ConfigMapData(ctx, pod.Namespace, v.ConfigMap.Name, v.ConfigMap.Optional)
		if err != nil {
			return "", false, err
		}
		dir := filepath.Join(base, "configmap", v.Name)
		return dir, true, writeKeys(dir, data, v.ConfigMap.Items, v.ConfigMap.DefaultMode, fsGroup(pod))
	case v.Secret != nil:
		data, _, err := a.objects.SecretData(ctx, pod.Namespace, v.Secret.SecretName, v.Secret.Optional)
		if err != nil {
			return "", false, err
		}
		dir := filepath.Join(base, "secret", v.Name)
		return dir, true, writeKeys(dir, data, v.Secret.Items, v.Secret.DefaultMode, fsGroup(pod))
	case v.DownwardAPI != nil:
		data, err := downward.Files(pod, v.DownwardAPI.Items, a.allocatable())
		if err != nil {
			return "", false, err
		}
		dir := filepath.Join(base, "downward-api", v.Name)
		return dir, true, writeKeys(dir, data, downward.Keys(v.DownwardAPI.Items), v.DownwardAPI.DefaultMode, fsGroup(pod))
	case v.Projected != nil:
		data, items, err := a.projectedData(ctx, pod, v.Projected)
		if err != nil {
			return "", false, err
		}
		dir := filepath.Join(base, "projected", v.Name)
		return dir, true, writeKeys(dir, data, items, v.Projected.DefaultMode, fsGroup(pod))
	}
	return "", false, fmt.Errorf("this volume type is not supported by the agent yet")
}

// projectedData merges a projected volume's sources into one key space.
// Service-account tokens need the token API, which is not served yet.
func (a *Agent) projectedData(ctx context.Context, pod *corev1.Pod, p *corev1.ProjectedVolumeSource) (map[string][]byte, []corev1.KeyToPath, error) {
	data := map[string][]byte{}
	var items []corev1.KeyToPath
	add := func(prefix string, src map[string][]byte, sel []corev1.KeyToPath) error {
		if len(sel) == 0 {
			for k := range src {
				sel = append(sel, corev1.KeyToPath{Key: k, Path: k})
			}
		}
		for _, it := range sel {
			b, ok := src[it.Key]
			if !ok {
				return fmt.Errorf("key %q not found", it.Key)
			}
			key := prefix + "/" + it.Key
			data[key] = b
			items = append(items, corev1.KeyToPath{Key: key, Path: it.Path, Mode: it.Mode})
		}
		return nil
	}
	for i, src := range p.Sources {
		prefix := fmt.Sprint(i)
		switch {
		case src.ConfigMap != nil:
			m, found, err := a.objects.ConfigMapData(ctx, pod.Namespace, src.ConfigMap.Name, src.ConfigMap.Optional)
			if err != nil {
				return nil, nil, err
			}
			if found {
				if err := add(prefix, m, src.ConfigMap.Items); err != nil {
					return nil, nil, err
				}
			}
		case src.Secret != nil:
			m, found, err := a.objects.SecretData(ctx, pod.Namespace, src.Secret.Name, src.Secret.Optional)
			if err != nil {
				return nil, nil, err
			}
			if found {
				if err := add(prefix, m, src.Secret.Items); err != nil {
					return nil, nil, err
				}
			}
		case src.DownwardAPI != nil:
			m, err := downward.Files(pod, src.DownwardAPI.Items, a.allocatable())
			if err != nil {
				return nil, nil, err
			}
			var sel []corev1.KeyToPath
			for _, it := range src.DownwardAPI.Items {
				sel = append(sel, corev1.KeyToPath{Key: it.Path, Path: it.Path, Mode: it.Mode})
			}
			if err := add(prefix, m, sel); err != nil {
				return nil, nil, err
			}
		case src.ServiceAccountToken != nil:
			key := string(pod.UID) + "/" + prefix + "/" + src.ServiceAccountToken.Path + "/" + src.ServiceAccountToken.Audience
			token, ok := a.volumes.token(key, time.Now())
			if !ok {
				var err error
				if token, err = a.serviceAccountToken(ctx, pod, src.ServiceAccountToken); err != nil {
					return nil, nil, err
				}
				ttl := time.Hour
				if e := src.ServiceAccountToken.ExpirationSeconds; e != nil {
					ttl = time.Duration(*e) * time.Second
				}
				a.volumes.keep(key, token, ttl, time.Now())
			}
			if err := add(prefix, map[string][]byte{"token": token}, []corev1.KeyToPath{{Key: "token", Path: src.ServiceAccountToken.Path}}); err != nil {
				return nil, nil, err
			}
		}
	}
	return data, items, nil
}

// serviceAccountToken asks the API for a token of the pod's service
// account, bound to the pod so it dies with it.
func (a *Agent) serviceAccountToken(ctx context.Context, pod *corev1.Pod, p *corev1.ServiceAccountTokenProjection) ([]byte, error) {
	sa := pod.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		ExpirationSeconds: p.ExpirationSeconds,
		BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
	}}
	if p.Audience != "" {
		req.Spec.Audiences = []string{p.Audience}
	}
	tr, err := a.cs.CoreV1().ServiceAccounts(pod.Namespace).CreateToken(ctx, sa, req, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("token for service account %q: %w", sa, err)
	}
	return []byte(tr.Status.Token), nil
}

// writeKeys writes the selected keys as files into dir, with mode
// defaultMode or the item's own. dir is bind-mounted into running
// containers, so it is never replaced: like the kubelet's atomic writer,
// the files live in a timestamped subdirectory that the symlink "..data"
// points to, each visible name is a symlink through "..data", and an
// update swaps "..data" in one rename — a reader sees the old set or the
// new one, never a mix, and every container of the pod sees the update.
// fsGroup is the group that owns the pod's volumes, if it names one: the
// kubelet makes volume files group-accessible to it and adds it to every
// container's groups, so a non-root container can read what it mounts.
func fsGroup(pod *corev1.Pod) *int64 {
	if sc := pod.Spec.SecurityContext; sc != nil {
		return sc.FSGroup
	}
	return nil
}

// ownDirs gives the volume's directories (dir and everything under the
// new payload directory ts) to group, with setgid so new files inherit it.
func ownDirs(dir, ts string, group int64) error {
	own := func(p string) error {
		if err := os.Chown(p, -1, int(group)); err != nil {
			return err
		}
		fi, err := os.Stat(p)
		if err != nil {
			return err
		}
		return os.Chmod(p, fi.Mode().Perm()|os.ModeSetgid|0o550)
	}
	if err := own(dir); err != nil {
		return err
	}
	return filepath.WalkDir(ts, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		return own(p)
	})
}

func writeKeys(dir string, data map[string][]byte, items []corev1.KeyToPath, defaultMode *int32, group *int64) error {
	mode := os.FileMode(0o644)
	if defaultMode != nil {
		mode = os.FileMode(*defaultMode)
	}
	type file struct {
		b []byte
		m os.FileMode
	}
	files := map[string]file{}
	if len(items) == 0 {
		for k, b := range data {
			files[k] = file{b, mode}
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
			files[it.Path] = file{b, m}
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	dataLink := filepath.Join(dir, "..data")
	old, _ := os.Readlink(dataLink)
	ts, err := os.MkdirTemp(dir, ".."+time.Now().UTC().Format("2006_01_02_15_04_05."))
	if err != nil {
		return err
	}
	if err := os.Chmod(ts, 0o755); err != nil {
		return err
	}
	top := map[string]bool{}
	for path, f := range files {
		rel := strings.TrimPrefix(filepath.Clean("/"+path), "/")
		full := filepath.Join(ts, rel)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(full, f.b, f.m); err != nil {
			return err
		}
		if err := os.Chmod(full, f.m); err != nil {
			return err
		}
		if group != nil {
			// Read-only volume files are group-readable by fsGroup.
			if err := os.Chown(full, -1, int(*group)); err != nil {
				return err
			}
			if err := os.Chmod(full, f.m|0o440); err != nil {
				return err
			}
		}
		first, _, _ := strings.Cut(rel, "/")
		top[first] = true
	}
	if group != nil {
		if err := ownDirs(dir, ts, *group); err != nil {
			return err
		}
	}
	tmpLink := filepath.Join(dir, "..data_tmp")
	_ = os.Remove(tmpLink)
	if err := os.Symlink(filepath.Base(ts), tmpLink); err != nil {
		return err
	}
	if err := os.Rename(tmpLink, dataLink); err != nil {
		return err
	}
	// Visible names point through ..data; names no longer present go.
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, "..") {
			continue
		}
		if !top[name] {
			_ = os.Remove(filepath.Join(dir, name))
		}
	}
	for name := range top {
		link := filepath.Join(dir, name)
		if target, err := os.Readlink(link); err == nil && target == filepath.Join("..data", name) {
			continue
		}
		_ = os.RemoveAll(link)
		if err := os.Symlink(filepath.Join("..data", name), link); err != nil {
			return err
		}
	}
	if old != "" && old != filepath.Base(ts) {
		_ = os.RemoveAll(filepath.Join(dir, old))
	}
	return nil
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
