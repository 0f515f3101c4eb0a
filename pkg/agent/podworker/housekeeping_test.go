package podworker

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	listersv1 "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/flotilla-io/flotilla/pkg/agent/internal/podrun"
	"github.com/flotilla-io/flotilla/pkg/agent/volumes"
)

// One housekeeping round removes what belongs to no pod of the node (a
// sandbox, a directory with logs, restart back-offs, an address lease
// older than the grace) and keeps what a live pod holds; a finished pod
// loses its volumes but keeps its directory.
func TestHousekeepingRemovesOrphans(t *testing.T) {
	ctx := context.Background()
	live := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "live", Namespace: "ns", UID: "uid-live"}, Status: corev1.PodStatus{Phase: corev1.PodRunning}}
	done := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "done", Namespace: "ns", UID: "uid-done"}, Status: corev1.PodStatus{Phase: corev1.PodSucceeded}}
	rt := newCRIState()
	w := testWorker(t, rt)
	idx := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	for _, p := range []*corev1.Pod{live, done} {
		if err := idx.Add(p); err != nil {
			t.Fatal(err)
		}
	}
	w.pods = listersv1.NewPodLister(idx)
	var got Housekeeping
	w.housekept = func(h Housekeeping) { got = h }

	sandbox := func(name, uid string) string {
		resp, err := rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: &runtimeapi.PodSandboxConfig{
			Metadata: &runtimeapi.PodSandboxMetadata{Name: name, Namespace: "ns", Uid: uid},
			Labels:   map[string]string{podrun.LabelPodName: name, podrun.LabelPodNamespace: "ns", podrun.LabelPodUID: uid}}})
		if err != nil {
			t.Fatal(err)
		}
		return resp.PodSandboxId
	}
	liveSB, goneSB := sandbox("live", "uid-live"), sandbox("gone", "uid-gone")
	dataDir := t.TempDir()
	w.volumes = volumes.New(volumes.Config{DataDir: dataDir})
	for _, uid := range []string{"uid-live", "uid-gone", "uid-done"} {
		if err := os.MkdirAll(filepath.Join(dataDir, "pods", uid, "volumes", "secret", "s"), 0o755); err != nil {
			t.Fatal(err)
		}
		name := uid[len("uid-"):]
		if err := os.MkdirAll(filepath.Join(dataDir, "logs", "ns_"+name+"_"+uid, "c"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, uid := range []string{"uid-live", "uid-gone"} {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "x", UID: types.UID(uid)}}
		w.backoffs.mayRestart(p, "c", &runtimeapi.ContainerStatus{FinishedAt: time.Now().UnixNano()}, podrun.New())
	}
	leases := filepath.Join(dataDir, "networks")
	w.leases = leases
	writeLease := func(ip, sb string, age time.Duration) string {
		p := filepath.Join(leases, "flotilla", ip)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(sb+"\neth0"), 0o644); err != nil {
			t.Fatal(err)
		}
		at := time.Now().Add(-age)
		if err := os.Chtimes(p, at, at); err != nil {
			t.Fatal(err)
		}
		return p
	}
	liveLease := writeLease("10.42.0.2", liveSB, time.Hour)
	orphanLease := writeLease("10.42.0.3", "sb-removed-long-ago", time.Hour)
	freshLease := writeLease("10.42.0.4", "sb-being-created", 0)

	w.housekeep(ctx)

	if _, ok := rt.sandboxes[liveSB]; !ok {
		t.Error("the live pod's sandbox was removed")
	}
	if _, ok := rt.sandboxes[goneSB]; ok {
		t.Error("the orphaned sandbox is still there")
	}
	exists := func(p string) bool { _, err := os.Lstat(p); return err == nil }
	for p, want := range map[string]bool{
		filepath.Join(dataDir, "pods", "uid-live", "volumes"): true,
		filepath.Join(dataDir, "logs", "ns_live_uid-live"):    true,
		filepath.Join(dataDir, "pods", "uid-gone"):            false,
		filepath.Join(dataDir, "logs", "ns_gone_uid-gone"):    false,
		filepath.Join(dataDir, "pods", "uid-done"):            true,
		filepath.Join(dataDir, "pods", "uid-done", "volumes"): false,
		filepath.Join(dataDir, "logs", "ns_done_uid-done"):    true,
		liveLease:   true,
		orphanLease: false,
		freshLease:  true,
	} {
		if exists(p) != want {
			t.Errorf("%s exists = %v, want %v", p, !want, want)
		}
	}
	if n := w.backoffs.PodCount(); n != 1 {
		t.Errorf("restart back-offs of %d pods, want 1 (the live one)", n)
	}
	want := map[string]int{"sandboxes": 1, "pod_directories": 1, "finished_pod_volumes": 1, "address_leases": 1, "restart_backoff": 1}
	for k, v := range want {
		if got.Removed[k] != v {
			t.Errorf("removed[%s] = %d, want %d (all: %v)", k, got.Removed[k], v, got.Removed)
		}
	}
}
