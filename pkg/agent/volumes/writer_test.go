package volumes

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// Updates swap the content under a directory that stays the same inode,
// so containers that bind-mounted it see the new files.
func TestWriteKeysUpdatesInPlace(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "vol")
	ino := func() uint64 {
		var st syscall.Stat_t
		if err := syscall.Stat(dir, &st); err != nil {
			t.Fatal(err)
		}
		return st.Ino
	}
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return "<" + err.Error() + ">"
		}
		return string(b)
	}
	if err := writeKeys(dir, map[string][]byte{"a": []byte("1"), "b": []byte("2")}, nil, nil, nil); err != nil {
		t.Fatal(err)
	}
	first := ino()
	if read("a") != "1" || read("b") != "2" {
		t.Fatalf("first write: a=%q b=%q", read("a"), read("b"))
	}
	mode := int32(0o600)
	items := []corev1.KeyToPath{{Key: "a", Path: "sub/renamed", Mode: &mode}}
	if err := writeKeys(dir, map[string][]byte{"a": []byte("3"), "b": []byte("4")}, items, nil, nil); err != nil {
		t.Fatal(err)
	}
	if ino() != first {
		t.Fatal("the directory was replaced; bind mounts would go stale")
	}
	if read("sub/renamed") != "3" {
		t.Fatalf("renamed = %q", read("sub/renamed"))
	}
	if _, err := os.Lstat(filepath.Join(dir, "b")); !os.IsNotExist(err) {
		t.Fatalf("stale key b still visible: %v", err)
	}
	fi, err := os.Stat(filepath.Join(dir, "sub", "renamed"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v %v", fi, err)
	}
	entries, _ := os.ReadDir(dir)
	var dataDirs int
	for _, e := range entries {
		if e.IsDir() && e.Name() != "sub" {
			dataDirs++
		}
	}
	if dataDirs != 1 {
		t.Fatalf("old data directories left behind: %v", entries)
	}
}

// With an fsGroup, volume files and directories belong to that group and
// are group-readable whatever their mode, as the kubelet makes them.
func TestWriteKeysFSGroup(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("chown to another group needs root (the agent runs as root; so does make test)")
	}
	dir := filepath.Join(t.TempDir(), "secret")
	mode, group := int32(0o400), int64(1001)
	if err := writeKeys(dir, map[string][]byte{"data-1": []byte("value-1")}, []corev1.KeyToPath{{Key: "data-1", Path: "nested/data-1"}}, &mode, &group); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{dir, filepath.Join(dir, "nested"), filepath.Join(dir, "nested", "data-1")} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if st.Gid != uint32(group) {
			t.Errorf("%s: group %d, want %d", p, st.Gid, group)
		}
		if fi.IsDir() && (fi.Mode()&os.ModeSetgid == 0 || fi.Mode().Perm()&0o050 != 0o050) {
			t.Errorf("%s: directory mode %v, want setgid and group r-x", p, fi.Mode())
		}
		if !fi.IsDir() && fi.Mode().Perm() != 0o440 {
			t.Errorf("%s: file mode %v, want 0440 (0400 plus group read)", p, fi.Mode().Perm())
		}
	}
}
