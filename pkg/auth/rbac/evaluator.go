package rbac

import (
	"context"
	"fmt"
	"strconv"

	rbacv1 "k8s.io/api/rbac/v1"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
)

// Policy is where the evaluator reads roles and bindings (informer caches
// in the server, fixed slices in tests). The binding methods return at
// least every binding that names u, one of its groups or its service
// account; a superset is allowed, the evaluator checks the subjects.
type Policy interface {
	Role(namespace, name string) (*rbacv1.Role, error)
	ClusterRole(name string) (*rbacv1.ClusterRole, error)
	RoleBindings(namespace string, u user.Info) ([]*rbacv1.RoleBinding, error)
	ClusterRoleBindings(u user.Info) ([]*rbacv1.ClusterRoleBinding, error)
}

// Evaluator is the RBAC authorizer and rule resolver.
type Evaluator struct {
	policy Policy
}

// New returns an evaluator over policy.
func New(policy Policy) *Evaluator { return &Evaluator{policy: policy} }

var _ authorizer.Authorizer = (*Evaluator)(nil)
var _ authorizer.RuleResolver = (*Evaluator)(nil)

// grant is one binding's rules as they reach a user. Its names are
// formatted only for the reason of an allowed request: every request
// visits many grants.
type grant struct {
	binding, namespace string // namespace "" for a ClusterRoleBinding
	ref                rbacv1.RoleRef
	subject            *rbacv1.Subject
	rules              []rbacv1.PolicyRule
}

// reason is upstream's "RBAC: allowed by ..." for g: the binding (a
// RoleBinding as NAME/NAMESPACE), its role and the subject that matched
// (a ServiceAccount as NAME/NAMESPACE). It is built with appends, not
// fmt: every allowed request of a user outside system:masters pays for
// it, and Sprintf's %q was a quarter of a decision's cost.
func (g grant) reason() string {
	b := make([]byte, 0, 128)
	b = append(b, "RBAC: allowed by "...)
	if g.namespace == "" {
		b = strconv.AppendQuote(append(b, "ClusterRoleBinding "...), g.binding)
	} else {
		b = strconv.AppendQuote(append(b, "RoleBinding "...), g.binding+"/"+g.namespace)
	}
	b = append(append(append(b, " of "...), g.ref.Kind...), ' ')
	b = strconv.AppendQuote(b, g.ref.Name)
	b = append(append(append(b, " to "...), g.subject.Kind...), ' ')
	subject := g.subject.Name
	if g.subject.Kind == rbacv1.ServiceAccountKind {
		ns := g.subject.Namespace
		if ns == "" {
			ns = g.namespace
		}
		subject += "/" + ns
	}
	return string(strconv.AppendQuote(b, subject))
}

// visit calls fn for the rules every binding that names u grants in
// namespace (cluster-wide bindings always; "" = only those). fn returns
// false to stop. Lookup errors (a binding to a missing role) are
// collected: they explain a refusal, and the remaining bindings still
// count.
func (e *Evaluator) visit(u user.Info, namespace string, fn func(g grant) bool) []error {
	var errs []error
	crbs, err := e.policy.ClusterRoleBindings(u)
	if err != nil {
		errs = append(errs, err)
	}
	for _, b := range crbs {
		s, ok := bindingApplies(b.Subjects, "", u)
		if !ok {
			continue
		}
		rules, err := e.roleRules(b.RoleRef, "")
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !fn(grant{binding: b.Name, ref: b.RoleRef, subject: s, rules: rules}) {
			return errs
		}
	}
	if namespace == "" {
		return errs
	}
	rbs, err := e.policy.RoleBindings(namespace, u)
	if err != nil {
		errs = append(errs, err)
	}
	for _, b := range rbs {
		s, ok := bindingApplies(b.Subjects, namespace, u)
		if !ok {
			continue
		}
		rules, err := e.roleRules(b.RoleRef, namespace)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !fn(grant{binding: b.Name, namespace: namespace, ref: b.RoleRef, subject: s, rules: rules}) {
			return errs
		}
	}
	return errs
}

// roleRules are the rules of the role ref points at.
func (e *Evaluator) roleRules(ref rbacv1.RoleRef, namespace string) ([]rbacv1.PolicyRule, error) {
	switch ref.Kind {
	case "Role":
		r, err := e.policy.Role(namespace, ref.Name)
		if err != nil {
			return nil, err
		}
		return r.Rules, nil
	case "ClusterRole":
		r, err := e.policy.ClusterRole(ref.Name)
		if err != nil {
			return nil, err
		}
		return r.Rules, nil
	}
	return nil, fmt.Errorf("unsupported role reference kind: %q", ref.Kind)
}

// Authorize allows a request some bound rule covers; otherwise it has no
// opinion, with upstream's "RBAC: ..." reason when a binding could not be
// followed.
func (e *Evaluator) Authorize(_ context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
	u := a.GetUser()
	if u == nil {
		return authorizer.DecisionNoOpinion, "", nil
	}
	var reason string
	allowed := false
	errs := e.visit(u, a.GetNamespace(), func(g grant) bool {
		for i := range g.rules {
			if ruleAllows(a, &g.rules[i]) {
				allowed = true
				reason = g.reason()
				return false
			}
		}
		return true
	})
	if allowed {
		return authorizer.DecisionAllow, reason, nil
	}
	if len(errs) > 0 {
		return authorizer.DecisionNoOpinion, "RBAC: " + utilerrors.NewAggregate(errs).Error(), nil
	}
	return authorizer.DecisionNoOpinion, "", nil
}

// RulesFor lists what u may do in namespace, as SelfSubjectRulesReview
// shows it; incomplete is true when a binding could not be followed.
func (e *Evaluator) RulesFor(_ context.Context, u user.Info, namespace string) ([]authorizer.ResourceRuleInfo, []authorizer.NonResourceRuleInfo, bool, error) {
	var res []authorizer.ResourceRuleInfo
	var nonRes []authorizer.NonResourceRuleInfo
	errs := e.visit(u, namespace, func(g grant) bool {
		for _, r := range g.rules {
			if len(r.Resources) > 0 {
				res = append(res, &authorizer.DefaultResourceRuleInfo{Verbs: r.Verbs, APIGroups: r.APIGroups, Resources: r.Resources, ResourceNames: r.ResourceNames})
			}
			if len(r.NonResourceURLs) > 0 {
				nonRes = append(nonRes, &authorizer.DefaultNonResourceRuleInfo{Verbs: r.Verbs, NonResourceURLs: r.NonResourceURLs})
			}
		}
		return true
	})
	return res, nonRes, len(errs) > 0, utilerrors.NewAggregate(errs)
}

// ConditionsAwareAuthorize: RBAC decisions never carry conditions.
func (e *Evaluator) ConditionsAwareAuthorize(ctx context.Context, a authorizer.Attributes) authorizer.ConditionsAwareDecision {
	return authorizer.ConditionsAwareDecisionFromParts(e.Authorize(ctx, a))
}

// EvaluateConditions is never reached: no decision has conditions.
func (e *Evaluator) EvaluateConditions(context.Context, authorizer.ConditionsAwareDecision, authorizer.ConditionsData) (authorizer.Decision, string, error) {
	return authorizer.DecisionNoOpinion, "", nil
}
