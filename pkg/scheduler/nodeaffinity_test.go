package scheduler

import (
	"github.com/flotilla-io/flotilla/pkg/extensions"

	"testing"

	v1 "k8s.io/api/core/v1"
)

func req(key string, op v1.NodeSelectorOperator, values ...string) v1.NodeSelectorRequirement {
	return v1.NodeSelectorRequirement{Key: key, Operator: op, Values: values}
}

func TestNodeMatches(t *testing.T) {
	n := node("node-1", labelsOf("zone", "a", "cores", "8"), "1", "1Gi")
	term := func(rs ...v1.NodeSelectorRequirement) v1.NodeSelectorTerm {
		return v1.NodeSelectorTerm{MatchExpressions: rs}
	}
	cases := []struct {
		name string
		sel  *v1.NodeSelector
		want bool
	}{
		{"nil selector matches", nil, true},
		{"no terms match nothing", &v1.NodeSelector{}, false},
		{"empty term matches nothing", &v1.NodeSelector{NodeSelectorTerms: []v1.NodeSelectorTerm{{}}}, false},
		{"In", &v1.NodeSelector{NodeSelectorTerms: []v1.NodeSelectorTerm{term(req("zone", v1.NodeSelectorOpIn, "a", "b"))}}, true},
		{"In miss", &v1.NodeSelector{NodeSelectorTerms: []v1.NodeSelectorTerm{term(req("zone", v1.NodeSelectorOpIn, "b"))}}, false},
		{"NotIn", &v1.NodeSelector{NodeSelectorTerms: []v1.NodeSelectorTerm{term(req("zone", v1.NodeSelectorOpNotIn, "b"))}}, true},
		{"NotIn absent label", &v1.NodeSelector{NodeSelectorTerms: []v1.NodeSelectorTerm{term(req("gpu", v1.NodeSelectorOpNotIn, "x"))}}, true},
		{"Exists", &v1.NodeSelector{NodeSelectorTerms: []v1.NodeSelectorTerm{term(req("zone", v1.NodeSelectorOpExists))}}, true},
		{"DoesNotExist", &v1.NodeSelector{NodeSelectorTerms: []v1.NodeSelectorTerm{term(req("zone", v1.NodeSelectorOpDoesNotExist))}}, false},
		{"Gt", &v1.NodeSelector{NodeSelectorTerms: []v1.NodeSelectorTerm{term(req("cores", v1.NodeSelectorOpGt, "4"))}}, true},
		{"Gt equal fails", &v1.NodeSelector{NodeSelectorTerms: []v1.NodeSelectorTerm{term(req("cores", v1.NodeSelectorOpGt, "8"))}}, false},
		{"Lt", &v1.NodeSelector{NodeSelectorTerms: []v1.NodeSelectorTerm{term(req("cores", v1.NodeSelectorOpLt, "16"))}}, true},
		{"Lt not a number", &v1.NodeSelector{NodeSelectorTerms: []v1.NodeSelectorTerm{term(req("zone", v1.NodeSelectorOpLt, "16"))}}, false},
		{"expressions ANDed", &v1.NodeSelector{NodeSelectorTerms: []v1.NodeSelectorTerm{term(req("zone", v1.NodeSelectorOpIn, "a"), req("cores", v1.NodeSelectorOpLt, "4"))}}, false},
		{"terms ORed", &v1.NodeSelector{NodeSelectorTerms: []v1.NodeSelectorTerm{term(req("zone", v1.NodeSelectorOpIn, "b")), term(req("cores", v1.NodeSelectorOpGt, "4"))}}, true},
		{"matchFields name", &v1.NodeSelector{NodeSelectorTerms: []v1.NodeSelectorTerm{{MatchFields: []v1.NodeSelectorRequirement{req("metadata.name", v1.NodeSelectorOpIn, "node-1")}}}}, true},
		{"matchFields other name", &v1.NodeSelector{NodeSelectorTerms: []v1.NodeSelectorTerm{{MatchFields: []v1.NodeSelectorRequirement{req("metadata.name", v1.NodeSelectorOpIn, "node-2")}}}}, false},
		{"matchFields unknown field", &v1.NodeSelector{NodeSelectorTerms: []v1.NodeSelectorTerm{{MatchFields: []v1.NodeSelectorRequirement{req("metadata.uid", v1.NodeSelectorOpIn, "x")}}}}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := NodeMatches(tc.sel, n); got != tc.want {
				t.Fatalf("NodeMatches = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestRequiredDuringExecution(t *testing.T) {
	cases := []struct {
		name       string
		annotation *string
		wantNil    bool
		wantErr    bool
	}{
		{name: "absent", wantNil: true},
		{name: "valid", annotation: ptr(`{"nodeSelectorTerms":[{"matchExpressions":[{"key":"zone","operator":"In","values":["a"]}]}]}`)},
		{name: "broken", annotation: ptr(`{"nodeSelectorTerms":`), wantNil: true, wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := pod("p", "", "")
			if tc.annotation != nil {
				p.Annotations = map[string]string{extensions.RequiredDuringExecutionAnnotation: *tc.annotation}
			}
			sel, err := RequiredDuringExecution(p)
			if (err != nil) != tc.wantErr || (sel == nil) != tc.wantNil {
				t.Fatalf("sel=%v err=%v", sel, err)
			}
			if sel != nil && !NodeMatches(sel, node("n", labelsOf("zone", "a"), "1", "1Gi")) {
				t.Fatal("decoded selector does not match")
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestFilterNodeAffinity(t *testing.T) {
	n := node("n", labelsOf("zone", "a", "disk", "ssd"), "1", "1Gi")
	affinity := func(rs ...v1.NodeSelectorRequirement) *v1.Affinity {
		return &v1.Affinity{NodeAffinity: &v1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &v1.NodeSelector{
			NodeSelectorTerms: []v1.NodeSelectorTerm{{MatchExpressions: rs}}}}}
	}
	cases := []struct {
		name     string
		selector map[string]string
		affinity *v1.Affinity
		annot    string
		want     bool
	}{
		{name: "nothing asked", want: true},
		{name: "selector matches", selector: labelsOf("zone", "a"), want: true},
		{name: "selector misses", selector: labelsOf("zone", "b")},
		{name: "both hold", selector: labelsOf("zone", "a"), affinity: affinity(req("disk", v1.NodeSelectorOpIn, "ssd")), want: true},
		{name: "affinity fails though selector holds", selector: labelsOf("zone", "a"), affinity: affinity(req("disk", v1.NodeSelectorOpIn, "hdd"))},
		{name: "annotation must hold too", selector: labelsOf("zone", "a"), annot: `{"nodeSelectorTerms":[{"matchExpressions":[{"key":"gpu","operator":"Exists"}]}]}`},
		{name: "annotation holds", annot: `{"nodeSelectorTerms":[{"matchExpressions":[{"key":"disk","operator":"Exists"}]}]}`, want: true},
		{name: "broken annotation fits nowhere", annot: `nope`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := pod("p", "", "")
			p.Spec.NodeSelector, p.Spec.Affinity = tc.selector, tc.affinity
			if tc.annot != "" {
				p.Annotations = map[string]string{extensions.RequiredDuringExecutionAnnotation: tc.annot}
			}
			st := filterNodeAffinity(p, NewNodeInfo(n))
			if st.OK() != tc.want {
				t.Fatalf("ok = %v, want %v", st.OK(), tc.want)
			}
			if !tc.want && (st.Code != UnresolvableUnschedulable || st.Reasons[0] != "node(s) didn't match Pod's node affinity/selector") {
				t.Fatalf("status %+v", st)
			}
		})
	}
}

func TestPreferredNodeAffinity(t *testing.T) {
	p := pod("p", "", "")
	p.Spec.Affinity = &v1.Affinity{NodeAffinity: &v1.NodeAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []v1.PreferredSchedulingTerm{
		{Weight: 10, Preference: v1.NodeSelectorTerm{MatchExpressions: []v1.NodeSelectorRequirement{req("zone", v1.NodeSelectorOpIn, "a")}}},
		{Weight: 5, Preference: v1.NodeSelectorTerm{MatchExpressions: []v1.NodeSelectorRequirement{req("disk", v1.NodeSelectorOpExists)}}},
		{Weight: 50, Preference: v1.NodeSelectorTerm{}}, // empty: no-op
	}}}
	cases := []struct {
		labels map[string]string
		want   int64
	}{
		{labelsOf("zone", "a", "disk", "ssd"), 15},
		{labelsOf("zone", "a"), 10},
		{labelsOf("disk", "x"), 5},
		{nil, 0},
	}
	for _, tc := range cases {
		if got := preferredNodeAffinity(p).Score(node("n", tc.labels, "1", "1Gi")); got != tc.want {
			t.Errorf("labels %v: score %d, want %d", tc.labels, got, tc.want)
		}
	}
}
