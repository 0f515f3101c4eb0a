package volumes

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

type objects map[string]map[string][]byte // "configmap/NAME" or "secret/NAME"

func (o objects) ConfigMapData(_ context.Context, _, name string, _ *bool) (map[string][]byte, bool, error) {
	d, ok := o["configmap/"+name]
	return d, ok, nil
}

func (o objects) SecretData(_ context.Context, _, name string, _ *bool) (map[string][]byte, bool, error) {
	d, ok := o["secret/"+name]
	return d, ok, nil
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A container's mounts: each volume prepared under the pod's directory,
// API-backed ones read-only, subPath and subPathExpr inside the volume;
// Cleanup removes the pod's directory.
func TestMounts(t *testing.T) {
	dataDir, host := t.TempDir(), t.TempDir()
	m := New(Config{DataDir: dataDir, NodeName: "n1", Client: fake.NewSimpleClientset(), Log: slog.New(slog.DiscardHandler),
		Objects: objects{"configmap/cfg": {"a": []byte("1")}, "secret/s": {"token": []byte("t0p")}},
		Allocatable: func() corev1.ResourceList {
			return corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")}
		},
	})
	dirType := corev1.HostPathDirectory
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "uid-1", Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "c", VolumeMounts: []corev1.VolumeMount{
				{Name: "scratch", MountPath: "/scratch", SubPathExpr: "$(POD)"},
				{Name: "cfg", MountPath: "/cfg"},
				{Name: "s", MountPath: "/s"},
				{Name: "info", MountPath: "/info"},
				{Name: "host", MountPath: "/host", ReadOnly: true},
			}}},
			Volumes: []corev1.Volume{
				{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
				{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}},
				{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "s"}}},
				{Name: "info", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []corev1.DownwardAPIVolumeFile{
					{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}},
					{Path: "mem", ResourceFieldRef: &corev1.ResourceFieldSelector{ContainerName: "c", Resource: "limits.memory", Divisor: resource.MustParse("1Mi")}},
				}}}},
				{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: host, Type: &dirType}}},
			},
		},
	}
	mounts, err := m.Mounts(context.Background(), pod, &pod.Spec.Containers[0], map[string]string{"POD": "p"})
	if err != nil {
		t.Fatal(err)
	}
	podDir := filepath.Join(dataDir, "pods", "uid-1")
	want := map[string]struct {
		host     string
		readOnly bool
	}{
		// A subPath is mounted through the pod's own bind mount of it.
		"/scratch": {filepath.Join(podDir, "volume-subpaths", "scratch", "c", "0"), false},
		"/cfg":     {filepath.Join(podDir, "volumes", "configmap", "cfg"), true},
		"/s":       {filepath.Join(podDir, "volumes", "secret", "s"), true},
		"/info":    {filepath.Join(podDir, "volumes", "downward-api", "info"), true},
		"/host":    {host, true},
	}
	if len(mounts) != len(want) {
		t.Fatalf("mounts %v", mounts)
	}
	for _, mt := range mounts {
		w := want[mt.ContainerPath]
		if mt.HostPath != w.host || mt.Readonly != w.readOnly {
			t.Errorf("%s: host %s readonly %v, want %s %v", mt.ContainerPath, mt.HostPath, mt.Readonly, w.host, w.readOnly)
		}
	}
	if fi, err := os.Stat(filepath.Join(podDir, "volumes", "empty-dir", "scratch", "p")); err != nil || !fi.IsDir() {
		t.Errorf("subPathExpr directory: %v %v", fi, err)
	}
	if got := read(t, filepath.Join(want["/cfg"].host, "a")); got != "1" {
		t.Errorf("configmap key a = %q", got)
	}
	if got := read(t, filepath.Join(want["/s"].host, "token")); got != "t0p" {
		t.Errorf("secret key token = %q", got)
	}
	if got := read(t, filepath.Join(want["/info"].host, "labels")); got != `app="web"` {
		t.Errorf("labels = %q", got)
	}
	if got := read(t, filepath.Join(want["/info"].host, "mem")); got != "1024" {
		t.Errorf("memory limit from the allocatable = %q", got)
	}

	// A missing volume and a subPath leaving the volume are errors.
	bad := &corev1.Container{Name: "c", VolumeMounts: []corev1.VolumeMount{{Name: "nope", MountPath: "/x"}}}
	if _, err := m.Mounts(context.Background(), pod, bad, nil); err == nil || !strings.Contains(err.Error(), `volume "nope" not found`) {
		t.Errorf("missing volume: %v", err)
	}
	escape := &corev1.Container{Name: "c", VolumeMounts: []corev1.VolumeMount{{Name: "scratch", MountPath: "/x", SubPath: "../../etc"}}}
	if _, err := m.Mounts(context.Background(), pod, escape, nil); err == nil {
		t.Error("a subPath with .. was accepted")
	}

	if err := m.Cleanup(pod.UID); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(podDir); !os.IsNotExist(err) {
		t.Fatalf("pod directory left after Cleanup: %v", err)
	}
	if _, err := os.Stat(host); err != nil {
		t.Fatalf("Cleanup touched a hostPath: %v", err)
	}
}

// A claim mounts its bound volume's host directory; an unbound claim is an
// error the pod waits on.
func TestClaimPath(t *testing.T) {
	dir := t.TempDir()
	cs := fake.NewSimpleClientset(
		&corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "bound", Namespace: "ns"}, Spec: corev1.PersistentVolumeClaimSpec{VolumeName: "pv1"}, Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound}},
		&corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "pending", Namespace: "ns"}, Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending}},
		&corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pv1"}, Spec: corev1.PersistentVolumeSpec{PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: dir}}}},
	)
	m := New(Config{DataDir: t.TempDir(), NodeName: "n1", Client: cs})
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "u"}}
	path, ro, err := m.claimPath(context.Background(), pod, &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "bound", ReadOnly: true})
	if err != nil || path != dir || !ro {
		t.Fatalf("bound claim: %q %v %v", path, ro, err)
	}
	if _, _, err := m.claimPath(context.Background(), pod, &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "pending"}); err == nil || !strings.Contains(err.Error(), "is not bound yet") {
		t.Fatalf("pending claim: %v", err)
	}
}
