package rbac

import (
	"context"
	"fmt"
	"math/rand"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	rbaclisters "k8s.io/client-go/listers/rbac/v1"
	"k8s.io/client-go/tools/cache"
)

// fixedPolicy is a Policy over slices.
type fixedPolicy struct {
	roles    []*rbacv1.Role
	cRoles   []*rbacv1.ClusterRole
	bindings []*rbacv1.RoleBinding
	cBinds   []*rbacv1.ClusterRoleBinding
}

func (p *fixedPolicy) Role(ns, name string) (*rbacv1.Role, error) {
	for _, r := range p.roles {
		if r.Namespace == ns && r.Name == name {
			return r, nil
		}
	}
	return nil, apierrors.NewNotFound(rbacv1.Resource("role"), name)
}

func (p *fixedPolicy) ClusterRole(name string) (*rbacv1.ClusterRole, error) {
	for _, r := range p.cRoles {
		if r.Name == name {
			return r, nil
		}
	}
	return nil, apierrors.NewNotFound(rbacv1.Resource("clusterrole"), name)
}

func (p *fixedPolicy) RoleBindings(ns string, _ user.Info) ([]*rbacv1.RoleBinding, error) {
	var out []*rbacv1.RoleBinding
	for _, b := range p.bindings {
		if b.Namespace == ns {
			out = append(out, b)
		}
	}
	return out, nil
}

func (p *fixedPolicy) ClusterRoleBindings(user.Info) ([]*rbacv1.ClusterRoleBinding, error) {
	return p.cBinds, nil
}

// The small universe random policies and requests are drawn from, so that
// matches are frequent.
var (
	uVerbs      = []string{"get", "list", "create", "delete", "*"}
	uGroups     = []string{"", "apps", "*"}
	uResources  = []string{"pods", "pods/log", "pods/exec", "deployments", "deployments/scale", "*/scale", "*"}
	uNames      = []string{"a", "b"}
	uURLs       = []string{"/healthz", "/api", "/api/*", "/apis/apps", "*"}
	uPaths      = []string{"/healthz", "/api", "/api/v1", "/apis/apps", "/version"}
	uUsers      = []string{"alice", "bob", "system:serviceaccount:ns1:sa", "system:serviceaccount:ns2:sa"}
	uUserGroups = []string{"g1", "g2"}
	uNamespaces = []string{"ns1", "ns2"}
)

func pick(r *rand.Rand, from []string) string { return from[r.Intn(len(from))] }

func some(r *rand.Rand, from []string, max int) []string {
	n := r.Intn(max + 1)
	out := make([]string, 0, n)
	for i := 0; i < n; i++ {
		out = append(out, pick(r, from))
	}
	return out
}

func randomRules(r *rand.Rand, namespaced bool) []rbacv1.PolicyRule {
	var rules []rbacv1.PolicyRule
	for i := r.Intn(3); i > 0; i-- {
		if !namespaced && r.Intn(4) == 0 {
			rules = append(rules, rbacv1.PolicyRule{Verbs: some(r, uVerbs, 2), NonResourceURLs: some(r, uURLs, 2)})
			continue
		}
		rule := rbacv1.PolicyRule{Verbs: some(r, uVerbs, 2), APIGroups: some(r, uGroups, 2), Resources: some(r, uResources, 2)}
		if r.Intn(3) == 0 {
			rule.ResourceNames = some(r, uNames, 2)
		}
		rules = append(rules, rule)
	}
	return rules
}

func randomSubjects(r *rand.Rand) []rbacv1.Subject {
	var out []rbacv1.Subject
	for i := r.Intn(3); i > 0; i-- {
		switch r.Intn(3) {
		case 0:
			out = append(out, rbacv1.Subject{Kind: rbacv1.UserKind, Name: pick(r, uUsers)})
		case 1:
			out = append(out, rbacv1.Subject{Kind: rbacv1.GroupKind, Name: pick(r, uUserGroups)})
		default:
			ns := ""
			if r.Intn(2) == 0 {
				ns = pick(r, uNamespaces)
			}
			out = append(out, rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: "sa", Namespace: ns})
		}
	}
	return out
}

