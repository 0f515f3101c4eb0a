package volumes

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
	"k8s.io/apimachinery/pkg/types"
)

// What a pod leaves on disk: DATA-DIR/pods/UID (volumes, subPath mounts,
// hosts file, termination messages) and DATA-DIR/logs/NS_NAME_UID (its
// containers' logs). Both go when the pod goes, as upstream's kubelet
// removes orphaned pod directories and the logs of deleted pods.

// PodsOnDisk lists the pods that have a directory or logs on disk.
func (m *Manager) PodsOnDisk() ([]types.UID, error) {
	seen := map[types.UID]bool{}
	dirs, err := os.ReadDir(filepath.Join(m.cfg.DataDir, "pods"))
	if err != nil && !os.IsNotExist(err) {
		return nil, fmt.Errorf("list pod directories: %w", err)
	}
	for _, d := range dirs {
		seen[types.UID(d.Name())] = true
	}
	logs, err := os.ReadDir(m.logsRoot())
	if err != nil && !os.IsNotExist(err) {
		return nil, fmt.Errorf("list pod logs: %w", err)
	}
	for _, d := range logs {
		if uid := logDirUID(d.Name()); uid != "" {
			seen[uid] = true
		}
	}
	out := make([]types.UID, 0, len(seen))
	for uid := range seen {
		out = append(out, uid)
	}
	return out, nil
}

func (m *Manager) logsRoot() string { return filepath.Join(m.cfg.DataDir, "logs") }

// logDirUID is the pod UID a log directory name (NS_NAME_UID) ends with;
// namespaces and names hold no '_', UIDs none either.
func logDirUID(name string) types.UID {
	parts := strings.Split(name, "_")
	if len(parts) != 3 || parts[2] == "" {
		return ""
	}
	return types.UID(parts[2])
}

// Cleanup removes everything a pod left on disk once its containers are
// gone: every mount beneath its directory (subPath binds, memory-backed
// emptyDirs) is detached, deepest first, then the directory and the
// pod's logs are removed. Nothing is removed while a mount remains: the
// removal would reach through it into what it shows.
func (m *Manager) Cleanup(uid types.UID) error {
	if err := m.removeTree(m.podDir(uid)); err != nil {
		return err
	}
	logs, err := os.ReadDir(m.logsRoot())
	if err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("list pod logs: %w", err)
	}
	var errs []error
	for _, d := range logs {
		if logDirUID(d.Name()) == uid {
			if err := m.removeTree(filepath.Join(m.logsRoot(), d.Name())); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// podVolumeDirs are the subdirectories of a pod's directory that hold
// its volumes: what TeardownVolumes removes and VolumesRemoved checks.
var podVolumeDirs = []string{"volume-subpaths", "volumes"}

// TeardownVolumes unmounts and removes the volumes of a pod that reached
// a terminal phase (Secret and ConfigMap files, tokens, emptyDirs), as the
// kubelet tears down a finished pod's volumes; the pod's directory and
// logs stay until the pod is deleted. It reports whether there was
// anything to remove.
func (m *Manager) TeardownVolumes(uid types.UID) (bool, error) {
	var found bool
	for _, sub := range podVolumeDirs {
		p := filepath.Join(m.podDir(uid), sub)
		if _, err := os.Lstat(p); err != nil {
			continue
		}
		found = true
		if err := m.removeTree(p); err != nil {
			return found, err
		}
	}
	return found, nil
}

// VolumesRemoved reports whether nothing of the pod's volumes is left on
// the node (TeardownVolumes or Cleanup has run, or it had none).
func (m *Manager) VolumesRemoved(uid types.UID) bool {
	for _, sub := range podVolumeDirs {
		if _, err := os.Lstat(filepath.Join(m.podDir(uid), sub)); !errors.Is(err, fs.ErrNotExist) {
			return false
		}
	}
	return true
}

// removeTree detaches the mounts at and below dir, checks that none is
// left, and removes dir. A dir that is a symlink is removed as a link,
// never followed; os.RemoveAll does not follow the links beneath it.
func (m *Manager) removeTree(dir string) error {
	fi, err := os.Lstat(dir)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode()&os.ModeSymlink != 0 {
		return os.Remove(dir)
	}
	// mountinfo names the absolute, resolved path.
	real, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if r, err := filepath.EvalSymlinks(real); err == nil {
		real = r
	}
	if !strings.HasPrefix(real, m.resolvedDataDir()+"/") {
		return fmt.Errorf("%s resolves to %s, outside the data directory: not removed", dir, real)
	}
	mounts, err := mountPointsUnder(real)
	if err != nil {
		return err
	}
	slices.SortFunc(mounts, func(a, b string) int { return len(b) - len(a) })
	for _, p := range mounts {
		if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("unmount %s: %w", p, err)
		}
	}
	if left, err := mountPointsUnder(real); err != nil || len(left) > 0 {
		return fmt.Errorf("%s kept: mounts remain beneath it %v (%v)", dir, left, err)
	}
	if err := os.RemoveAll(real); err != nil {
		return fmt.Errorf("remove %s: %w", dir, err)
	}
	return nil
}

// resolvedDataDir is the data directory with its symlinks resolved.
func (m *Manager) resolvedDataDir() string {
	d, err := filepath.Abs(m.cfg.DataDir)
	if err != nil {
		return m.cfg.DataDir
	}
	if r, err := filepath.EvalSymlinks(d); err == nil {
		return r
	}
	return d
}
