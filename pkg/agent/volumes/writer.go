package volumes

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// writeKeys writes the selected keys as files into dir, with mode
// defaultMode or the item's own. dir is bind-mounted into running
// containers, so it is never replaced: like the kubelet's atomic writer,
// the files live in a timestamped subdirectory that the symlink "..data"
// points to, each visible name is a symlink through "..data", and an
// update swaps "..data" in one rename — a reader sees the old set or the
// new one, never a mix, and every container of the pod sees the update.
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
