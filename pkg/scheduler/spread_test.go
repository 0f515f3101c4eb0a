package scheduler

import (
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func withSpread(p *v1.Pod, key string, maxSkew int32, when v1.UnsatisfiableConstraintAction, minDomains *int32) *v1.Pod {
	p.Spec.TopologySpreadConstraints = append(p.Spec.TopologySpreadConstraints, v1.TopologySpreadConstraint{
		MaxSkew: maxSkew, TopologyKey: key, WhenUnsatisfiable: when, MinDomains: minDomains,
		LabelSelector: &metav1.LabelSelector{MatchLabels: labelsOf("app", "web")},
	})
	return p
}

func TestFilterSpread(t *testing.T) {
	spread := func(c *podCycle, ni *NodeInfo) *Status { return filterSpread(c.pod, c.spread, ni) }
	web := func(n string) *v1.Pod { return on(withLabels(pod("w", "", ""), "app", "web"), n) }
	incoming := func(key string, skew int32, minDomains *int32) *v1.Pod {
		return withSpread(withLabels(pod("p", "", ""), "app", "web"), key, skew, v1.DoNotSchedule, minDomains)
	}
	cases := []struct {
		name     string
		existing []*v1.Pod
		pod      *v1.Pod
		extra    *v1.Node
		want     []string
	}{
		{name: "empty cluster: anywhere", pod: incoming("zone", 1, nil), want: []string{"a1", "a2", "b1"}},
		{name: "zone a ahead: only b", existing: []*v1.Pod{web("a1")}, pod: incoming("zone", 1, nil), want: []string{"b1"}},
		{name: "balanced zones: anywhere", existing: []*v1.Pod{web("a1"), web("b1")}, pod: incoming("zone", 1, nil), want: []string{"a1", "a2", "b1"}},
		{name: "maxSkew 2 tolerates one ahead", existing: []*v1.Pod{web("a1")}, pod: incoming("zone", 2, nil), want: []string{"a1", "a2", "b1"}},
		{name: "hostname spreading", existing: []*v1.Pod{web("a1"), web("a2")}, pod: incoming("host", 1, nil), want: []string{"b1"}},
		{name: "other labels do not count", existing: []*v1.Pod{on(pod("x", "", ""), "a1")}, pod: incoming("zone", 1, nil), want: []string{"a1", "a2", "b1"}},
		{name: "minDomains above domain count makes the minimum 0", existing: []*v1.Pod{web("a1"), web("b1")}, pod: incoming("zone", 1, ptr(int32(3))), want: nil},
		{name: "node without the key is out", pod: incoming("zone", 1, nil), extra: node("bare", nil, "4", "8Gi"), want: []string{"a1", "a2", "b1"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			snap := zones(tc.existing...)
			if tc.extra != nil {
				nodes := []*v1.Node{tc.extra}
				for _, ni := range snap.Nodes {
					nodes = append(nodes, ni.Node)
				}
				snap = NewSnapshot(nodes, tc.existing)
			}
			got, last := feasibleNames(tc.pod, snap, spread)
			if !equalStrings(got, tc.want) {
				t.Fatalf("feasible %v, want %v", got, tc.want)
			}
			if tc.extra != nil && (last == nil || last.Reasons[0] != msgSpreadLabel || last.Code != UnresolvableUnschedulable) {
				t.Fatalf("missing label status %+v", last)
			}
			if tc.extra == nil && last != nil && last.Reasons[0] != "node(s) didn't match pod topology spread constraints" {
				t.Fatalf("status %+v", last)
			}
		})
	}
}

func TestSpreadHonoursNodeAffinity(t *testing.T) {
	// Zone b is excluded by the pod's node selector, so it is no domain:
	// zone a alone holds the minimum and one more pod there is fine.
	web := on(withLabels(pod("w", "", ""), "app", "web"), "a1")
	p := withSpread(withLabels(pod("p", "", ""), "app", "web"), "zone", 1, v1.DoNotSchedule, nil)
	p.Spec.NodeSelector = labelsOf("zone", "a")
	got, _ := feasibleNames(p, zones(web), func(c *podCycle, ni *NodeInfo) *Status { return filterSpread(c.pod, c.spread, ni) })
	if !equalStrings(got, []string{"a1", "a2", "b1"}) {
		t.Fatalf("feasible %v", got)
	}
	ignore := v1.NodeInclusionPolicyIgnore
	p.Spec.TopologySpreadConstraints[0].NodeAffinityPolicy = &ignore
	got, _ = feasibleNames(p, zones(web), func(c *podCycle, ni *NodeInfo) *Status { return filterSpread(c.pod, c.spread, ni) })
	if !equalStrings(got, []string{"b1"}) {
		t.Fatalf("with Ignore: feasible %v, want [b1]", got)
	}
}

func TestSpreadScores(t *testing.T) {
	web := func(n string) *v1.Pod { return on(withLabels(pod("w", "", ""), "app", "web"), n) }
	snap := zones(web("a1"), web("a2"))
	p := withSpread(withLabels(pod("p", "", ""), "app", "web"), "host", 1, v1.ScheduleAnyway, nil)
	scores := spreadScores(p, snap, snap.Nodes)
	if !(scores[2] > scores[0] && scores[0] == scores[1]) {
		t.Fatalf("scores %v: empty host b1 should win", scores)
	}
	if scores[2] != 100 {
		t.Fatalf("best node scores %d, want 100", scores[2])
	}
	none := spreadScores(pod("p", "", ""), snap, snap.Nodes)
	if none[0] != 0 || none[2] != 0 {
		t.Fatalf("no constraints: %v", none)
	}
}
