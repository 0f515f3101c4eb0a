package containers

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestPodHostname(t *testing.T) {
	long := strings.Repeat("a", 60) + "-b-" + strings.Repeat("c", 20)
	for _, tc := range []struct {
		name, hostname, want string
	}{
		{name: "web", want: "web"},
		{name: "web", hostname: "db-0", want: "db-0"},
		{name: long, want: strings.Repeat("a", 60) + "-b"},
		{name: strings.Repeat("a", 62) + "-xyz", want: strings.Repeat("a", 62)},
		{name: strings.Repeat("a", 61) + ".-xyz", want: strings.Repeat("a", 61)},
		{name: "p", hostname: strings.Repeat("h", 70), want: strings.Repeat("h", 63)},
	} {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: tc.name}, Spec: corev1.PodSpec{Hostname: tc.hostname}}
		if got := podHostname(pod); got != tc.want {
			t.Errorf("podHostname(name %q, hostname %q) = %q, want %q", tc.name, tc.hostname, got, tc.want)
		}
		if len(podHostname(pod)) > maxHostnameLen {
			t.Errorf("hostname for %q longer than %d", tc.name, maxHostnameLen)
		}
	}
}
