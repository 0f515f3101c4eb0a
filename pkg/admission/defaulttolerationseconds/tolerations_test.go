package defaulttolerationseconds

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/utils/ptr"

	"github.com/flotilla-io/flotilla/pkg/admission/internal/deps"
)

func TestAdmit(t *testing.T) {
	tests := []struct {
		name        string
		tolerations []corev1.Toleration
		want        int
	}{
		{"plain", nil, 2},
		{"tolerates everything", []corev1.Toleration{{Operator: corev1.TolerationOpExists}}, 1},
		{"tolerates not-ready", []corev1.Toleration{{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](10)}}, 2},
		{"NoSchedule toleration does not count", []corev1.Toleration{{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoSchedule}}, 3},
	}
	p, _ := New(deps.Deps{})
	for _, tt := range tests {
		pod := &corev1.Pod{Spec: corev1.PodSpec{Tolerations: tt.tolerations}}
		a := admission.NewAttributesRecord(pod, nil, corev1.SchemeGroupVersion.WithKind("Pod"), "ns", "p", corev1.SchemeGroupVersion.WithResource("pods"), "", admission.Create, nil, false, nil)
		if err := p.(admission.MutationInterface).Admit(context.Background(), a, nil); err != nil {
			t.Fatal(err)
		}
		if len(pod.Spec.Tolerations) != tt.want {
			t.Errorf("%s: %d tolerations, want %d: %+v", tt.name, len(pod.Spec.Tolerations), tt.want, pod.Spec.Tolerations)
		}
		for _, tol := range pod.Spec.Tolerations[len(tt.tolerations):] {
			if ptr.Deref(tol.TolerationSeconds, 0) != 300 || tol.Effect != corev1.TaintEffectNoExecute {
				t.Errorf("%s: added %+v", tt.name, tol)
			}
		}
	}
}
