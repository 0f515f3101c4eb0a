package replicaset

import (
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

var now = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

type podOpt func(*corev1.Pod)

func node(n string) podOpt            { return func(p *corev1.Pod) { p.Spec.NodeName = n } }
func phase(ph corev1.PodPhase) podOpt { return func(p *corev1.Pod) { p.Status.Phase = ph } }
func readyFor(d time.Duration) podOpt {
	return func(p *corev1.Pod) {
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(now.Add(-d))}}
	}
}
func age(d time.Duration) podOpt {
	return func(p *corev1.Pod) { p.CreationTimestamp = metav1.NewTime(now.Add(-d)) }
}
func restarts(n int32) podOpt {
	return func(p *corev1.Pod) {
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "c", RestartCount: n}}
	}
}
func cost(v string) podOpt {
	return func(p *corev1.Pod) { p.Annotations = map[string]string{deletionCostAnnotation: v} }
}

func mkPod(name string, opts ...podOpt) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID(name), CreationTimestamp: metav1.NewTime(now.Add(-time.Hour))}}
	p.Status.Phase = corev1.PodRunning
	for _, o := range opts {
		o(p)
	}
	return p
}

// running is a scheduled, Running pod, ready for an hour.
func running(name string, opts ...podOpt) *corev1.Pod {
	return mkPod(name, append([]podOpt{node("n-" + name), readyFor(time.Hour)}, opts...)...)
}

func TestRanking(t *testing.T) {
	cases := []struct {
		name  string
		pods  []*corev1.Pod
		first string // the pod to go first
	}{
		{"unscheduled before scheduled", []*corev1.Pod{running("a"), mkPod("b", phase(corev1.PodPending))}, "b"},
		{"unscheduled before scheduled pending", []*corev1.Pod{mkPod("a", node("x"), phase(corev1.PodPending)), mkPod("b", phase(corev1.PodPending))}, "b"},
		{"pending before unknown", []*corev1.Pod{mkPod("a", node("x"), phase(corev1.PodUnknown)), mkPod("b", node("y"), phase(corev1.PodPending))}, "b"},
		{"unknown before running", []*corev1.Pod{running("a"), mkPod("b", node("y"), phase(corev1.PodUnknown))}, "b"},
		{"not ready before ready", []*corev1.Pod{running("a"), mkPod("b", node("y"))}, "b"},
		{"lower deletion cost first", []*corev1.Pod{running("a", cost("10")), running("b", cost("-5"), age(time.Second))}, "b"},
		{"deletion cost beats age", []*corev1.Pod{running("a", cost("1"), age(time.Second)), running("b", age(100*time.Hour))}, "b"},
		{"doubled up first", []*corev1.Pod{running("a", age(time.Second)), running("b", node("shared")), running("c", node("shared"))}, "b"},
		{"shorter ready time first", []*corev1.Pod{running("a", readyFor(time.Hour)), running("b", readyFor(time.Minute))}, "b"},
		{"ready time beats restarts", []*corev1.Pod{running("a", restarts(9)), running("b", readyFor(time.Minute))}, "b"},
		{"more restarts first", []*corev1.Pod{running("a", restarts(1)), running("b", restarts(3))}, "b"},
		{"newer first", []*corev1.Pod{running("a", age(2*time.Hour)), running("b", age(time.Minute))}, "b"},
		{"same log bucket: by uid", []*corev1.Pod{running("b", age(70*time.Second)), running("a", age(80*time.Second))}, "a"},
		{"zero ready time first", []*corev1.Pod{running("a"), running("b", readyFor(0), func(p *corev1.Pod) { p.Status.Conditions[0].LastTransitionTime = metav1.Time{} })}, "b"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// Every order of the input gives the same first pod.
			for _, perm := range permutations(tc.pods) {
				got := podsToDelete(perm, perm, 1, now)
				if len(got) != 1 || got[0].Name != tc.first {
					t.Fatalf("order %v: deleted %v, want %s", names(perm), names(got), tc.first)
				}
			}
		})
	}
}

