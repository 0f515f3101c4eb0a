package integration

import (
	"context"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flotilla-io/flotilla/pkg/server/testserver"
)

// Services can be listed by spec.clusterIP and spec.type, as upstream
// serves them: kube-proxy watches Services with spec.clusterIP!=None.
func TestServiceFieldSelectors(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{})
	svcs := srv.Clientset(t).CoreV1().Services("default")
	ctx := context.Background()
	for _, s := range []*corev1.Service{
		service("plain", "", "", 0),
		service("headless", "", corev1.ClusterIPNone, 0),
		service("np", corev1.ServiceTypeNodePort, "", 0),
	} {
		if _, err := svcs.Create(ctx, s, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	names := func(selector string) []string {
		t.Helper()
		l, err := svcs.List(ctx, metav1.ListOptions{FieldSelector: selector})
		if err != nil {
			t.Fatalf("list %s: %v", selector, err)
		}
		var out []string
		for _, s := range l.Items {
			out = append(out, s.Name)
		}
		slices.Sort(out)
		return out
	}
	if got, want := names("spec.clusterIP!=None"), []string{"kubernetes", "np", "plain"}; !slices.Equal(got, want) {
		t.Errorf("spec.clusterIP!=None: %v, want %v", got, want)
	}
	if got, want := names("spec.clusterIP=None"), []string{"headless"}; !slices.Equal(got, want) {
		t.Errorf("spec.clusterIP=None: %v, want %v", got, want)
	}
	if got, want := names("spec.type=NodePort"), []string{"np"}; !slices.Equal(got, want) {
		t.Errorf("spec.type=NodePort: %v, want %v", got, want)
	}
	// A watch with the selector works as kube-proxy's informer uses it.
	w, err := svcs.Watch(ctx, metav1.ListOptions{FieldSelector: "spec.clusterIP!=None"})
	if err != nil {
		t.Fatalf("watch: %v", err)
	}
	w.Stop()
}
