package volumes

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
)

// A projected service account token is requested bound to the pod with
// the volume's audience and lifetime, and renewed once 80 % of the
// lifetime the API granted has passed, or after a day: the kubelet's
// token manager's schedule, observed on a fake clock.
func TestTokenRenewal(t *testing.T) {
	for _, tc := range []struct {
		name                string
		seconds             int64
		stillValid, renewed time.Duration
	}{
		{"10 minutes", 600, 479 * time.Second, 481 * time.Second},
		{"kube-api-access", 3607, 2885 * time.Second, 2886 * time.Second},
		{"two days", 2 * 24 * 3600, 23*time.Hour + 59*time.Minute, 24*time.Hour + time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
			client := fake.NewSimpleClientset()
			var requests []*authenticationv1.TokenRequest
			client.PrependReactor("create", "serviceaccounts", func(a clienttesting.Action) (bool, runtime.Object, error) {
				if a.GetSubresource() != "token" {
					return false, nil, nil
				}
				tr := a.(clienttesting.CreateAction).GetObject().(*authenticationv1.TokenRequest).DeepCopy()
				requests = append(requests, tr.DeepCopy())
				tr.Status.Token = fmt.Sprintf("token-%d", len(requests))
				tr.Status.ExpirationTimestamp = metav1.NewTime(now.Add(time.Duration(*tr.Spec.ExpirationSeconds) * time.Second))
				return true, tr, nil
			})
			m := New(Config{DataDir: t.TempDir(), NodeName: "n1", Client: client, Objects: objects{}, Log: slog.New(slog.DiscardHandler)})
			m.refresh.now = func() time.Time { return now }
			secs := tc.seconds
			pod := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "pod-uid"},
				Spec: corev1.PodSpec{ServiceAccountName: "app", Volumes: []corev1.Volume{{Name: "tok", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
					Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", Audience: "vault", ExpirationSeconds: &secs}}},
				}}}}},
			}
			dir, _, err := m.prepare(context.Background(), pod, &pod.Spec.Volumes[0])
			if err != nil {
				t.Fatal(err)
			}
			file := filepath.Join(dir, "token")
			if got := read(t, file); got != "token-1" {
				t.Fatalf("token file %q", got)
			}
			r := requests[0]
			if ref := r.Spec.BoundObjectRef; ref == nil || ref.Kind != "Pod" || ref.Name != "web" || ref.UID != "pod-uid" ||
				len(r.Spec.Audiences) != 1 || r.Spec.Audiences[0] != "vault" || *r.Spec.ExpirationSeconds != secs {
				t.Errorf("request %+v", r.Spec)
			}
			start := now
			// Refresh rewrites the volume (the first time it is due) from
			// the remembered token...
			now = start.Add(tc.stillValid)
			m.Refresh(context.Background(), pod)
			if got := read(t, file); got != "token-1" || len(requests) != 1 {
				t.Fatalf("at %v: token %q after %d requests, want the first still", tc.stillValid, got, len(requests))
			}
			// ...until it is time to renew (prepare: Refresh itself
			// runs at most every 10 s).
			now = start.Add(tc.renewed)
			if _, _, err := m.prepare(context.Background(), pod, &pod.Spec.Volumes[0]); err != nil {
				t.Fatal(err)
			}
			if got := read(t, file); got != "token-2" || len(requests) != 2 {
				t.Fatalf("at %v: token %q after %d requests, want a renewed one", tc.renewed, got, len(requests))
			}
		})
	}
}
