package staticpods

import (
	"context"
	"log/slog"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

// A static pod gets a mirror owned by its Node; a stale mirror is
// replaced, an API pod of the same name that is no mirror is left alone.
func TestMirrors(t *testing.T) {
	ctx := context.Background()
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", UID: "node-uid"}}
	cs := fake.NewSimpleClientset(node)
	m := NewMirrors(cs, "n1", slog.New(slog.DiscardHandler))
	pods, errs := parseManifest([]byte(staticWeb), sourceFile, "/m/web.yaml", "n1")
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	static := pods[0]
	if err := m.Ensure(ctx, static, nil); err != nil {
		t.Fatal(err)
	}
	mirror, err := cs.CoreV1().Pods("default").Get(ctx, "web-n1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !MirrorOf(mirror, static) || mirror.Annotations[annConfigSource] != "file" || mirror.Labels["app"] != "web" ||
		len(mirror.OwnerReferences) != 1 || mirror.OwnerReferences[0].UID != "node-uid" || mirror.Spec.Containers[0].Image != "busybox" {
		t.Fatalf("mirror %+v", mirror.ObjectMeta)
	}
	if err := m.Ensure(ctx, static, mirror); err != nil {
		t.Fatal(err)
	}
	// An edited manifest: the old mirror goes, a new one comes.
	edited := static.DeepCopy()
	edited.UID = "hash-2"
	if err := m.Ensure(ctx, edited, mirror); err != nil {
		t.Fatal(err)
	}
	if got, err := cs.CoreV1().Pods("default").Get(ctx, "web-n1", metav1.GetOptions{}); err != nil || !MirrorOf(got, edited) {
		t.Fatalf("after the edit: %v, %v", got.Annotations, err)
	}
	// Not a mirror: neither replaced nor deleted.
	plain := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-n1", Namespace: "other", UID: "user-pod"}}
	if _, err := cs.CoreV1().Pods("other").Create(ctx, plain, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	other := static.DeepCopy()
	other.Namespace = "other"
	if err := m.Ensure(ctx, other, plain); err != nil {
		t.Fatal(err)
	}
	if err := m.Delete(ctx, plain); err != nil {
		t.Fatal(err)
	}
	if got, err := cs.CoreV1().Pods("other").Get(ctx, "web-n1", metav1.GetOptions{}); err != nil || got.UID != "user-pod" {
		t.Fatalf("the user's pod: %v, %v", got, err)
	}
	if err := m.Delete(ctx, mirror); err != nil {
		t.Fatal(err)
	}
}

func TestStaticOf(t *testing.T) {
	var table Table
	sp := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-n1", Namespace: "default", UID: "hash-1"}}
	table.set(sourceFile, map[string]*corev1.Pod{"default/web-n1": sp})
	mirror := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-n1", Namespace: "default", UID: "api", Annotations: map[string]string{corev1.MirrorPodAnnotationKey: "hash-1"}}}
	if table.StaticOf(mirror) != sp {
		t.Fatal("a mirror does not stand for its static pod")
	}
	stale := mirror.DeepCopy()
	stale.Annotations[corev1.MirrorPodAnnotationKey] = "hash-0"
	if table.StaticOf(stale) != stale {
		t.Fatal("a stale mirror stands for the current static pod")
	}
	if plain := (&corev1.Pod{}); table.StaticOf(plain) != plain {
		t.Fatal("a plain pod was mapped")
	}
}
