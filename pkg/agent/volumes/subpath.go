package volumes

import (
	"bufio"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Subpaths are bind-mounted into containers the way the kubelet does it
// since CVE-2017-1002101: a container that can write to a volume could
// plant a symlink where another container's subPath points and have the
// runtime mount whatever the link names on the host (/, another pod's
// secrets). So the agent never hands the runtime a path that is resolved
// later. It opens the subPath itself, resolving every component beneath
// the volume's root (openat2 RESOLVE_BENEATH: a symlink that leaves the
// volume, absolute or by "..", fails), and bind-mounts the opened file
// through /proc/self/fd/N onto a directory of the pod's own; the runtime
// gets that mount, which no container can redirect.

// subpathsDir holds a pod's subPath bind mounts: one per container and
// volumeMount index, as the kubelet's volume-subpaths directory.
func (m *Manager) subpathsDir(uid types.UID) string {
	return filepath.Join(m.podDir(uid), "volume-subpaths")
}

// prepareSubpath makes sub of the volume at volumePath safe to mount:
// created (as directories) if missing, opened beneath the volume's root,
// and bind-mounted onto the pod's subpath directory, whose path it
// returns. Details stay in the agent's log, the user gets the kubelet's
// message, which gives nothing of the host's filesystem away.
func (m *Manager) prepareSubpath(pod *corev1.Pod, c *corev1.Container, index int, vm *corev1.VolumeMount, volumePath, sub string) (string, error) {
	target, err := m.bindSubpath(pod.UID, c.Name, index, vm.Name, volumePath, sub)
	if err != nil {
		m.log().Error("Failed to prepare subPath for volumeMount of the container", "pod", pod.Namespace+"/"+pod.Name, "container", c.Name, "volumeMount", vm.Name, "err", err)
		return "", fmt.Errorf("failed to prepare subPath for volumeMount %q of container %q", vm.Name, c.Name)
	}
	return target, nil
}

func (m *Manager) log() *slog.Logger {
	if m.cfg.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return m.cfg.Log
}

func (m *Manager) bindSubpath(uid types.UID, container string, index int, volume, volumePath, sub string) (string, error) {
	root, err := unix.Open(volumePath, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", fmt.Errorf("open volume %s: %w", volumePath, err)
	}
	defer unix.Close(root)
	fd, err := openBeneath(root, sub)
	if errors.Is(err, unix.ENOENT) {
		if err := mkdirBeneath(root, sub); err != nil {
			return "", fmt.Errorf("create subpath %s: %w", sub, err)
		}
		fd, err = openBeneath(root, sub)
	}
	if err != nil {
		return "", fmt.Errorf("open subpath %s of %s: %w", sub, volumePath, err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return "", fmt.Errorf("stat subpath %s: %w", sub, err)
	}

	target := filepath.Join(m.subpathsDir(uid), volume, container, strconv.Itoa(index))
	if err := os.MkdirAll(filepath.Dir(target), 0o750); err != nil {
		return "", err
	}
	// A mount of an earlier attempt is replaced: the subPath may name
	// something else now.
	_ = unix.Unmount(target, unix.MNT_DETACH)
	_ = os.Remove(target)
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		err = os.Mkdir(target, 0o750)
	} else {
		var f *os.File
		if f, err = os.OpenFile(target, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o640); err == nil {
			f.Close()
		}
	}
	if err != nil {
		return "", fmt.Errorf("create subpath mount point: %w", err)
	}
	src := "/proc/self/fd/" + strconv.Itoa(fd)
	if err := unix.Mount(src, target, "", unix.MS_BIND, ""); err != nil {
		_ = os.Remove(target)
		return "", fmt.Errorf("bind-mount subpath %s: %w", sub, err)
	}
	return target, nil
}

// openBeneath opens path relative to the directory root without leaving
// it: symlinks are followed only while they stay beneath root.
func openBeneath(root int, path string) (int, error) {
	return unix.Openat2(root, path, &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_MAGICLINKS,
	})
}

// mkdirBeneath creates the missing directories of path beneath root, each
// parent resolved beneath root, with the root's own permissions (so a
// group-writable fsGroup volume stays group-writable).
func mkdirBeneath(root int, path string) error {
	var rootSt unix.Stat_t
	if err := unix.Fstat(root, &rootSt); err != nil {
		return err
	}
	perm := rootSt.Mode & 0o7777
	parts := strings.Split(filepath.Clean(path), "/")
	for i, name := range parts {
		parent := root
		if i > 0 {
			fd, err := openBeneath(root, filepath.Join(parts[:i]...))
			if err != nil {
				return err
			}
			parent = fd
		}
		err := unix.Mkdirat(parent, name, perm)
		if err == nil {
			// Past the umask, as the volume's root has it.
			if fd, oerr := unix.Openat2(parent, name, &unix.OpenHow{Flags: unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC, Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS}); oerr == nil {
				err = unix.Fchmod(fd, perm)
				unix.Close(fd)
			} else {
				err = oerr
			}
		} else if errors.Is(err, unix.EEXIST) {
			err = nil
		}
		if parent != root {
			unix.Close(parent)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// mountPointsUnder lists the mount points at or below dir, from the
// process's mount table.
func mountPointsUnder(dir string) ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		p := unescapeMountPath(fields[4])
		if p == dir || strings.HasPrefix(p, dir+"/") {
			out = append(out, p)
		}
	}
	return out, sc.Err()
}

// unescapeMountPath undoes mountinfo's octal escapes (\040 for a space).
func unescapeMountPath(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
