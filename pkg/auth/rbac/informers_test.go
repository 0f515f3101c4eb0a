package rbac

import (
	"fmt"
	"slices"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authentication/user"
)

// The subject index hands the evaluator only the bindings that name the
// user, one of its groups or its service account, out of many naming
// others.
func TestListerPolicyFindsBindingsBySubject(t *testing.T) {
	p := &fixedPolicy{}
	rb := func(ns, name string, subjects ...rbacv1.Subject) {
		p.bindings = append(p.bindings, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Subjects: subjects})
	}
	crb := func(name string, subjects ...rbacv1.Subject) {
		p.cBinds = append(p.cBinds, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name}, Subjects: subjects})
	}
	for i := range 1000 {
		rb("ns1", fmt.Sprint("other-", i), rbacv1.Subject{Kind: rbacv1.UserKind, Name: fmt.Sprint("user-", i)})
		crb(fmt.Sprint("other-", i), rbacv1.Subject{Kind: rbacv1.GroupKind, Name: fmt.Sprint("group-", i)})
	}
	rb("ns1", "by-name", rbacv1.Subject{Kind: rbacv1.UserKind, Name: "system:serviceaccount:ns1:sa"})
	rb("ns1", "by-sa-implicit-ns", rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: "sa"})
	rb("ns2", "other-namespace", rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: "sa"})
	rb("ns1", "by-group-and-name", rbacv1.Subject{Kind: rbacv1.GroupKind, Name: "g"}, rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: "sa", Namespace: "ns1"})
	rb("ns1", "sa-elsewhere", rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: "sa", Namespace: "ns2"})
	crb("by-group", rbacv1.Subject{Kind: rbacv1.GroupKind, Name: "system:serviceaccounts"})
	crb("sa-without-namespace", rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: "sa"})
	crb("by-sa", rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: "sa", Namespace: "ns1"})

	policy := indexed(t, p)
	u := &user.DefaultInfo{Name: "system:serviceaccount:ns1:sa", Groups: []string{"system:serviceaccounts", "g", "g"}}
	rbs, err := policy.RoleBindings("ns1", u)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, b := range rbs {
		names = append(names, b.Name)
	}
	slices.Sort(names)
	if want := []string{"by-group-and-name", "by-name", "by-sa-implicit-ns"}; !slices.Equal(names, want) {
		t.Errorf("role bindings %v, want %v", names, want)
	}
	crbs, err := policy.ClusterRoleBindings(u)
	if err != nil {
		t.Fatal(err)
	}
	names = names[:0]
	for _, b := range crbs {
		names = append(names, b.Name)
	}
	slices.Sort(names)
	if want := []string{"by-group", "by-sa"}; !slices.Equal(names, want) {
		t.Errorf("cluster role bindings %v, want %v", names, want)
	}
}
