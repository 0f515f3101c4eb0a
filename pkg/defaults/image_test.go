package defaults

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestPullPolicy(t *testing.T) {
	tests := []struct {
		image string
		want  corev1.PullPolicy
	}{
		{"nginx", corev1.PullAlways},
		{"nginx:latest", corev1.PullAlways},
		{"nginx:1.25", corev1.PullIfNotPresent},
		{"docker.io/library/nginx", corev1.PullAlways},
		{"registry.example.com:5000/team/app", corev1.PullAlways},
		{"registry.example.com:5000/team/app:v2", corev1.PullIfNotPresent},
		{"localhost/app:dev", corev1.PullIfNotPresent},
		{"nginx@sha256:" + sha, corev1.PullIfNotPresent},
		{"nginx:latest@sha256:" + sha, corev1.PullAlways},
		{"nginx:1.25@sha256:" + sha, corev1.PullIfNotPresent},
		{"nginx@sha256:abc", corev1.PullIfNotPresent},
		{"", corev1.PullIfNotPresent},
		{"NGINX", corev1.PullIfNotPresent},
		{"nginx:", corev1.PullIfNotPresent},
		{sha, corev1.PullIfNotPresent},
	}
	for _, tt := range tests {
		if got := pullPolicy(tt.image); got != tt.want {
			t.Errorf("pullPolicy(%q) = %s, want %s", tt.image, got, tt.want)
		}
	}
}
