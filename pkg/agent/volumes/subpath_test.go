package volumes

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// A subPath is opened beneath its volume: links inside the volume are
// followed, links leading out are refused with the kubelet's message, and
// what is mounted is the opened file, bind-mounted in the pod's directory.
func TestSubpathStaysInVolume(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("bind mounts need root (run as root)")
	}
	dataDir := t.TempDir()
	m := New(Config{DataDir: dataDir})
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "uid-subpath"}}
	t.Cleanup(func() { _ = m.Cleanup(pod.UID) })
	vol := t.TempDir()
	secret := t.TempDir()
	if err := os.WriteFile(filepath.Join(secret, "key"), []byte("host secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(vol, "data"), 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(vol, "data", "f"), []byte("in volume"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, target := range map[string]string{"root": "/", "abs": secret, "up": "../../../../../../../../" + secret, "inside": "data"} {
		if err := os.Symlink(target, filepath.Join(vol, name)); err != nil {
			t.Fatal(err)
		}
	}
	c := &corev1.Container{Name: "c"}
	for i, sub := range []string{"root", "abs/key", "up", "data/../root"} {
		vm := &corev1.VolumeMount{Name: "v", SubPath: sub}
		_, err := m.prepareSubpath(pod, c, i, vm, vol, sub)
		if err == nil || err.Error() != `failed to prepare subPath for volumeMount "v" of container "c"` {
			t.Fatalf("subPath %q: err %v", sub, err)
		}
	}
	vm := &corev1.VolumeMount{Name: "v", SubPath: "inside"}
	got, err := m.prepareSubpath(pod, c, 7, vm, vol, "inside")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(got, m.subpathsDir(pod.UID)) {
		t.Fatalf("mounted at %s, want under the pod's subpath directory", got)
	}
	if b, err := os.ReadFile(filepath.Join(got, "f")); err != nil || string(b) != "in volume" {
		t.Fatalf("read through the mount: %q %v", b, err)
	}
	// A missing subPath is created in the volume, never through a link.
	if _, err := m.prepareSubpath(pod, c, 8, vm, vol, "new/dir"); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(vol, "new", "dir")); err != nil || !fi.IsDir() {
		t.Fatalf("subPath not created: %v", err)
	}
	if _, err := m.prepareSubpath(pod, c, 9, vm, vol, "abs/evil"); err == nil {
		t.Fatal("created a directory through a link leaving the volume")
	}
	if _, err := os.Stat(filepath.Join(secret, "evil")); !os.IsNotExist(err) {
		t.Fatalf("directory made outside the volume: %v", err)
	}
	// Cleanup unmounts before it removes: the volume's files survive.
	if err := m.Cleanup(pod.UID); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(vol, "data", "f")); err != nil {
		t.Fatalf("cleanup removed the volume's files: %v", err)
	}
	if _, err := os.Stat(m.podDir(pod.UID)); !os.IsNotExist(err) {
		t.Fatalf("pod directory left: %v", err)
	}
}
