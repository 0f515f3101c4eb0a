package scheduler

import (
	"testing"

	v1 "k8s.io/api/core/v1"
)

func TestNormalizeImage(t *testing.T) {
	cases := map[string]string{
		"nginx":                        "docker.io/library/nginx:latest",
		"nginx:1.25":                   "docker.io/library/nginx:1.25",
		"user/app":                     "docker.io/user/app:latest",
		"ghcr.io/x/y:v1":               "ghcr.io/x/y:v1",
		"localhost:5000/app":           "localhost:5000/app:latest",
		"registry.local/app@sha256:ab": "registry.local/app@sha256:ab",
	}
	for in, want := range cases {
		if got := normalizeImage(in); got != want {
			t.Errorf("%s → %s, want %s", in, got, want)
		}
	}
}

func TestImageLocality(t *testing.T) {
	const mb = 1024 * 1024
	withImage := node("has", nil, "1", "1Gi")
	withImage.Status.Images = []v1.ContainerImage{{Names: []string{"docker.io/library/big:1"}, SizeBytes: 500 * mb}, {Names: []string{"tiny:1"}, SizeBytes: 1 * mb}}
	without := node("lacks", nil, "1", "1Gi")
	snap := NewSnapshot([]*v1.Node{withImage, without}, nil)
	ix := newImageIndex(snap)
	p := pod("p", "", "")
	p.Spec.Containers[0].Image = "big:1"
	if has, lacks := imageLocality(p, ix, snap.Node("has")), imageLocality(p, ix, snap.Node("lacks")); has <= lacks || lacks != 0 {
		t.Fatalf("has %d, lacks %d", has, lacks)
	}
	p.Spec.Containers[0].Image = "tiny:1"
	if got := imageLocality(p, ix, snap.Node("has")); got != 0 {
		t.Fatalf("an image under the threshold scores %d", got)
	}
}
