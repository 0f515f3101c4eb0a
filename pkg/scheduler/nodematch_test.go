package scheduler

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestNodeMatchesOperators(t *testing.T) {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", Labels: map[string]string{"zone": "a", "gpu": "2", "disk": "ssd"}}}
	req := func(key string, op corev1.NodeSelectorOperator, vals ...string) corev1.NodeSelectorRequirement {
		return corev1.NodeSelectorRequirement{Key: key, Operator: op, Values: vals}
	}
	term := func(exprs ...corev1.NodeSelectorRequirement) corev1.NodeSelectorTerm {
		return corev1.NodeSelectorTerm{MatchExpressions: exprs}
	}
	sel := func(terms ...corev1.NodeSelectorTerm) *corev1.NodeSelector {
		return &corev1.NodeSelector{NodeSelectorTerms: terms}
	}
	cases := []struct {
		name string
		sel  *corev1.NodeSelector
		want bool
	}{
		{"nil selector", nil, true},
		{"no terms", sel(), false},
		{"empty term", sel(corev1.NodeSelectorTerm{}), false},
		{"In", sel(term(req("zone", corev1.NodeSelectorOpIn, "a", "b"))), true},
		{"In miss", sel(term(req("zone", corev1.NodeSelectorOpIn, "b"))), false},
		{"In absent key", sel(term(req("rack", corev1.NodeSelectorOpIn, "a"))), false},
		{"NotIn", sel(term(req("zone", corev1.NodeSelectorOpNotIn, "b"))), true},
		{"NotIn hit", sel(term(req("zone", corev1.NodeSelectorOpNotIn, "a"))), false},
		{"NotIn absent key", sel(term(req("rack", corev1.NodeSelectorOpNotIn, "a"))), true},
		{"Exists", sel(term(req("disk", corev1.NodeSelectorOpExists))), true},
		{"Exists miss", sel(term(req("rack", corev1.NodeSelectorOpExists))), false},
		{"DoesNotExist", sel(term(req("rack", corev1.NodeSelectorOpDoesNotExist))), true},
		{"DoesNotExist miss", sel(term(req("disk", corev1.NodeSelectorOpDoesNotExist))), false},
		{"Gt", sel(term(req("gpu", corev1.NodeSelectorOpGt, "1"))), true},
		{"Gt equal", sel(term(req("gpu", corev1.NodeSelectorOpGt, "2"))), false},
		{"Lt", sel(term(req("gpu", corev1.NodeSelectorOpLt, "3"))), true},
		{"Lt non-numeric label", sel(term(req("zone", corev1.NodeSelectorOpLt, "3"))), false},
		{"Gt two values", sel(term(req("gpu", corev1.NodeSelectorOpGt, "1", "2"))), false},
		{"unknown operator", sel(term(req("zone", "Near", "a"))), false},
		{"ANDed expressions", sel(term(req("zone", corev1.NodeSelectorOpIn, "a"), req("disk", corev1.NodeSelectorOpIn, "hdd"))), false},
		{"ORed terms", sel(term(req("zone", corev1.NodeSelectorOpIn, "b")), term(req("disk", corev1.NodeSelectorOpIn, "ssd"))), true},
		{"matchFields name", sel(corev1.NodeSelectorTerm{MatchFields: []corev1.NodeSelectorRequirement{req("metadata.name", corev1.NodeSelectorOpIn, "n1")}}), true},
		{"matchFields name miss", sel(corev1.NodeSelectorTerm{MatchFields: []corev1.NodeSelectorRequirement{req("metadata.name", corev1.NodeSelectorOpIn, "n2")}}), false},
		{"matchFields NotIn", sel(corev1.NodeSelectorTerm{MatchFields: []corev1.NodeSelectorRequirement{req("metadata.name", corev1.NodeSelectorOpNotIn, "n2")}}), true},
		{"matchFields unknown field", sel(corev1.NodeSelectorTerm{MatchFields: []corev1.NodeSelectorRequirement{req("metadata.uid", corev1.NodeSelectorOpIn, "x")}}), false},
		{"fields and expressions ANDed", sel(corev1.NodeSelectorTerm{
			MatchExpressions: []corev1.NodeSelectorRequirement{req("zone", corev1.NodeSelectorOpIn, "b")},
			MatchFields:      []corev1.NodeSelectorRequirement{req("metadata.name", corev1.NodeSelectorOpIn, "n1")},
		}), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := NodeMatches(tc.sel, node); got != tc.want {
				t.Fatalf("NodeMatches = %v, want %v", got, tc.want)
			}
		})
	}
}