func TestRankingFullOrder(t *testing.T) {
	pods := []*corev1.Pod{
		running("ready-old", age(48*time.Hour), readyFor(48*time.Hour)),
		running("ready-new", age(time.Minute), readyFor(time.Minute)),
		mkPod("unready", node("x")),
		mkPod("unscheduled", phase(corev1.PodPending)),
		mkPod("pending", node("y"), phase(corev1.PodPending)),
	}
	got := names(podsToDelete(pods, pods, 4, now))
	want := []string{"unscheduled", "pending", "unready", "ready-new"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if all := podsToDelete(pods, pods, 9, now); len(all) != len(pods) {
		t.Fatalf("asking for more than there are: %d", len(all))
	}
}

func permutations(pods []*corev1.Pod) [][]*corev1.Pod {
	if len(pods) <= 1 {
		return [][]*corev1.Pod{slices.Clone(pods)}
	}
	var out [][]*corev1.Pod
	for i := range pods {
		rest := append(slices.Clone(pods[:i]), pods[i+1:]...)
		for _, p := range permutations(rest) {
			out = append(out, append([]*corev1.Pod{pods[i]}, p...))
		}
	}
	return out
}

func names(pods []*corev1.Pod) []string {
	out := make([]string, len(pods))
	for i, p := range pods {
		out[i] = p.Name
	}
	return out
}

func TestBatchSizes(t *testing.T) {
	cases := []struct {
		count, initial int
		want           []int
	}{
		{0, 1, nil},
		{1, 1, []int{1}},
		{2, 1, []int{1, 1}},
		{3, 1, []int{1, 2}},
		{5, 1, []int{1, 2, 2}},
		{7, 1, []int{1, 2, 4}},
		{10, 1, []int{1, 2, 4, 3}},
		{20, 1, []int{1, 2, 4, 8, 5}},
		{10, 3, []int{3, 6, 1}},
		{2, 5, []int{2}},
		{3, 0, []int{1, 2}},
	}
	for _, tc := range cases {
		if got := batchSizes(tc.count, tc.initial); !slices.Equal(got, tc.want) {
			t.Errorf("batchSizes(%d, %d) = %v, want %v", tc.count, tc.initial, got, tc.want)
		}
	}
}

func TestSlowStart(t *testing.T) {
	boom := errors.New("quota")
	cases := []struct {
		name      string
		count     int
		failFrom  int64 // calls numbered from 1 at or after this fail; 0 none
		wantOK    int
		wantCalls int64
		wantErr   bool
	}{
		{"all succeed", 10, 0, 10, 10, false},
		{"first fails: one call only", 10, 1, 0, 1, true},
		{"fails in third batch", 10, 4, 3, 7, true}, // batches 1,2,4: calls 4..7 all fail
		{"nothing to do", 0, 0, 0, 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int64
			ok, err := slowStart(tc.count, 1, func() error {
				if n := calls.Add(1); tc.failFrom > 0 && n >= tc.failFrom {
					return boom
				}
				return nil
			})
			if ok != tc.wantOK || calls.Load() != tc.wantCalls || (err != nil) != tc.wantErr {
				t.Fatalf("got ok=%d calls=%d err=%v; want ok=%d calls=%d err=%v", ok, calls.Load(), err, tc.wantOK, tc.wantCalls, tc.wantErr)
			}
		})
	}
}

func TestExpectations(t *testing.T) {
	clock := now
	e := newExpectations(func() time.Time { return clock })
	if !e.satisfied("ns/rs") {
		t.Fatal("no record must be satisfied")
	}
	e.expectCreations("ns/rs", 2)
	if e.satisfied("ns/rs") {
		t.Fatal("pending creations satisfied")
	}
	e.creationObserved("ns/rs")
	e.creationObserved("ns/other")
	if e.satisfied("ns/rs") {
		t.Fatal("one creation still pending")
	}
	e.creationObserved("ns/rs")
	if !e.satisfied("ns/rs") {
		t.Fatal("all creations observed")
	}
	e.expectDeletions("ns/rs", []string{"ns/a", "ns/b"})
	e.deletionObserved("ns/rs", "ns/a")
	e.deletionObserved("ns/rs", "ns/a") // seen terminating, then gone: once
	e.deletionObserved("ns/rs", "ns/zzz")
	if e.satisfied("ns/rs") {
		t.Fatal("b still pending")
	}
	clock = clock.Add(expectationsTTL + time.Second)
	if !e.satisfied("ns/rs") {
		t.Fatal("expired expectations must be satisfied")
	}
	e.expectCreations("ns/rs", 1)
	e.forget("ns/rs")
	if !e.satisfied("ns/rs") {
		t.Fatal("forgotten")
	}
}

func TestSameStatus(t *testing.T) {
	one, one2, two := int32(1), int32(1), int32(2)
	base := status{replicas: 3, ready: 2, observedGeneration: 4, terminating: &one}
	same := base
	same.terminating = &one2
	same.conditions = []condition{}
	if !sameStatus(base, same) {
		t.Fatal("equal statuses differ")
	}
	for _, mod := range []func(*status){
		func(s *status) { s.available = 1 },
		func(s *status) { s.terminating = &two },
		func(s *status) { s.terminating = nil },
		func(s *status) { s.observedGeneration = 5 },
		func(s *status) { s.conditions = []condition{{typ: replicaFailure}} },
	} {
		other := base
		mod(&other)
		if sameStatus(base, other) {
			t.Fatalf("%+v equals %+v", other, base)
		}
	}
}
