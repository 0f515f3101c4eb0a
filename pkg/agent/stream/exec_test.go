package stream

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestStreamContainer(t *testing.T) {
	one := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "a"}}, InitContainers: []corev1.Container{{Name: "i"}}}}
	two := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "a"}, {Name: "b"}}}}
	for _, tc := range []struct {
		pod        *corev1.Pod
		name, want string
		err        string
	}{
		{pod: one, want: "a"},
		{pod: one, name: "i", want: "i"},
		{pod: two, name: "b", want: "b"},
		{pod: two, err: "a container name must be specified for pod p, choose one of: [a b]"},
		{pod: two, name: "x", err: "container x is not valid for pod p"},
	} {
		got, err := podContainer(tc.pod, tc.name)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: err %v, want %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%q: got %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
}

// logs, exec and attach name ephemeral containers like any other; only
// app containers are a default.
func TestPodContainerEphemeral(t *testing.T) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default"},
		Spec: corev1.PodSpec{
			Containers:          []corev1.Container{{Name: "app", Image: "busybox"}},
			EphemeralContainers: []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debugger", Image: "busybox"}}},
		},
	}
	if got, err := podContainer(pod, "debugger"); err != nil || got != "debugger" {
		t.Fatalf("podContainer(debugger) = %q, %v", got, err)
	}
	if got, err := podContainer(pod, ""); err != nil || got != "app" {
		t.Fatalf("default container = %q, %v", got, err)
	}
	if _, err := podContainer(pod, "nope"); err == nil {
		t.Fatal("an unknown container was accepted")
	}
}
