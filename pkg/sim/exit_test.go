package sim

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestExitPlanOf(t *testing.T) {
	for _, tc := range []struct {
		name    string
		ann     map[string]string
		want    exitPlan
		ok, err bool
	}{
		{"none", nil, exitPlan{}, false, false},
		{"after only", map[string]string{AnnotationExitAfter: "2s"}, exitPlan{after: 2 * time.Second}, true, false},
		{"with code", map[string]string{AnnotationExitAfter: "1m", AnnotationExitCode: "3"}, exitPlan{after: time.Minute, code: 3}, true, false},
		{"code alone is ignored", map[string]string{AnnotationExitCode: "3"}, exitPlan{}, false, false},
		{"bad duration", map[string]string{AnnotationExitAfter: "soon"}, exitPlan{}, false, true},
		{"negative duration", map[string]string{AnnotationExitAfter: "-1s"}, exitPlan{}, false, true},
		{"bad code", map[string]string{AnnotationExitAfter: "1s", AnnotationExitCode: "x"}, exitPlan{}, false, true},
		{"code out of range", map[string]string{AnnotationExitAfter: "1s", AnnotationExitCode: "256"}, exitPlan{}, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok, err := exitPlanOf(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Annotations: tc.ann}})
			if got != tc.want || ok != tc.ok || (err != nil) != tc.err {
				t.Errorf("= %+v %v %v, want %+v %v err=%v", got, ok, err, tc.want, tc.ok, tc.err)
			}
		})
	}
}

func TestOutcome(t *testing.T) {
	for _, tc := range []struct {
		policy corev1.RestartPolicy
		code   int32
		want   afterExit
	}{
		{corev1.RestartPolicyNever, 0, podSucceeds},
		{corev1.RestartPolicyNever, 1, podFails},
		{corev1.RestartPolicyOnFailure, 0, podSucceeds},
		{corev1.RestartPolicyOnFailure, 2, restartContainers},
		{corev1.RestartPolicyAlways, 0, restartContainers},
		{corev1.RestartPolicyAlways, 1, restartContainers},
		{"", 0, restartContainers},
	} {
		if got := outcome(tc.policy, tc.code); got != tc.want {
			t.Errorf("outcome(%q, %d) = %v, want %v", tc.policy, tc.code, got, tc.want)
		}
	}
}
