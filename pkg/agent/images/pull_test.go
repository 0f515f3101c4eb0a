package images

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"google.golang.org/grpc"
	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// fakeImages has the images in present; pulls succeed only with the
// credentials in accept ("" = anonymous).
type fakeImages struct {
	present map[string]bool
	accept  string
	pulls   []string // the usernames tried, in order
}

func (f *fakeImages) ImageStatus(_ context.Context, in *runtimeapi.ImageStatusRequest, _ ...grpc.CallOption) (*runtimeapi.ImageStatusResponse, error) {
	if f.present[in.Image.Image] {
		return &runtimeapi.ImageStatusResponse{Image: &runtimeapi.Image{Id: "sha256:local", Uid: &runtimeapi.Int64Value{Value: 1000}}}, nil
	}
	if in.Image.Image == "sha256:pulled" {
		return &runtimeapi.ImageStatusResponse{Image: &runtimeapi.Image{Id: "sha256:pulled", Username: "app"}}, nil
	}
	return &runtimeapi.ImageStatusResponse{}, nil
}

func (f *fakeImages) PullImage(_ context.Context, in *runtimeapi.PullImageRequest, _ ...grpc.CallOption) (*runtimeapi.PullImageResponse, error) {
	user := in.Auth.GetUsername()
	f.pulls = append(f.pulls, user)
	if user != f.accept {
		return nil, errors.New("unauthorized")
	}
	return &runtimeapi.PullImageResponse{ImageRef: "sha256:pulled"}, nil
}

type secrets map[string]map[string][]byte

func (s secrets) SecretData(_ context.Context, _, name string, _ *bool) (map[string][]byte, bool, error) {
	d, ok := s[name]
	return d, ok, nil
}

func TestEnsure(t *testing.T) {
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	pod := &corev1.Pod{Spec: corev1.PodSpec{ImagePullSecrets: []corev1.LocalObjectReference{{Name: "missing"}, {Name: "regcred"}}}}
	creds := secrets{"regcred": {corev1.DockerConfigJsonKey: []byte(`{"auths":{"r.example:5000":{"username":"u","password":"p"}}}`)}}
	for _, tc := range []struct {
		name    string
		image   string
		policy  corev1.PullPolicy
		present bool
		accept  string
		want    string
		pulls   []string
		err     string
	}{
		{name: "present, IfNotPresent", image: "r.example:5000/app", policy: corev1.PullIfNotPresent, present: true, want: "sha256:local"},
		{name: "present, Always pulls", image: "r.example:5000/app", policy: corev1.PullAlways, present: true, accept: "u", want: "sha256:pulled", pulls: []string{"u"}},
		{name: "Always, registry refuses: no fallback to the local copy", image: "r.example:5000/app", policy: corev1.PullAlways, present: true, accept: "nobody", pulls: []string{"u", ""}, err: "unauthorized"},
		{name: "missing, credentials then anonymous", image: "r.example:5000/app", policy: corev1.PullIfNotPresent, accept: "", want: "sha256:pulled", pulls: []string{"u", ""}},
		{name: "missing, other registry: anonymous only", image: "other.example/app", policy: corev1.PullIfNotPresent, accept: "", want: "sha256:pulled", pulls: []string{""}},
		{name: "Never and missing", image: "r.example:5000/app", policy: corev1.PullNever, err: "is not present with pull policy of Never"},
		{name: "built in busybox is never pulled", image: "busybox", policy: corev1.PullAlways, present: true, want: "sha256:local"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rt := &fakeImages{present: map[string]bool{normalizeImage(tc.image): tc.present}, accept: tc.accept}
			got, err := NewPuller(rt, creds, nopEvents{}, log).Ensure(ctx, pod, &corev1.Container{Image: tc.image, ImagePullPolicy: tc.policy})
			if tc.err != "" {
				if strings.Join(rt.pulls, ",") != strings.Join(tc.pulls, ",") {
					t.Fatalf("pulls with %q, want %q", rt.pulls, tc.pulls)
				}
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || got.Ref != tc.want {
				t.Fatalf("got %q, %v; want %q", got.Ref, err, tc.want)
			}
			if strings.Join(rt.pulls, ",") != strings.Join(tc.pulls, ",") {
				t.Fatalf("pulls with %q, want %q", rt.pulls, tc.pulls)
			}
			// The user comes from the image's config, the pulled one's
			// when it was pulled.
			if tc.want == "sha256:local" && (got.UID == nil || *got.UID != 1000) || tc.want == "sha256:pulled" && got.Username != "app" {
				t.Fatalf("image user %v %q", got.UID, got.Username)
			}
		})
	}
}
