package bootstrappolicy

import (
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
)

// Every binding refers to a role that exists, names are unique, and every
// rule says what it allows.
func TestSystemPolicyIsConsistent(t *testing.T) {
	clusterRoles := map[string]bool{}
	for _, r := range systemClusterRoles() {
		if clusterRoles[r.Name] {
			t.Errorf("cluster role %s twice", r.Name)
		}
		clusterRoles[r.Name] = true
		checkRules(t, r.Name, r.Rules)
	}
	seen := map[string]bool{}
	for _, b := range systemClusterRoleBindings() {
		if seen[b.Name] {
			t.Errorf("cluster role binding %s twice", b.Name)
		}
		seen[b.Name] = true
		if b.RoleRef.Kind != "ClusterRole" || !clusterRoles[b.RoleRef.Name] {
			t.Errorf("cluster role binding %s refers to missing %s %s", b.Name, b.RoleRef.Kind, b.RoleRef.Name)
		}
	}
	roles := systemRoles()
	for ns, bindings := range systemRoleBindings() {
		for _, b := range bindings {
			found := false
			for _, r := range roles[ns] {
				found = found || r.Name == b.RoleRef.Name
			}
			if !found {
				t.Errorf("role binding %s/%s refers to missing role %s", ns, b.Name, b.RoleRef.Name)
			}
		}
	}
	for ns, rs := range roles {
		for _, r := range rs {
			if r.Namespace != ns {
				t.Errorf("role %s listed under %s", r.Name, ns)
			}
			checkRules(t, r.Name, r.Rules)
		}
	}
	for _, sa := range ControllerServiceAccounts() {
		if !clusterRoles["system:controller:"+sa] || !seen["system:controller:"+sa] {
			t.Errorf("controller %s has no role or binding", sa)
		}
	}
}

func checkRules(t *testing.T, name string, rules []rbacv1.PolicyRule) {
	t.Helper()
	for i, r := range rules {
		if len(r.Verbs) == 0 || (len(r.Resources) == 0) == (len(r.NonResourceURLs) == 0) || (len(r.Resources) > 0 && len(r.APIGroups) == 0) {
			t.Errorf("%s rule %d is malformed: %+v", name, i, r)
		}
	}
}