func randomPolicy(r *rand.Rand) *fixedPolicy {
	p := &fixedPolicy{}
	roleNames := []string{"r1", "r2", "missing"}
	for i, name := range roleNames[:2] {
		p.cRoles = append(p.cRoles, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: randomRules(r, false)})
		for _, ns := range uNamespaces {
			if r.Intn(2) == 0 {
				p.roles = append(p.roles, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: roleNames[i], Namespace: ns}, Rules: randomRules(r, true)})
			}
		}
	}
	for i := r.Intn(3); i > 0; i-- {
		p.cBinds = append(p.cBinds, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprint("c", i)},
			RoleRef: rbacv1.RoleRef{Kind: "ClusterRole", Name: pick(r, roleNames)}, Subjects: randomSubjects(r)})
	}
	for i := r.Intn(4); i > 0; i-- {
		kind := "Role"
		if r.Intn(2) == 0 {
			kind = "ClusterRole"
		}
		p.bindings = append(p.bindings, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprint("b", i), Namespace: pick(r, uNamespaces)},
			RoleRef: rbacv1.RoleRef{Kind: kind, Name: pick(r, roleNames)}, Subjects: randomSubjects(r)})
	}
	return p
}

func randomRequest(r *rand.Rand) authorizer.AttributesRecord {
	u := &user.DefaultInfo{Name: pick(r, uUsers), Groups: some(r, uUserGroups, 2)}
	if r.Intn(5) == 0 {
		return authorizer.AttributesRecord{User: u, Verb: pick(r, uVerbs[:4]), Path: pick(r, uPaths)}
	}
	a := authorizer.AttributesRecord{User: u, Verb: pick(r, uVerbs[:4]), APIGroup: pick(r, uGroups[:2]), ResourceRequest: true}
	res := pick(r, []string{"pods", "pods/log", "pods/exec", "deployments", "deployments/scale", "replicasets/scale"})
	a.Resource, a.Subresource, _ = strings.Cut(res, "/")
	if r.Intn(3) > 0 {
		a.Namespace = pick(r, uNamespaces)
	}
	if r.Intn(2) == 0 {
		a.Name = pick(r, uNames)
	}
	return a
}

// referenceAllows is the plain reading of RBAC: collect every rule
// granted to the user where the request happens, then look for one that
// covers the request field by field.
func referenceAllows(p *fixedPolicy, a authorizer.AttributesRecord) bool {
	u := a.User
	isUser := func(s rbacv1.Subject, bindingNS string) bool {
		switch s.Kind {
		case rbacv1.UserKind:
			return s.Name == u.GetName()
		case rbacv1.GroupKind:
			for _, g := range u.GetGroups() {
				if g == s.Name {
					return true
				}
			}
		case rbacv1.ServiceAccountKind:
			ns := s.Namespace
			if ns == "" {
				ns = bindingNS
			}
			return ns != "" && "system:serviceaccount:"+ns+":"+s.Name == u.GetName()
		}
		return false
	}
	var granted []rbacv1.PolicyRule
	rulesOf := func(ref rbacv1.RoleRef, ns string) []rbacv1.PolicyRule {
		if ref.Kind == "ClusterRole" {
			for _, r := range p.cRoles {
				if r.Name == ref.Name {
					return r.Rules
				}
			}
			return nil
		}
		for _, r := range p.roles {
			if r.Name == ref.Name && r.Namespace == ns {
				return r.Rules
			}
		}
		return nil
	}
	for _, b := range p.cBinds {
		for _, s := range b.Subjects {
			if isUser(s, "") {
				granted = append(granted, rulesOf(b.RoleRef, "")...)
				break
			}
		}
	}
	for _, b := range p.bindings {
		if a.Namespace == "" || b.Namespace != a.Namespace {
			continue
		}
		for _, s := range b.Subjects {
			if isUser(s, b.Namespace) {
				granted = append(granted, rulesOf(b.RoleRef, b.Namespace)...)
				break
			}
		}
	}
	has := func(list []string, v string) bool {
		for _, x := range list {
			if x == v || x == "*" {
				return true
			}
		}
		return false
	}
	for _, rule := range granted {
		if !has(rule.Verbs, a.Verb) {
			continue
		}
		if !a.ResourceRequest {
			for _, u := range rule.NonResourceURLs {
				if u == "*" || u == a.Path || (strings.HasSuffix(u, "*") && strings.HasPrefix(a.Path, u[:len(u)-1])) {
					return true
				}
			}
			continue
		}
		if !has(rule.APIGroups, a.APIGroup) {
			continue
		}
		full := a.Resource
		if a.Subresource != "" {
			full += "/" + a.Subresource
		}
		resOK := false
		for _, r := range rule.Resources {
			if r == "*" || r == full || (a.Subresource != "" && r == "*/"+a.Subresource) {
				resOK = true
			}
		}
		if !resOK {
			continue
		}
		if len(rule.ResourceNames) == 0 {
			return true
		}
		for _, n := range rule.ResourceNames {
			if n == a.Name && a.Name != "" {
				return true
			}
		}
	}
	return false
}

