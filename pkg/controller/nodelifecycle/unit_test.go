package nodelifecycle

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func ptr(n int64) *int64 { return &n }

func TestEvictionTime(t *testing.T) {
	added := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	since := added.Add(time.Minute)
	ta := metav1.NewTime(added)
	unreach := corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute, TimeAdded: &ta}
	notReady := corev1.Taint{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoExecute, TimeAdded: &ta}
	noSched := corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoSchedule}
	undated := corev1.Taint{Key: "example.com/x", Value: "y", Effect: corev1.TaintEffectNoExecute}
	tol := func(key string, s *int64) corev1.Toleration {
		return corev1.Toleration{Key: key, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: s}
	}
	cases := []struct {
		name   string
		taints []corev1.Taint
		tols   []corev1.Toleration
		evict  bool
		at     time.Time
	}{
		{"no taints", nil, nil, false, time.Time{}},
		{"NoSchedule only", []corev1.Taint{noSched}, nil, false, time.Time{}},
		{"untolerated", []corev1.Taint{unreach}, nil, true, time.Time{}},
		{"one of two untolerated", []corev1.Taint{unreach, notReady}, []corev1.Toleration{tol(corev1.TaintNodeUnreachable, nil)}, true, time.Time{}},
		{"tolerated forever", []corev1.Taint{unreach}, []corev1.Toleration{tol(corev1.TaintNodeUnreachable, nil)}, false, time.Time{}},
		{"tolerated 300s", []corev1.Taint{unreach}, []corev1.Toleration{tol(corev1.TaintNodeUnreachable, ptr(300))}, true, added.Add(300 * time.Second)},
		{"min of two", []corev1.Taint{unreach, notReady}, []corev1.Toleration{tol(corev1.TaintNodeUnreachable, ptr(300)), tol(corev1.TaintNodeNotReady, ptr(30))}, true, added.Add(30 * time.Second)},
		{"forever and bounded", []corev1.Taint{unreach, notReady}, []corev1.Toleration{tol(corev1.TaintNodeUnreachable, nil), tol(corev1.TaintNodeNotReady, ptr(30))}, true, added.Add(30 * time.Second)},
		{"first matching toleration wins", []corev1.Taint{unreach}, []corev1.Toleration{tol("", ptr(10)), tol(corev1.TaintNodeUnreachable, nil)}, true, added.Add(10 * time.Second)},
		{"negative counts as zero", []corev1.Taint{unreach}, []corev1.Toleration{tol(corev1.TaintNodeUnreachable, ptr(-5))}, true, added},
		{"wrong effect does not tolerate", []corev1.Taint{unreach}, []corev1.Toleration{{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}, true, time.Time{}},
		{"equal needs value", []corev1.Taint{undated}, []corev1.Toleration{{Key: "example.com/x", Value: "z", Effect: corev1.TaintEffectNoExecute}}, true, time.Time{}},
		{"undated counts from since", []corev1.Taint{undated}, []corev1.Toleration{{Key: "example.com/x", Value: "y", TolerationSeconds: ptr(5)}}, true, since.Add(5 * time.Second)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			at, evict := EvictionTime(tc.taints, tc.tols, since)
			if evict != tc.evict || !at.Equal(tc.at) {
				t.Fatalf("EvictionTime = %v, %v; want %v, %v", at, evict, tc.at, tc.evict)
			}
		})
	}
}

func TestReconcileTaints(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	old := metav1.NewTime(now.Add(-time.Hour))
	user := corev1.Taint{Key: "dedicated", Value: "db", Effect: corev1.TaintEffectNoSchedule}
	kept := UnreachableNoExecute
	kept.TimeAdded = &old

	got, changed := reconcileTaints([]corev1.Taint{user, kept}, readinessTaints(&corev1.NodeCondition{Status: corev1.ConditionUnknown}), now)
	if !changed || len(got) != 3 || !got[1].TimeAdded.Equal(&old) || got[2].Key != corev1.TaintNodeUnreachable || got[2].Effect != corev1.TaintEffectNoSchedule || got[2].TimeAdded != nil {
		t.Fatalf("unknown: %v %+v", changed, got)
	}
	got, changed = reconcileTaints(got, readinessTaints(&corev1.NodeCondition{Status: corev1.ConditionUnknown}), now)
	if changed || len(got) != 3 {
		t.Fatalf("stable: %v %+v", changed, got)
	}
	got, changed = reconcileTaints(got, readinessTaints(&corev1.NodeCondition{Status: corev1.ConditionFalse}), now)
	if !changed || len(got) != 3 || got[0] != user || got[1].Key != corev1.TaintNodeNotReady || got[1].TimeAdded == nil || !got[1].TimeAdded.Time.Equal(now) {
		t.Fatalf("false: %v %+v", changed, got)
	}
	got, changed = reconcileTaints(got, readinessTaints(&corev1.NodeCondition{Status: corev1.ConditionTrue}), now)
	if !changed || len(got) != 1 || got[0] != user {
		t.Fatalf("true: %v %+v", changed, got)
	}
	if got := readinessTaints(nil); len(got) != 1 || got[0] != NotReadyNoSchedule {
		t.Fatalf("never ready: %+v", got)
	}
}

// A True pressure condition brings its NoSchedule taint, as upstream's
// TaintNodesByCondition; the taint goes with the condition.
func TestPressureTaints(t *testing.T) {
	now := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	node := &corev1.Node{Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{
		{Type: corev1.NodeReady, Status: corev1.ConditionTrue},
		{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse},
		{Type: corev1.NodeDiskPressure, Status: corev1.ConditionTrue},
		{Type: corev1.NodePIDPressure, Status: corev1.ConditionTrue},
	}}}
	user := corev1.Taint{Key: "example.com/x", Effect: corev1.TaintEffectNoSchedule}
	got, changed := reconcileTaints([]corev1.Taint{user}, wantedTaints(node), now)
	if !changed || len(got) != 3 || got[0] != user || got[1].Key != corev1.TaintNodeDiskPressure || got[2].Key != corev1.TaintNodePIDPressure {
		t.Fatalf("taints %v (changed %v), want the user's, disk-pressure and pid-pressure", got, changed)
	}
	for _, tn := range got[1:] {
		if tn.Effect != corev1.TaintEffectNoSchedule || tn.TimeAdded != nil {
			t.Errorf("taint %v: want NoSchedule without timeAdded", tn)
		}
	}
	node.Status.Conditions[2].Status = corev1.ConditionFalse
	node.Status.Conditions[3].Status = corev1.ConditionUnknown
	got, changed = reconcileTaints(got, wantedTaints(node), now)
	if !changed || len(got) != 1 || got[0] != user {
		t.Fatalf("after the pressure: %v (changed %v), want only the user's taint", got, changed)
	}
}
