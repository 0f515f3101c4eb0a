package rbac

import (
	"context"
	"fmt"
	"sort"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	rbacvalidation "k8s.io/component-helpers/auth/rbac/validation"
)

// Guard refuses writes of roles and bindings that would give away more
// than the writer holds, as upstream's RBAC storage does: a Role or
// ClusterRole may hold only rules the writer has (in that namespace),
// unless the writer may "escalate" it; a binding may point only at a role
// whose rules the writer has, unless the writer may "bind" it. Members
// of system:masters write freely.
type Guard struct {
	// Authorizer answers the escalate and bind checks.
	Authorizer authorizer.Authorizer
	// Rules lists what the writer holds.
	Rules *Evaluator
}

// Check decides a create or update of obj (a Role, ClusterRole,
// RoleBinding or ClusterRoleBinding) by u.
func (g *Guard) Check(ctx context.Context, u user.Info, obj runtime.Object) error {
	for _, grp := range u.GetGroups() {
		if grp == user.SystemPrivilegedGroup {
			return nil
		}
	}
	switch o := obj.(type) {
	case *rbacv1.Role:
		return g.checkRole(ctx, u, "roles", o.Namespace, o.Name, o.Rules)
	case *rbacv1.ClusterRole:
		return g.checkRole(ctx, u, "clusterroles", "", o.Name, o.Rules)
	case *rbacv1.RoleBinding:
		return g.checkBinding(ctx, u, "rolebindings", o.Namespace, o.Name, o.RoleRef)
	case *rbacv1.ClusterRoleBinding:
		return g.checkBinding(ctx, u, "clusterrolebindings", "", o.Name, o.RoleRef)
	}
	return nil
}

func (g *Guard) allowed(ctx context.Context, u user.Info, verb, resource, namespace, name string) bool {
	d, _, err := g.Authorizer.Authorize(ctx, authorizer.AttributesRecord{User: u, Verb: verb, APIGroup: rbacv1.GroupName,
		Resource: resource, Namespace: namespace, Name: name, ResourceRequest: true})
	return err == nil && d == authorizer.DecisionAllow
}

func (g *Guard) checkRole(ctx context.Context, u user.Info, resource, namespace, name string, rules []rbacv1.PolicyRule) error {
	if g.allowed(ctx, u, "escalate", resource, namespace, name) {
		return nil
	}
	if err := g.covered(ctx, u, namespace, rules); err != nil {
		return apierrors.NewForbidden(rbacv1.Resource(resource), name, err)
	}
	return nil
}

func (g *Guard) checkBinding(ctx context.Context, u user.Info, resource, namespace, name string, ref rbacv1.RoleRef) error {
	roleResource := "clusterroles"
	if ref.Kind == "Role" {
		roleResource = "roles"
	}
	// bind is asked where the binding is made, so a namespace's admin
	// can be let bind a ClusterRole in that namespace only.
	if g.allowed(ctx, u, "bind", roleResource, namespace, ref.Name) {
		return nil
	}
	rules, err := g.Rules.roleRules(ref, namespace)
	if err != nil {
		return apierrors.NewForbidden(rbacv1.Resource(resource), name, err)
	}
	if err := g.covered(ctx, u, namespace, rules); err != nil {
		return apierrors.NewForbidden(rbacv1.Resource(resource), name, err)
	}
	return nil
}

// covered reports the rules u lacks, in upstream's wording.
func (g *Guard) covered(ctx context.Context, u user.Info, namespace string, rules []rbacv1.PolicyRule) error {
	resRules, urlRules, _, resolveErr := g.Rules.RulesFor(ctx, u, namespace)
	var owner []rbacv1.PolicyRule
	for _, r := range resRules {
		owner = append(owner, rbacv1.PolicyRule{Verbs: r.GetVerbs(), APIGroups: r.GetAPIGroups(), Resources: r.GetResources(), ResourceNames: r.GetResourceNames()})
	}
	for _, r := range urlRules {
		owner = append(owner, rbacv1.PolicyRule{Verbs: r.GetVerbs(), NonResourceURLs: r.GetNonResourceURLs()})
	}
	ok, missing := rbacvalidation.Covers(owner, rules)
	if ok {
		return nil
	}
	var lines []string
	seen := map[string]bool{}
	for _, r := range compact(missing) {
		if s := compactString(r); !seen[s] {
			seen[s] = true
			lines = append(lines, s)
		}
	}
	sort.Strings(lines)
	msg := fmt.Sprintf("user %q (groups=%q) is attempting to grant RBAC permissions not currently held:\n%s", u.GetName(), u.GetGroups(), strings.Join(lines, "\n"))
	if resolveErr != nil {
		msg += fmt.Sprintf("; resolution errors: %v", []error{resolveErr})
	}
	return fmt.Errorf("%s", msg)
}

// compact merges the verbs of missing rules that name the same single
// group and resource without resource names, as upstream prints them.
func compact(rules []rbacv1.PolicyRule) []rbacv1.PolicyRule {
	type key struct{ group, resource string }
	var out []rbacv1.PolicyRule
	merged := map[key]int{}
	for _, r := range rules {
		if len(r.APIGroups) == 1 && len(r.Resources) == 1 && len(r.ResourceNames) == 0 && len(r.NonResourceURLs) == 0 {
			k := key{r.APIGroups[0], r.Resources[0]}
			if i, ok := merged[k]; ok {
				for _, v := range r.Verbs {
					if !contains(out[i].Verbs, v) {
						out[i].Verbs = append(out[i].Verbs, v)
					}
				}
				continue
			}
			merged[k] = len(out)
		}
		out = append(out, *r.DeepCopy())
	}
	return out
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// compactString prints only the fields a rule sets, e.g.
// {APIGroups:[""], Resources:["secrets"], Verbs:["get"]}.
func compactString(r rbacv1.PolicyRule) string {
	var parts []string
	add := func(name string, v []string) {
		if len(v) > 0 {
			parts = append(parts, fmt.Sprintf("%s:%q", name, v))
		}
	}
	add("APIGroups", r.APIGroups)
	add("Resources", r.Resources)
	add("NonResourceURLs", r.NonResourceURLs)
	add("ResourceNames", r.ResourceNames)
	add("Verbs", r.Verbs)
	return "{" + strings.Join(parts, ", ") + "}"
}
