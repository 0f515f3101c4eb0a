package stream

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flotilla-io/flotilla/pkg/agent/internal/podrun"
)

// static maps every mirror to one static pod.
type static struct{ pod *corev1.Pod }

func (s static) StaticOf(pod *corev1.Pod) *corev1.Pod {
	if pod.Annotations[corev1.MirrorPodAnnotationKey] != "" {
		return s.pod
	}
	return pod
}

// Logs come from the CRI log files of the pod (a mirror's from its static
// pod's), the newest attempt or with previous=true the one before.
func TestServeLog(t *testing.T) {
	dataDir := t.TempDir()
	staticPod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-n1", Namespace: "ns", UID: "hash-1"},
		Spec: corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "c"}}}}
	mirror := staticPod.DeepCopy()
	mirror.UID = "api-uid"
	mirror.Annotations = map[string]string{corev1.MirrorPodAnnotationKey: "hash-1"}
	dir := filepath.Join(podrun.LogDir(dataDir, staticPod), "c")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{
		"0.log": "2026-01-01T00:00:00Z stdout F first run\n",
		"1.log": "2026-01-01T00:01:00Z stdout F one\n2026-01-01T00:01:01Z stderr F two\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s := New(Config{NodeName: "n1", DataDir: dataDir, Runtime: func() Runtime { return nil }, Static: static{staticPod}, Log: slog.New(slog.DiscardHandler)})
	get := func(pod *corev1.Pod, sub, query string) (*httptest.ResponseRecorder, error) {
		w := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodGet, "/x?"+query, nil)
		return w, s.ServePod(w, r, pod, sub)
	}
	if w, err := get(mirror, "log", ""); err != nil || w.Body.String() != "one\ntwo\n" {
		t.Fatalf("log: %q, %v", w.Body.String(), err)
	}
	if w, err := get(mirror, "log", "previous=true"); err != nil || w.Body.String() != "first run\n" {
		t.Fatalf("previous: %q, %v", w.Body.String(), err)
	}
	if w, err := get(mirror, "log", "tailLines=1&timestamps=true"); err != nil || w.Body.String() != "2026-01-01T00:01:01Z two\n" {
		t.Fatalf("tail: %q, %v", w.Body.String(), err)
	}
	if _, err := get(mirror, "log", "container=nope"); !apierrors.IsBadRequest(err) {
		t.Fatalf("unknown container: %v", err)
	}
	// exec needs the runtime, which is not there before the agent runs.
	req := httptest.NewRequest(http.MethodPost, "/x?command=sh&stdout=true", nil)
	req.Header.Set("Upgrade", "SPDY/3.1")
	if err := s.ServePod(httptest.NewRecorder(), req, mirror, "exec"); !apierrors.IsServiceUnavailable(err) {
		t.Fatalf("exec without a runtime: %v", err)
	}
	other := staticPod.DeepCopy()
	other.Spec.NodeName = "n2"
	if _, err := get(other, "log", ""); err == nil || !strings.Contains(err.Error(), `node agent of node "n2"`) {
		t.Fatalf("another node's pod: %v", err)
	}
}
