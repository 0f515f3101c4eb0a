package podutil

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// pod builds a pod in phase with the given conditions.
func pod(phase corev1.PodPhase, conds ...corev1.PodCondition) *corev1.Pod {
	return &corev1.Pod{Status: corev1.PodStatus{Phase: phase, Conditions: conds}}
}

func ready(status corev1.ConditionStatus, since time.Time) corev1.PodCondition {
	return corev1.PodCondition{Type: corev1.PodReady, Status: status, LastTransitionTime: metav1.NewTime(since)}
}

func TestIsPodReady(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	scheduled := corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}
	tests := []struct {
		name string
		pod  *corev1.Pod
		want bool
	}{
		{"no conditions", pod(corev1.PodRunning), false},
		{"only other conditions True", pod(corev1.PodRunning, scheduled,
			corev1.PodCondition{Type: corev1.ContainersReady, Status: corev1.ConditionTrue}), false},
		{"Ready True", pod(corev1.PodRunning, scheduled, ready(corev1.ConditionTrue, at)), true},
		{"Ready False", pod(corev1.PodRunning, ready(corev1.ConditionFalse, at)), false},
		{"Ready Unknown", pod(corev1.PodRunning, ready(corev1.ConditionUnknown, at)), false},
		// The phase is not consulted: readiness is the condition alone.
		{"Ready True while Pending", pod(corev1.PodPending, ready(corev1.ConditionTrue, at)), true},
		{"first Ready condition counts (False first)", pod(corev1.PodRunning,
			ready(corev1.ConditionFalse, at), ready(corev1.ConditionTrue, at)), false},
		{"first Ready condition counts (True first)", pod(corev1.PodRunning,
			ready(corev1.ConditionTrue, at), ready(corev1.ConditionFalse, at)), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := IsPodReady(tc.pod); got != tc.want {
				t.Errorf("IsPodReady = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestIsPodAvailable(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name     string
		pod      *corev1.Pod
		minReady int32
		want     bool
	}{
		{"not ready, no minReadySeconds", pod(corev1.PodRunning, ready(corev1.ConditionFalse, now.Add(-time.Hour))), 0, false},
		{"no Ready condition", pod(corev1.PodRunning), 0, false},
		{"ready just now, no minReadySeconds", pod(corev1.PodRunning, ready(corev1.ConditionTrue, now)), 0, true},
		{"ready, no transition time, no minReadySeconds", pod(corev1.PodRunning, ready(corev1.ConditionTrue, time.Time{})), 0, true},
		{"ready, no transition time, minReadySeconds", pod(corev1.PodRunning, ready(corev1.ConditionTrue, time.Time{})), 5, false},
		{"ready for less than minReadySeconds", pod(corev1.PodRunning, ready(corev1.ConditionTrue, now.Add(-4*time.Second))), 5, false},
		// Available needs strictly more than minReadySeconds.
		{"ready for exactly minReadySeconds", pod(corev1.PodRunning, ready(corev1.ConditionTrue, now.Add(-5*time.Second))), 5, false},
		{"ready for longer than minReadySeconds", pod(corev1.PodRunning, ready(corev1.ConditionTrue, now.Add(-5*time.Second-time.Millisecond))), 5, true},
		{"ready since the future", pod(corev1.PodRunning, ready(corev1.ConditionTrue, now.Add(time.Minute))), 5, false},
		{"not ready for long", pod(corev1.PodRunning, ready(corev1.ConditionFalse, now.Add(-time.Hour))), 5, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := IsPodAvailable(tc.pod, tc.minReady, now); got != tc.want {
				t.Errorf("IsPodAvailable(minReadySeconds=%d) = %v, want %v", tc.minReady, got, tc.want)
			}
		})
	}
}

func TestGetPodCondition(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	p := pod(corev1.PodRunning,
		corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionTrue},
		ready(corev1.ConditionTrue, at))
	i, c := GetPodCondition(&p.Status, corev1.PodReady)
	if i != 1 || c == nil || c.Status != corev1.ConditionTrue {
		t.Fatalf("GetPodCondition(Ready) = %d, %+v; want index 1, the True condition", i, c)
	}
	// The pointer is into the pod's own slice: a caller may edit its copy.
	c.Status = corev1.ConditionFalse
	if IsPodReady(p) {
		t.Error("changing the returned condition did not change the pod")
	}
	if got := GetPodReadyCondition(p); got != c {
		t.Errorf("GetPodReadyCondition = %p, want the same condition %p", got, c)
	}
	if i, c := GetPodCondition(&p.Status, corev1.DisruptionTarget); i != -1 || c != nil {
		t.Errorf("missing condition: got %d, %+v; want -1, nil", i, c)
	}
	if i, c := GetPodCondition(nil, corev1.PodReady); i != -1 || c != nil {
		t.Errorf("nil status: got %d, %+v; want -1, nil", i, c)
	}
	if c := GetPodReadyCondition(pod(corev1.PodPending)); c != nil {
		t.Errorf("GetPodReadyCondition without conditions = %+v, want nil", c)
	}
}

func TestPhases(t *testing.T) {
	t.Parallel()
	deleting := metav1.NewTime(time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC))
	tests := []struct {
		phase                  corev1.PodPhase
		deleting               bool
		wantTerminal, wantActv bool
	}{
		{"", false, false, true},
		{corev1.PodPending, false, false, true},
		{corev1.PodRunning, false, false, true},
		{corev1.PodUnknown, false, false, true},
		{corev1.PodSucceeded, false, true, false},
		{corev1.PodFailed, false, true, false},
		{corev1.PodRunning, true, false, false},
		{corev1.PodFailed, true, true, false},
	}
	for _, tc := range tests {
		p := pod(tc.phase)
		if tc.deleting {
			p.DeletionTimestamp = &deleting
		}
		if got := IsPodPhaseTerminal(tc.phase); got != tc.wantTerminal {
			t.Errorf("IsPodPhaseTerminal(%q) = %v, want %v", tc.phase, got, tc.wantTerminal)
		}
		if got := IsPodTerminal(p); got != tc.wantTerminal {
			t.Errorf("IsPodTerminal(phase %q, deleting %v) = %v, want %v", tc.phase, tc.deleting, got, tc.wantTerminal)
		}
		if got := IsPodActive(p); got != tc.wantActv {
			t.Errorf("IsPodActive(phase %q, deleting %v) = %v, want %v", tc.phase, tc.deleting, got, tc.wantActv)
		}
	}
}
