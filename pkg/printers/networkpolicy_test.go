package printers

import (
	"reflect"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestNetworkPolicyRows pins `kubectl get netpol`: NAME, POD-SELECTOR, AGE
// with the selector as upstream formats it.
func TestNetworkPolicyRows(t *testing.T) {
	cols, ok := Columns(&networkingv1.NetworkPolicyList{})
	if !ok {
		t.Fatal("no columns for NetworkPolicyList")
	}
	var names []string
	for _, c := range cols {
		names = append(names, c.Name)
	}
	if !reflect.DeepEqual(names, []string{"Name", "Pod-Selector", "Age"}) {
		t.Fatalf("columns %v", names)
	}
	list := &networkingv1.NetworkPolicyList{Items: []networkingv1.NetworkPolicy{
		{ObjectMeta: om("deny-all")},
		{ObjectMeta: om("web"), Spec: networkingv1.NetworkPolicySpec{PodSelector: metav1.LabelSelector{
			MatchLabels:      map[string]string{"app": "web"},
			MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "tier", Operator: metav1.LabelSelectorOpIn, Values: []string{"a", "b"}}},
		}}},
	}}
	rows, err := Rows(list, testNow)
	if err != nil {
		t.Fatal(err)
	}
	want := [][]any{{"deny-all", "<none>", "5m"}, {"web", "app=web,tier in (a,b)", "5m"}}
	for i, r := range rows {
		if !reflect.DeepEqual(r.Cells, want[i]) {
			t.Errorf("row %d: %v, want %v", i, r.Cells, want[i])
		}
	}
}
