package integration

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/flotilla-io/flotilla/pkg/server"
	"github.com/flotilla-io/flotilla/pkg/server/testserver"
)

// TestDisableAdmissionPlugins: a server started without PodSecurity
// admits a privileged pod into a namespace that enforces restricted,
// while the rest of the chain (LimitRanger here) still acts on the same
// pod; an unknown plugin name stops the server from starting.
func TestDisableAdmissionPlugins(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{DisableAdmissionPlugins: []string{"PodSecurity"}})
	cs := srv.Clientset(t)
	ctx := context.Background()
	const ns = "enforced"
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns,
		Labels: map[string]string{"pod-security.kubernetes.io/enforce": "restricted"}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	lr := &corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{Name: "lr"}, Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
		Type:    corev1.LimitTypeContainer,
		Default: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m")},
	}}}}
	if _, err := cs.CoreV1().LimitRanges(ns).Create(ctx, lr, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pods := cs.CoreV1().Pods(ns)
	// LimitRanger reads LimitRanges from its cache: dry-run until the
	// privileged pod comes back defaulted.
	if err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		p, err := pods.Create(ctx, privilegedPod("probe"), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err != nil {
			t.Fatalf("a privileged pod without PodSecurity: %v", err)
		}
		return p.Annotations["kubernetes.io/limit-ranger"] != "", nil
	}); err != nil {
		t.Fatalf("the LimitRange never reached admission: %v", err)
	}
	got, err := pods.Create(ctx, privilegedPod("x"), metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("a privileged pod in a restricted namespace without PodSecurity: %v", err)
	}
	if l := got.Spec.Containers[0].Resources.Limits[corev1.ResourceCPU]; l.String() != "500m" {
		t.Errorf("limits.cpu %q, want LimitRanger's default 500m", l.String())
	}

	cfg := server.Config{DataDir: t.TempDir(), DisableAdmissionPlugins: []string{"PodSecurityPolicy"}}
	s, err := server.Start(ctx, cfg, slog.Default())
	if err == nil {
		t.Fatalf("a server started with an unknown admission plugin disabled: %v", s.URL)
	}
	if want := `cannot disable: admission plugin "PodSecurityPolicy" is unknown (known: NamespaceLifecycle, PodPreset, `; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("unknown plugin: err = %v, want it to start with %q", err, want)
	}
}