// FuzzEvaluator compares the evaluator with referenceAllows over random
// policies and requests.
func FuzzEvaluator(f *testing.F) {
	for seed := int64(0); seed < 20; seed++ {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, seed int64) {
		r := rand.New(rand.NewSource(seed))
		p := randomPolicy(r)
		// The evaluator over every binding, and over the informers'
		// subject index as the server runs it.
		evaluators := map[string]*Evaluator{"all bindings": New(p), "subject index": New(indexed(t, p))}
		for i := 0; i < 50; i++ {
			a := randomRequest(r)
			want := referenceAllows(p, a)
			for name, e := range evaluators {
				d, reason, err := e.Authorize(context.Background(), a)
				if err != nil {
					t.Fatal(err)
				}
				if (d == authorizer.DecisionAllow) != want {
					t.Fatalf("seed %d, %s: request %+v user %+v: evaluator %v (%s), reference allows=%v\npolicy: %s", seed, name, a, a.User, d, reason, want, dump(p))
				}
			}
		}
	})
}

// indexed is p in informer-style caches with the subject index.
func indexed(t *testing.T, p *fixedPolicy) *ListerPolicy {
	roles := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	cRoles := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	rbs := cache.NewIndexer(cache.MetaNamespaceKeyFunc, BindingIndexers())
	crbs := cache.NewIndexer(cache.MetaNamespaceKeyFunc, BindingIndexers())
	add := func(idx cache.Indexer, obj any) {
		if err := idx.Add(obj); err != nil {
			t.Fatal(err)
		}
	}
	for _, o := range p.roles {
		add(roles, o)
	}
	for _, o := range p.cRoles {
		add(cRoles, o)
	}
	for _, o := range p.bindings {
		add(rbs, o)
	}
	for _, o := range p.cBinds {
		add(crbs, o)
	}
	return NewIndexedPolicy(rbaclisters.NewRoleLister(roles), rbaclisters.NewClusterRoleLister(cRoles), rbs, crbs)
}

func dump(p *fixedPolicy) string {
	var b strings.Builder
	for _, r := range p.cRoles {
		fmt.Fprintf(&b, "clusterrole %s %v\n", r.Name, r.Rules)
	}
	for _, r := range p.roles {
		fmt.Fprintf(&b, "role %s/%s %v\n", r.Namespace, r.Name, r.Rules)
	}
	for _, c := range p.cBinds {
		fmt.Fprintf(&b, "crb %s -> %v %v\n", c.Name, c.RoleRef, c.Subjects)
	}
	for _, c := range p.bindings {
		fmt.Fprintf(&b, "rb %s/%s -> %v %v\n", c.Namespace, c.Name, c.RoleRef, c.Subjects)
	}
	return b.String()
}
