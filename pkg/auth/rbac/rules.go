package rbac

import (
	"slices"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apiserver/pkg/authentication/serviceaccount"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
)

// ruleAllows reports whether rule permits the request described by a.
func ruleAllows(a authorizer.Attributes, rule *rbacv1.PolicyRule) bool {
	if a.IsResourceRequest() {
		resource := a.GetResource()
		if sub := a.GetSubresource(); sub != "" {
			resource += "/" + sub
		}
		return matches(rule.Verbs, a.GetVerb()) &&
			matches(rule.APIGroups, a.GetAPIGroup()) &&
			resourceMatches(rule.Resources, resource, a.GetSubresource()) &&
			nameMatches(rule.ResourceNames, a.GetName())
	}
	return matches(rule.Verbs, a.GetVerb()) && urlMatches(rule.NonResourceURLs, a.GetPath())
}

// matches: the value is listed, or the list holds the wildcard.
func matches(list []string, v string) bool {
	for _, item := range list {
		if item == rbacv1.VerbAll || item == v {
			return true
		}
	}
	return false
}

// resourceMatches accepts "*", the exact resource ("pods" or
// "pods/log"), and "*/SUB" for any resource's subresource SUB.
func resourceMatches(list []string, resource, subresource string) bool {
	for _, r := range list {
		if r == rbacv1.ResourceAll || r == resource {
			return true
		}
		if subresource != "" && r == "*/"+subresource {
			return true
		}
	}
	return false
}

// nameMatches: no names means every object; otherwise the request must
// name one of them (a list or create, which names none, does not match).
func nameMatches(names []string, name string) bool {
	return len(names) == 0 || slices.Contains(names, name)
}

// urlMatches accepts "*", the exact path, and a prefix ending in '*'.
func urlMatches(urls []string, path string) bool {
	for _, u := range urls {
		if u == rbacv1.NonResourceAll || u == path {
			return true
		}
		if prefix, ok := strings.CutSuffix(u, "*"); ok && strings.HasPrefix(path, prefix) {
			return true
		}
	}
	return false
}

// subjectMatches reports whether s names u. A ServiceAccount subject
// without a namespace (allowed in a RoleBinding) is in the binding's
// namespace.
func subjectMatches(s *rbacv1.Subject, bindingNamespace string, u user.Info) bool {
	switch s.Kind {
	case rbacv1.UserKind:
		return u.GetName() == s.Name
	case rbacv1.GroupKind:
		return slices.Contains(u.GetGroups(), s.Name)
	case rbacv1.ServiceAccountKind:
		ns := s.Namespace
		if ns == "" {
			ns = bindingNamespace
		}
		return ns != "" && u.GetName() == serviceaccount.MakeUsername(ns, s.Name)
	}
	return false
}

func bindingApplies(subjects []rbacv1.Subject, bindingNamespace string, u user.Info) (*rbacv1.Subject, bool) {
	for i := range subjects {
		if subjectMatches(&subjects[i], bindingNamespace, u) {
			return &subjects[i], true
		}
	}
	return nil, false
}
