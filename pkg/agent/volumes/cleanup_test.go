package volumes

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/flotilla-io/flotilla/pkg/agent/internal/podrun"
)

// A pod's disk state goes whole: a memory-backed emptyDir is unmounted
// before its directory is removed, the Secret files and logs go, a
// symlink planted in a volume is removed without its target being
// touched, and a finished pod loses its volumes but keeps its directory
// and logs until Cleanup.
func TestCleanupRemovesPodDiskState(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("tmpfs mounts need root (run as root)")
	}
	dataDir := t.TempDir()
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "keep"), []byte("host file"), 0o600); err != nil {
		t.Fatal(err)
	}
	m := New(Config{DataDir: dataDir, Objects: objects{"secret/s": {"password": []byte("hunter2")}}})
	pod := func(uid types.UID) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p" + string(uid), Namespace: "ns", UID: uid}, Spec: corev1.PodSpec{Volumes: []corev1.Volume{
			{Name: "mem", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}}},
			{Name: "sec", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "s"}}},
		}}}
	}
	c := &corev1.Container{Name: "c", VolumeMounts: []corev1.VolumeMount{{Name: "mem", MountPath: "/m"}, {Name: "sec", MountPath: "/s"}, {Name: "mem", MountPath: "/sub", SubPath: "d"}}}
	prepare := func(p *corev1.Pod) string {
		t.Cleanup(func() { _ = m.Cleanup(p.UID) })
		if _, err := m.Mounts(context.Background(), p, c, nil); err != nil {
			t.Fatal(err)
		}
		mem := filepath.Join(m.podDir(p.UID), "volumes", "empty-dir", "mem")
		if !isMountPoint(mem) {
			t.Fatalf("emptyDir %s is not a tmpfs mount", mem)
		}
		// What a container could plant in its volume.
		if err := os.Symlink(outside, filepath.Join(mem, "escape")); err != nil {
			t.Fatal(err)
		}
		logs := podrun.LogDir(dataDir, p)
		if err := os.MkdirAll(filepath.Join(logs, "c"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(logs, "c", "0.log"), []byte("log line\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return logs
	}
	gone, done := pod("uid-gone"), pod("uid-done")
	goneLogs, doneLogs := prepare(gone), prepare(done)

	uids, err := m.PodsOnDisk()
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(uids)
	if want := []types.UID{"uid-done", "uid-gone"}; !slices.Equal(uids, want) {
		t.Fatalf("PodsOnDisk = %v, want %v", uids, want)
	}

	found, err := m.TeardownVolumes(done.UID)
	if err != nil || !found {
		t.Fatalf("TeardownVolumes = %v, %v", found, err)
	}
	if _, err := os.Stat(filepath.Join(m.podDir(done.UID), "volumes")); !os.IsNotExist(err) {
		t.Fatalf("finished pod's volumes left: %v", err)
	}
	if _, err := os.Stat(filepath.Join(doneLogs, "c", "0.log")); err != nil {
		t.Fatalf("finished pod's logs removed before the pod: %v", err)
	}
	if found, err := m.TeardownVolumes(done.UID); err != nil || found {
		t.Fatalf("second TeardownVolumes = %v, %v; want nothing found", found, err)
	}

	if err := m.Cleanup(gone.UID); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{m.podDir(gone.UID), goneLogs} {
		if _, err := os.Lstat(p); !os.IsNotExist(err) {
			t.Fatalf("%s left after Cleanup: %v", p, err)
		}
	}
	if left, err := mountPointsUnder(m.resolvedDataDir()); err != nil || len(left) > 0 {
		// uid-done has no mounts left either: its volumes went.
		t.Fatalf("mounts left under the data dir: %v %v", left, err)
	}
	if b, err := os.ReadFile(filepath.Join(outside, "keep")); err != nil || string(b) != "host file" {
		t.Fatalf("file behind a planted symlink touched: %q %v", b, err)
	}
	if err := m.Cleanup(done.UID); err != nil {
		t.Fatal(err)
	}
	if uids, err := m.PodsOnDisk(); err != nil || len(uids) != 0 {
		t.Fatalf("PodsOnDisk after cleanup = %v, %v", uids, err)
	}
}
