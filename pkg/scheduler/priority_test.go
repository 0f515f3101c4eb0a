package scheduler

import (
	"testing"

	v1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestPriorityOf(t *testing.T) {
	never := v1.PreemptNever
	classes := []*schedulingv1.PriorityClass{
		{ObjectMeta: metav1.ObjectMeta{Name: "high"}, Value: 1000},
		{ObjectMeta: metav1.ObjectMeta{Name: "polite"}, Value: 500, PreemptionPolicy: &never},
		{ObjectMeta: metav1.ObjectMeta{Name: "default-a"}, Value: 20, GlobalDefault: true},
		{ObjectMeta: metav1.ObjectMeta{Name: "default-b"}, Value: 10, GlobalDefault: true},
	}
	cases := []struct {
		name       string
		className  string
		priority   *int32
		policy     *v1.PreemptionPolicy
		classes    []*schedulingv1.PriorityClass
		want       int32
		wantPolicy v1.PreemptionPolicy
	}{
		{name: "named class", className: "high", classes: classes, want: 1000, wantPolicy: v1.PreemptLowerPriority},
		{name: "class policy", className: "polite", classes: classes, want: 500, wantPolicy: v1.PreemptNever},
		{name: "lowest global default", classes: classes, want: 10, wantPolicy: v1.PreemptLowerPriority},
		{name: "no default", want: 0, wantPolicy: v1.PreemptLowerPriority},
		{name: "spec wins", className: "high", priority: ptr(int32(7)), policy: &never, classes: classes, want: 7, wantPolicy: v1.PreemptNever},
		{name: "builtin class", className: "system-node-critical", want: 2000001000, wantPolicy: v1.PreemptLowerPriority},
	}
	for _, tc := range cases {
		p := pod("p", "", "")
		p.Spec.PriorityClassName, p.Spec.Priority, p.Spec.PreemptionPolicy = tc.className, tc.priority, tc.policy
		got, policy := priorityOf(p, tc.classes)
		if got != tc.want || policy != tc.wantPolicy {
			t.Errorf("%s: %d %s, want %d %s", tc.name, got, policy, tc.want, tc.wantPolicy)
		}
	}
}
