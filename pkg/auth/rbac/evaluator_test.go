package rbac

import (
	"context"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
)

func TestEvaluator(t *testing.T) {
	p := &fixedPolicy{
		cRoles: []*rbacv1.ClusterRole{
			{ObjectMeta: metav1.ObjectMeta{Name: "logs"}, Rules: []rbacv1.PolicyRule{{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"pods/log"}}}},
			{ObjectMeta: metav1.ObjectMeta{Name: "scaler"}, Rules: []rbacv1.PolicyRule{{Verbs: []string{"update"}, APIGroups: []string{"*"}, Resources: []string{"*/scale"}}}},
			{ObjectMeta: metav1.ObjectMeta{Name: "health"}, Rules: []rbacv1.PolicyRule{{Verbs: []string{"get"}, NonResourceURLs: []string{"/healthz/*"}}}},
		},
		roles:  []*rbacv1.Role{{ObjectMeta: metav1.ObjectMeta{Name: "one-cm", Namespace: "dev"}, Rules: []rbacv1.PolicyRule{{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"configmaps"}, ResourceNames: []string{"app"}}}}},
		cBinds: []*rbacv1.ClusterRoleBinding{{ObjectMeta: metav1.ObjectMeta{Name: "health"}, RoleRef: rbacv1.RoleRef{Kind: "ClusterRole", Name: "health"}, Subjects: []rbacv1.Subject{{Kind: "Group", Name: "ops"}}}},
		bindings: []*rbacv1.RoleBinding{
			{ObjectMeta: metav1.ObjectMeta{Name: "logs", Namespace: "dev"}, RoleRef: rbacv1.RoleRef{Kind: "ClusterRole", Name: "logs"}, Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "ci"}}},
			{ObjectMeta: metav1.ObjectMeta{Name: "scale", Namespace: "dev"}, RoleRef: rbacv1.RoleRef{Kind: "ClusterRole", Name: "scaler"}, Subjects: []rbacv1.Subject{{Kind: "User", Name: "alice"}}},
			{ObjectMeta: metav1.ObjectMeta{Name: "cm", Namespace: "dev"}, RoleRef: rbacv1.RoleRef{Kind: "Role", Name: "one-cm"}, Subjects: []rbacv1.Subject{{Kind: "User", Name: "alice"}}},
		},
	}
	alice := &user.DefaultInfo{Name: "alice"}
	ci := &user.DefaultInfo{Name: "system:serviceaccount:dev:ci"}
	ops := &user.DefaultInfo{Name: "op", Groups: []string{"ops"}}
	res := func(u user.Info, verb, group, resource, sub, ns, name string) authorizer.AttributesRecord {
		return authorizer.AttributesRecord{User: u, Verb: verb, APIGroup: group, Resource: resource, Subresource: sub, Namespace: ns, Name: name, ResourceRequest: true}
	}
	for _, tc := range []struct {
		name  string
		a     authorizer.AttributesRecord
		allow bool
	}{
		{"sa subject defaults to the binding's namespace", res(ci, "get", "", "pods", "log", "dev", "p"), true},
		{"pods/log does not grant pods", res(ci, "get", "", "pods", "", "dev", "p"), false},
		{"a RoleBinding grants only in its namespace", res(ci, "get", "", "pods", "log", "prod", "p"), false},
		{"*/scale matches any scale", res(alice, "update", "apps", "deployments", "scale", "dev", "web"), true},
		{"*/scale does not match the resource", res(alice, "update", "apps", "deployments", "", "dev", "web"), false},
		{"resourceNames allow the named object", res(alice, "get", "", "configmaps", "", "dev", "app"), true},
		{"resourceNames refuse others", res(alice, "get", "", "configmaps", "", "dev", "other"), false},
		{"resourceNames refuse unnamed requests", res(alice, "get", "", "configmaps", "", "dev", ""), false},
		{"URL prefix", authorizer.AttributesRecord{User: ops, Verb: "get", Path: "/healthz/etcd"}, true},
		{"URL prefix is not the bare path", authorizer.AttributesRecord{User: ops, Verb: "get", Path: "/healthz"}, false},
	} {
		d, _, err := New(p).Authorize(context.Background(), tc.a)
		if err != nil || (d == authorizer.DecisionAllow) != tc.allow {
			t.Errorf("%s: decision %v err %v, want allow=%v", tc.name, d, err, tc.allow)
		}
	}
}

