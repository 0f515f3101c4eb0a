package agent

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
	if err := writeKeys(dir, map[string][]byte{"a": []byte("1"), "b": []byte("2")}, nil, nil); err != nil {
		t.Fatal(err)
	}
	first := ino()
	if read("a") != "1" || read("b") != "2" {
		t.Fatalf("first write: a=%q b=%q", read("a"), read("b"))
	}
	mode := int32(0o600)
	items := []corev1.KeyToPath{{Key: "a", Path: "sub/renamed", Mode: &mode}}
	if err := writeKeys(dir, map[string][]byte{"a": []byte("3"), "b": []byte("4")}, items, nil); err != nil {
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
