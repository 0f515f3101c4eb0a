package podworker

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestPastDeadline(t *testing.T) {
	now := time.Now()
	start := metav1.NewTime(now.Add(-5 * time.Second))
	mk := func(d *int64, st *metav1.Time) *corev1.Pod {
		return &corev1.Pod{Spec: corev1.PodSpec{ActiveDeadlineSeconds: d}, Status: corev1.PodStatus{StartTime: st}}
	}
	two, ten := int64(2), int64(10)
	for name, c := range map[string]struct {
		pod  *corev1.Pod
		want bool
	}{
		"no deadline": {mk(nil, &start), false},
		"not started": {mk(&two, nil), false},
		"exceeded":    {mk(&two, &start), true},
		"within":      {mk(&ten, &start), false},
	} {
		if got := pastDeadline(c.pod, now); got != c.want {
			t.Errorf("%s: pastDeadline = %v", name, got)
		}
	}
}