// TestAllowedReason: an allowed decision names the binding, its role and
// the matching subject as upstream's RBAC authorizer does, a
// ServiceAccount with its namespace (the binding's when the subject has
// none).
func TestAllowedReason(t *testing.T) {
	p := &fixedPolicy{
		cRoles: []*rbacv1.ClusterRole{{ObjectMeta: metav1.ObjectMeta{Name: "view"}, Rules: []rbacv1.PolicyRule{{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"pods"}}}}},
		roles:  []*rbacv1.Role{{ObjectMeta: metav1.ObjectMeta{Name: "cm", Namespace: "dev"}, Rules: []rbacv1.PolicyRule{{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"configmaps"}}}}},
		cBinds: []*rbacv1.ClusterRoleBinding{
			{ObjectMeta: metav1.ObjectMeta{Name: "ops-view"}, RoleRef: rbacv1.RoleRef{Kind: "ClusterRole", Name: "view"}, Subjects: []rbacv1.Subject{{Kind: "Group", Name: "ops"}}},
			{ObjectMeta: metav1.ObjectMeta{Name: "bot-view"}, RoleRef: rbacv1.RoleRef{Kind: "ClusterRole", Name: "view"}, Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "bot", Namespace: "tools"}}},
		},
		bindings: []*rbacv1.RoleBinding{
			{ObjectMeta: metav1.ObjectMeta{Name: "alice-cm", Namespace: "dev"}, RoleRef: rbacv1.RoleRef{Kind: "Role", Name: "cm"}, Subjects: []rbacv1.Subject{{Kind: "User", Name: "alice"}}},
			{ObjectMeta: metav1.ObjectMeta{Name: "ci-cm", Namespace: "dev"}, RoleRef: rbacv1.RoleRef{Kind: "Role", Name: "cm"}, Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "ci"}}},
		},
	}
	get := func(u user.Info, resource, ns string) authorizer.AttributesRecord {
		return authorizer.AttributesRecord{User: u, Verb: "get", Resource: resource, Namespace: ns, Name: "x", ResourceRequest: true}
	}
	for _, tc := range []struct {
		a    authorizer.AttributesRecord
		want string
	}{
		{get(&user.DefaultInfo{Name: "alice"}, "configmaps", "dev"), `RBAC: allowed by RoleBinding "alice-cm/dev" of Role "cm" to User "alice"`},
		{get(&user.DefaultInfo{Name: "system:serviceaccount:dev:ci"}, "configmaps", "dev"), `RBAC: allowed by RoleBinding "ci-cm/dev" of Role "cm" to ServiceAccount "ci/dev"`},
		{get(&user.DefaultInfo{Name: "op", Groups: []string{"ops"}}, "pods", "dev"), `RBAC: allowed by ClusterRoleBinding "ops-view" of ClusterRole "view" to Group "ops"`},
		{get(&user.DefaultInfo{Name: "system:serviceaccount:tools:bot"}, "pods", "dev"), `RBAC: allowed by ClusterRoleBinding "bot-view" of ClusterRole "view" to ServiceAccount "bot/tools"`},
	} {
		d, reason, err := New(p).Authorize(context.Background(), tc.a)
		if d != authorizer.DecisionAllow || err != nil || reason != tc.want {
			t.Errorf("%s: decision %v, reason %q, err %v; want allowed with %q", tc.a.User.GetName(), d, reason, err, tc.want)
		}
	}
}
