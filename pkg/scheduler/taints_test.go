package scheduler

import (
	"testing"

	v1 "k8s.io/api/core/v1"
)

func TestTolerates(t *testing.T) {
	taint := v1.Taint{Key: "dedicated", Value: "gpu", Effect: v1.TaintEffectNoSchedule}
	cases := []struct {
		name string
		tol  v1.Toleration
		want bool
	}{
		{"equal", v1.Toleration{Key: "dedicated", Operator: v1.TolerationOpEqual, Value: "gpu", Effect: v1.TaintEffectNoSchedule}, true},
		{"default operator is Equal", v1.Toleration{Key: "dedicated", Value: "gpu"}, true},
		{"equal wrong value", v1.Toleration{Key: "dedicated", Value: "cpu"}, false},
		{"exists", v1.Toleration{Key: "dedicated", Operator: v1.TolerationOpExists}, true},
		{"empty key exists tolerates all", v1.Toleration{Operator: v1.TolerationOpExists}, true},
		{"empty key equal tolerates nothing", v1.Toleration{Operator: v1.TolerationOpEqual}, false},
		{"other effect", v1.Toleration{Key: "dedicated", Operator: v1.TolerationOpExists, Effect: v1.TaintEffectNoExecute}, false},
		{"other key", v1.Toleration{Key: "team", Operator: v1.TolerationOpExists}, false},
	}
	for _, tc := range cases {
		if got := tolerated([]v1.Toleration{tc.tol}, &taint); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestFilterTaints(t *testing.T) {
	cases := []struct {
		name   string
		taints []v1.Taint
		tols   []v1.Toleration
		want   []string
	}{
		{name: "no taints"},
		{name: "NoSchedule", taints: []v1.Taint{{Key: "k", Value: "v", Effect: v1.TaintEffectNoSchedule}}, want: []string{"node(s) had untolerated taint {k: v}"}},
		{name: "NoExecute", taints: []v1.Taint{{Key: "node.kubernetes.io/not-ready", Effect: v1.TaintEffectNoExecute}}, want: []string{"node(s) had untolerated taint {node.kubernetes.io/not-ready: }"}},
		{name: "PreferNoSchedule is no filter", taints: []v1.Taint{{Key: "k", Effect: v1.TaintEffectPreferNoSchedule}}},
		{name: "tolerated", taints: []v1.Taint{{Key: "k", Value: "v", Effect: v1.TaintEffectNoSchedule}}, tols: []v1.Toleration{{Key: "k", Operator: v1.TolerationOpExists}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := node("n", nil, "1", "1Gi")
			n.Spec.Taints = tc.taints
			p := pod("p", "", "")
			p.Spec.Tolerations = tc.tols
			st := filterTaints(p, NewNodeInfo(n))
			if got := reasons(st); len(got) != len(tc.want) || (len(got) > 0 && got[0] != tc.want[0]) {
				t.Fatalf("reasons %q, want %q", got, tc.want)
			}
			if !st.OK() && st.Code != UnresolvableUnschedulable {
				t.Fatal("taints are not resolved by preemption")
			}
		})
	}
}

func TestFilterUnschedulableAndReady(t *testing.T) {
	cordoned := node("n", nil, "1", "1Gi")
	cordoned.Spec.Unschedulable = true
	notReady := node("n", nil, "1", "1Gi")
	notReady.Status.Conditions[0].Status = v1.ConditionFalse
	unknown := node("n", nil, "1", "1Gi")
	unknown.Status.Conditions = nil
	tolerant := func(key string) *v1.Pod {
		p := pod("p", "", "")
		p.Spec.Tolerations = []v1.Toleration{{Key: key, Operator: v1.TolerationOpExists, Effect: v1.TaintEffectNoSchedule}}
		return p
	}
	cases := []struct {
		name   string
		filter func(*v1.Pod, *NodeInfo) *Status
		node   *v1.Node
		pod    *v1.Pod
		want   string
	}{
		{"cordoned", filterUnschedulable, cordoned, pod("p", "", ""), "node(s) were unschedulable"},
		{"cordoned but tolerated", filterUnschedulable, cordoned, tolerant(taintUnschedulable), ""},
		{"ready", filterReady, node("n", nil, "1", "1Gi"), pod("p", "", ""), ""},
		{"not ready", filterReady, notReady, pod("p", "", ""), "node(s) were not ready"},
		{"not ready tolerated", filterReady, notReady, tolerant(taintNotReady), ""},
		{"unknown", filterReady, unknown, pod("p", "", ""), "node(s) were not ready"},
		{"unknown tolerated", filterReady, unknown, tolerant(taintUnreachable), ""},
	}
	for _, tc := range cases {
		st := tc.filter(tc.pod, NewNodeInfo(tc.node))
		got := ""
		if !st.OK() {
			got = st.Reasons[0]
		}
		if got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestIntolerablePreferNoSchedule(t *testing.T) {
	n := node("n", nil, "1", "1Gi")
	n.Spec.Taints = []v1.Taint{
		{Key: "a", Effect: v1.TaintEffectPreferNoSchedule},
		{Key: "b", Effect: v1.TaintEffectPreferNoSchedule},
		{Key: "c", Effect: v1.TaintEffectNoSchedule},
	}
	cases := []struct {
		name string
		tols []v1.Toleration
		want int64
	}{
		{"none tolerated", nil, 2},
		{"one tolerated", []v1.Toleration{{Key: "a", Operator: v1.TolerationOpExists}}, 1},
		{"toleration for another effect does not count", []v1.Toleration{{Key: "a", Operator: v1.TolerationOpExists, Effect: v1.TaintEffectNoSchedule}}, 2},
		{"all tolerated", []v1.Toleration{{Operator: v1.TolerationOpExists}}, 0},
	}
	for _, tc := range cases {
		p := pod("p", "", "")
		p.Spec.Tolerations = tc.tols
		if got := intolerablePreferNoSchedule(p, n); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
}
