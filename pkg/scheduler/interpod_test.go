package scheduler

import (
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func term(key string, match map[string]string) v1.PodAffinityTerm {
	return v1.PodAffinityTerm{TopologyKey: key, LabelSelector: &metav1.LabelSelector{MatchLabels: match}}
}

func withAffinity(p *v1.Pod, affinity, anti []v1.PodAffinityTerm) *v1.Pod {
	p.Spec.Affinity = &v1.Affinity{}
	if affinity != nil {
		p.Spec.Affinity.PodAffinity = &v1.PodAffinity{RequiredDuringSchedulingIgnoredDuringExecution: affinity}
	}
	if anti != nil {
		p.Spec.Affinity.PodAntiAffinity = &v1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: anti}
	}
	return p
}

// zones: a1 and a2 in zone a, b1 in zone b.
func zones(pods ...*v1.Pod) *Snapshot {
	return NewSnapshot([]*v1.Node{
		node("a1", labelsOf("zone", "a", "host", "a1"), "4", "8Gi"),
		node("a2", labelsOf("zone", "a", "host", "a2"), "4", "8Gi"),
		node("b1", labelsOf("zone", "b", "host", "b1"), "4", "8Gi"),
	}, pods)
}

func feasibleNames(pod *v1.Pod, snap *Snapshot, filter func(*podCycle, *NodeInfo) *Status) (names []string, last *Status) {
	c := newPodCycle(pod, snap)
	for _, ni := range snap.Nodes {
		if st := filter(c, ni); st.OK() {
			names = append(names, ni.Node.Name)
		} else {
			last = st
		}
	}
	return names, last
}

func TestFilterInterPod(t *testing.T) {
	interPod := func(c *podCycle, ni *NodeInfo) *Status { return filterInterPod(c.pod, c.interPod, c.snap, ni) }
	web := func(nodeName string) *v1.Pod { return on(withLabels(pod("web", "", ""), "app", "web"), nodeName) }
	other := pod("other", "", "")
	other.Namespace = "other"
	on(withLabels(other, "app", "web"), "b1")
	cases := []struct {
		name     string
		existing []*v1.Pod
		pod      *v1.Pod
		want     []string
		reason   string
	}{
		{name: "affinity to zone of web", existing: []*v1.Pod{web("a1")},
			pod: withAffinity(pod("p", "", ""), []v1.PodAffinityTerm{term("zone", labelsOf("app", "web"))}, nil), want: []string{"a1", "a2"}, reason: msgAffinity},
		{name: "affinity with no match anywhere", existing: nil,
			pod: withAffinity(pod("p", "", ""), []v1.PodAffinityTerm{term("zone", labelsOf("app", "web"))}, nil), want: nil, reason: msgAffinity},
		{name: "first pod of a self-affine group goes anywhere", existing: nil,
			pod: withAffinity(withLabels(pod("p", "", ""), "app", "web"), []v1.PodAffinityTerm{term("zone", labelsOf("app", "web"))}, nil), want: []string{"a1", "a2", "b1"}},
		{name: "affinity ignores other namespaces", existing: []*v1.Pod{other},
			pod: withAffinity(pod("p", "", ""), []v1.PodAffinityTerm{term("zone", labelsOf("app", "web"))}, nil), want: nil, reason: msgAffinity},
		{name: "anti-affinity by host", existing: []*v1.Pod{web("a1")},
			pod: withAffinity(pod("p", "", ""), nil, []v1.PodAffinityTerm{term("host", labelsOf("app", "web"))}), want: []string{"a2", "b1"}, reason: msgAntiAffinity},
		{name: "anti-affinity by zone", existing: []*v1.Pod{web("a1")},
			pod: withAffinity(pod("p", "", ""), nil, []v1.PodAffinityTerm{term("zone", labelsOf("app", "web"))}), want: []string{"b1"}, reason: msgAntiAffinity},
		{name: "existing pod's anti-affinity", existing: []*v1.Pod{withAffinity(web("a1"), nil, []v1.PodAffinityTerm{term("zone", labelsOf("app", "db"))})},
			pod: withLabels(pod("p", "", ""), "app", "db"), want: []string{"b1"}, reason: msgExistingAnti},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, last := feasibleNames(tc.pod, zones(tc.existing...), interPod)
			if !equalStrings(got, tc.want) {
				t.Fatalf("feasible %v, want %v", got, tc.want)
			}
			if tc.reason != "" && (last == nil || last.Reasons[0] != tc.reason) {
				t.Fatalf("reason %+v, want %q", last, tc.reason)
			}
		})
	}
}

func TestInterPodNamespaceSelector(t *testing.T) {
	existing := withLabels(pod("db", "", ""), "app", "db")
	existing.Namespace = "prod"
	on(existing, "b1")
	p := withAffinity(pod("p", "", ""), []v1.PodAffinityTerm{{TopologyKey: "zone",
		LabelSelector:     &metav1.LabelSelector{MatchLabels: labelsOf("app", "db")},
		NamespaceSelector: &metav1.LabelSelector{MatchLabels: labelsOf("env", "prod")}}}, nil)
	snap := zones(existing)
	snap.NamespaceLabels = func(ns string) map[string]string {
		if ns == "prod" {
			return labelsOf("env", "prod")
		}
		return nil
	}
	got, _ := feasibleNames(p, snap, func(c *podCycle, ni *NodeInfo) *Status { return filterInterPod(c.pod, c.interPod, c.snap, ni) })
	if !equalStrings(got, []string{"b1"}) {
		t.Fatalf("feasible %v, want [b1]", got)
	}
}

func TestInterPodScores(t *testing.T) {
	web := on(withLabels(pod("web", "", ""), "app", "web"), "a1")
	p := pod("p", "", "")
	p.Spec.Affinity = &v1.Affinity{
		PodAffinity: &v1.PodAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []v1.WeightedPodAffinityTerm{{Weight: 10, PodAffinityTerm: term("zone", labelsOf("app", "web"))}}},
	}
	snap := zones(web)
	scores := interPodScores(p, snap, snap.Nodes)
	if scores[0] != 100 || scores[1] != 100 || scores[2] != 0 {
		t.Fatalf("preferred affinity scores %v, want [100 100 0]", scores)
	}
	p.Spec.Affinity = &v1.Affinity{
		PodAntiAffinity: &v1.PodAntiAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []v1.WeightedPodAffinityTerm{{Weight: 10, PodAffinityTerm: term("host", labelsOf("app", "web"))}}},
	}
	scores = interPodScores(p, snap, snap.Nodes)
	if scores[0] != 0 || scores[1] != 100 || scores[2] != 100 {
		t.Fatalf("preferred anti-affinity scores %v, want [0 100 100]", scores)
	}
	// An existing pod's preferred affinity to the incoming one attracts it.
	friendly := on(pod("friend", "", ""), "b1")
	friendly.Spec.Affinity = &v1.Affinity{PodAffinity: &v1.PodAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []v1.WeightedPodAffinityTerm{{Weight: 5, PodAffinityTerm: term("zone", labelsOf("role", "x"))}}}}
	snap = zones(friendly)
	scores = interPodScores(withLabels(pod("p", "", ""), "role", "x"), snap, snap.Nodes)
	if scores[0] != 0 || scores[2] != 100 {
		t.Fatalf("existing pod's preference: scores %v", scores)
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
