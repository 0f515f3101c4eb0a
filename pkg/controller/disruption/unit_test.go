package disruption

import (
	"errors"
	"net/http"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func pod(name string, phase corev1.PodPhase, ready bool, owner string) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", Labels: map[string]string{"app": "web"}}}
	p.Status.Phase = phase
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}
	if owner != "" {
		yes := true
		p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: owner, UID: types.UID(owner), Controller: &yes}}
	}
	return p
}

func TestExpectedPodCount(t *testing.T) {
	scales := map[string]int32{"rs-a": 4, "rs-b": 6}
	find := func(ref *metav1.OwnerReference, _ string) (types.UID, int32, bool, error) {
		if ref.Name == "broken" {
			return "", 0, false, errors.New("boom")
		}
		s, ok := scales[ref.Name]
		return ref.UID, s, ok, nil
	}
	i, s := intstr.FromInt32, intstr.FromString
	managed := []*corev1.Pod{pod("a1", "", false, "rs-a"), pod("a2", "", false, "rs-a"), pod("b1", "", false, "rs-b")}
	bare := []*corev1.Pod{pod("x", "", false, ""), pod("y", "", false, ""), pod("z", "", false, "")}
	cases := []struct {
		name              string
		minAvail, maxUnav *intstr.IntOrString
		pods              []*corev1.Pod
		expected, desired int32
		unmanaged         int
		wantErr           bool
	}{
		{"int minAvailable counts pods", ptr(i(2)), nil, managed, 3, 2, 0, false},
		{"int minAvailable bare pods", ptr(i(2)), nil, bare, 3, 2, 0, false},
		{"percent minAvailable uses scale", ptr(s("50%")), nil, managed, 10, 5, 0, false},
		{"percent minAvailable rounds up", ptr(s("33%")), nil, managed, 10, 4, 0, false},
		{"int maxUnavailable", nil, ptr(i(3)), managed, 10, 7, 0, false},
		{"percent maxUnavailable rounds up", nil, ptr(s("25%")), managed, 10, 7, 0, false},
		{"maxUnavailable above scale", nil, ptr(i(20)), managed, 10, 0, 0, false},
		{"maxUnavailable bare pods expects none", nil, ptr(i(1)), bare, 0, 0, 3, false},
		{"percent minAvailable bare pods", ptr(s("50%")), nil, bare, 0, 0, 3, false},
		{"mixed", nil, ptr(i(1)), append([]*corev1.Pod{pod("x", "", false, "")}, managed...), 10, 9, 1, false},
		{"unknown controller", nil, ptr(i(1)), []*corev1.Pod{pod("q", "", false, "gone")}, 0, 0, 0, true},
		{"finder error", ptr(s("10%")), nil, []*corev1.Pod{pod("q", "", false, "broken")}, 0, 0, 0, true},
		{"bad percent", ptr(s("half")), nil, managed, 0, 0, 0, true},
		{"neither", nil, nil, managed, 0, 0, 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pdb := &policyv1.PodDisruptionBudget{Spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: tc.minAvail, MaxUnavailable: tc.maxUnav}}
			exp, des, un, err := expectedPodCount(pdb, tc.pods, find)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v", err)
			}
			if err == nil && (exp != tc.expected || des != tc.desired || len(un) != tc.unmanaged) {
				t.Fatalf("got expected %d desired %d unmanaged %v; want %d %d %d", exp, des, un, tc.expected, tc.desired, tc.unmanaged)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestDisruptionsAllowed(t *testing.T) {
	for _, tc := range []struct{ healthy, desired, expected, want int32 }{
		{3, 2, 3, 1}, {3, 3, 3, 0}, {1, 2, 3, 0}, {5, 0, 5, 5}, {2, 0, 0, 0},
	} {
		if got := disruptionsAllowed(tc.healthy, tc.desired, tc.expected); got != tc.want {
			t.Errorf("disruptionsAllowed(%d, %d, %d) = %d, want %d", tc.healthy, tc.desired, tc.expected, got, tc.want)
		}
	}
}

func TestHealthyAndDisrupted(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	deleting := pod("deleting", corev1.PodRunning, true, "")
	deleting.DeletionTimestamp = &metav1.Time{Time: now}
	pods := []*corev1.Pod{
		pod("ok", corev1.PodRunning, true, ""),
		pod("recent", corev1.PodRunning, true, ""),
		pod("overdue", corev1.PodRunning, true, ""),
		pod("unready", corev1.PodRunning, false, ""),
		pod("pending", corev1.PodPending, true, ""),
		deleting,
	}
	status := map[string]metav1.Time{
		"recent":   metav1.NewTime(now.Add(-time.Minute)),
		"overdue":  metav1.NewTime(now.Add(-3 * time.Minute)),
		"deleting": metav1.NewTime(now.Add(-time.Minute)),
		"gone":     metav1.NewTime(now.Add(-time.Minute)),
	}
	kept, recheck, overdue := pruneDisrupted(pods, status, now, DefaultDeletionTimeout)
	if len(kept) != 1 || kept["recent"].Time.IsZero() || !recheck.Equal(now.Add(time.Minute)) || len(overdue) != 1 || overdue[0] != "overdue" {
		t.Fatalf("pruneDisrupted = %v %v %v", kept, recheck, overdue)
	}
	if got := countHealthy(pods, kept, now, DefaultDeletionTimeout); got != 2 { // ok, overdue
		t.Fatalf("countHealthy = %d, want 2", got)
	}
}

func TestCheckEviction(t *testing.T) {
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
	budget := func(name string, allowed, healthy, desired int32, mutate ...func(*policyv1.PodDisruptionBudget)) policyv1.PodDisruptionBudget {
		b := policyv1.PodDisruptionBudget{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", Generation: 2},
			Spec:       policyv1.PodDisruptionBudgetSpec{Selector: sel},
			Status:     policyv1.PodDisruptionBudgetStatus{ObservedGeneration: 2, DisruptionsAllowed: allowed, CurrentHealthy: healthy, DesiredHealthy: desired},
		}
		for _, m := range mutate {
			m(&b)
		}
		return b
	}
	running := pod("p", corev1.PodRunning, true, "")
	unready := pod("p", corev1.PodRunning, false, "")
	deleting := running.DeepCopy()
	deleting.DeletionTimestamp = &metav1.Time{Time: time.Now()}
	always := func(b *policyv1.PodDisruptionBudget) { b.Spec.UnhealthyPodEvictionPolicy = ptr(policyv1.AlwaysAllow) }
	cases := []struct {
		name      string
		pod       *corev1.Pod
		pdbs      []policyv1.PodDisruptionBudget
		decrement string
		code      int32
		message   string
	}{
		{"no budget", running, nil, "", 0, ""},
		{"allowed", running, []policyv1.PodDisruptionBudget{budget("b", 1, 3, 2)}, "b", 0, ""},
		{"exhausted", running, []policyv1.PodDisruptionBudget{budget("b", 0, 2, 2)}, "", http.StatusTooManyRequests, MessageViolatesBudget},
		{"not observed yet", running, []policyv1.PodDisruptionBudget{budget("b", 1, 3, 2, func(b *policyv1.PodDisruptionBudget) { b.Status.ObservedGeneration = 1 })}, "", http.StatusTooManyRequests, MessageViolatesBudget},
		{"negative", running, []policyv1.PodDisruptionBudget{budget("b", -1, 3, 2)}, "", http.StatusForbidden, ""},
		{"two budgets", running, []policyv1.PodDisruptionBudget{budget("a", 1, 3, 2), budget("b", 1, 3, 2)}, "", http.StatusInternalServerError, MessageMultipleBudgets},
		{"other namespace ignored", running, []policyv1.PodDisruptionBudget{budget("a", 0, 0, 2, func(b *policyv1.PodDisruptionBudget) { b.Namespace = "other" })}, "", 0, ""},
		{"empty selector matches nothing", running, []policyv1.PodDisruptionBudget{budget("a", 0, 0, 2, func(b *policyv1.PodDisruptionBudget) { b.Spec.Selector = &metav1.LabelSelector{} })}, "", 0, ""},
		{"nil selector matches nothing", running, []policyv1.PodDisruptionBudget{budget("a", 0, 0, 2, func(b *policyv1.PodDisruptionBudget) { b.Spec.Selector = nil })}, "", 0, ""},
		{"non-matching selector", running, []policyv1.PodDisruptionBudget{budget("a", 0, 0, 2, func(b *policyv1.PodDisruptionBudget) {
			b.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}
		})}, "", 0, ""},
		{"pending pod", pod("p", corev1.PodPending, false, ""), []policyv1.PodDisruptionBudget{budget("b", 0, 2, 2)}, "", 0, ""},
		{"succeeded pod", pod("p", corev1.PodSucceeded, false, ""), []policyv1.PodDisruptionBudget{budget("b", 0, 2, 2)}, "", 0, ""},
		{"failed pod", pod("p", corev1.PodFailed, false, ""), []policyv1.PodDisruptionBudget{budget("b", 0, 2, 2)}, "", 0, ""},
		{"deleting pod", deleting, []policyv1.PodDisruptionBudget{budget("b", 0, 2, 2)}, "", 0, ""},
		{"unready AlwaysAllow", unready, []policyv1.PodDisruptionBudget{budget("b", 0, 1, 2, always)}, "", 0, ""},
		{"unready healthy budget", unready, []policyv1.PodDisruptionBudget{budget("b", 0, 2, 2)}, "", 0, ""},
		{"unready unhealthy budget", unready, []policyv1.PodDisruptionBudget{budget("b", 0, 1, 2)}, "", http.StatusTooManyRequests, MessageViolatesBudget},
		{"unready budget wanting none", unready, []policyv1.PodDisruptionBudget{budget("b", 0, 0, 0)}, "", http.StatusTooManyRequests, MessageViolatesBudget},
		{"unready with disruptions left decrements", unready, []policyv1.PodDisruptionBudget{budget("b", 1, 1, 2)}, "b", 0, ""},
		{"disruptedPods overfull", running, []policyv1.PodDisruptionBudget{budget("b", 1, 3, 2, func(b *policyv1.PodDisruptionBudget) {
			b.Status.DisruptedPods = map[string]metav1.Time{}
			for i := range MaxDisruptedPods + 1 {
				b.Status.DisruptedPods[string(rune('a'+i%26))+string(rune(i))] = metav1.Now()
			}
		})}, "", http.StatusForbidden, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := CheckEviction(tc.pod, tc.pdbs)
			if tc.code == 0 {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				if (got == nil) != (tc.decrement == "") || got != nil && got.Name != tc.decrement {
					t.Fatalf("budget = %v, want %q", got, tc.decrement)
				}
				return
			}
			var se *apierrors.StatusError
			if !errors.As(err, &se) || se.ErrStatus.Code != tc.code || tc.message != "" && se.ErrStatus.Message != tc.message || got != nil {
				t.Fatalf("got %v, %v; want code %d %q", got, err, tc.code, tc.message)
			}
			if tc.code == http.StatusTooManyRequests && (se.ErrStatus.Details == nil || len(se.ErrStatus.Details.Causes) != 1 || se.ErrStatus.Details.Causes[0].Type != policyv1.DisruptionBudgetCause) {
				t.Fatalf("causes: %+v", se.ErrStatus.Details)
			}
		})
	}
}

func TestRecordEviction(t *testing.T) {
	now := time.Now()
	pdb := &policyv1.PodDisruptionBudget{Status: policyv1.PodDisruptionBudgetStatus{DisruptionsAllowed: 1}}
	setDisruptionAllowed(pdb)
	RecordEviction(pdb, "p", now)
	if pdb.Status.DisruptionsAllowed != 0 || !pdb.Status.DisruptedPods["p"].Time.Equal(now) ||
		pdb.Status.Conditions[0].Status != metav1.ConditionFalse || pdb.Status.Conditions[0].Reason != policyv1.InsufficientPodsReason {
		t.Fatalf("status %+v", pdb.Status)
	}
}
