package containers

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func TestRuntimeHandler(t *testing.T) {
	b := New(Config{RuntimeClasses: fake.NewSimpleClientset(&nodev1.RuntimeClass{ObjectMeta: metav1.ObjectMeta{Name: "sandboxed"}, Handler: "test-handler"}).NodeV1()})
	pod := func(class string) *corev1.Pod {
		p := &corev1.Pod{}
		if class != "" {
			p.Spec.RuntimeClassName = &class
		}
		return p
	}
	ctx := context.Background()
	if h, err := b.RuntimeHandler(ctx, pod("")); h != "" || err != nil {
		t.Errorf("no class: got %q, %v; want the default handler", h, err)
	}
	if h, err := b.RuntimeHandler(ctx, pod("sandboxed")); h != "test-handler" || err != nil {
		t.Errorf("class sandboxed: got %q, %v; want test-handler", h, err)
	}
	if _, err := b.RuntimeHandler(ctx, pod("gone")); err == nil || !strings.Contains(err.Error(), `RuntimeClass "gone" not found`) {
		t.Errorf("missing class: got %v, want not found", err)
	}
}
