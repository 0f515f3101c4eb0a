package authorizers

import (
	"context"
	"slices"
	"strings"

	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
)

// Config names the authorizers the union consults after the privileged
// group.
type Config struct {
	// Node decides requests from agents (system:node:NAME in
	// system:nodes). nil: agents are trusted as members of a privileged
	// group, as they were before the node authorizer existed.
	Node authorizer.Authorizer
	// RBAC decides everyone else's requests.
	RBAC authorizer.Authorizer
}

// New returns the union.
func New(cfg Config) (authorizer.Authorizer, error) {
	privileged := []string{user.SystemPrivilegedGroup}
	if cfg.Node == nil {
		privileged = append(privileged, user.NodesGroup)
	}
	chain := firstDecision{PrivilegedGroups(privileged...)}
	if cfg.Node != nil {
		chain = append(chain, cfg.Node)
	}
	if cfg.RBAC != nil {
		chain = append(chain, cfg.RBAC)
	}
	return chain, nil
}

// firstDecision asks each authorizer in turn; the first to allow or deny
// decides. Otherwise the reasons of those that gave one are joined, as
// upstream 1.32's union does. (k8s.io/apiserver's union of the version
// in go.mod prefixes every reason with its authorizer's name, which
// changes the Forbidden messages clients see: "rbac: RBAC: ...".)
type firstDecision []authorizer.Authorizer

func (u firstDecision) Authorize(ctx context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
	var reasons []string
	var errs []error
	for _, z := range u {
		decision, reason, err := z.Authorize(ctx, a)
		if err != nil {
			errs = append(errs, err)
		}
		if reason != "" {
			reasons = append(reasons, reason)
		}
		if decision == authorizer.DecisionAllow || decision == authorizer.DecisionDeny {
			return decision, reason, err
		}
	}
	return authorizer.DecisionNoOpinion, strings.Join(reasons, "\n"), utilerrors.NewAggregate(errs)
}

// ConditionsAwareAuthorize decides as Authorize: no member's decision
// carries conditions.
func (u firstDecision) ConditionsAwareAuthorize(ctx context.Context, a authorizer.Attributes) authorizer.ConditionsAwareDecision {
	return authorizer.ConditionsAwareDecisionFromParts(u.Authorize(ctx, a))
}

// EvaluateConditions is never needed: no decision is conditional.
func (u firstDecision) EvaluateConditions(context.Context, authorizer.ConditionsAwareDecision, authorizer.ConditionsData) (authorizer.Decision, string, error) {
	return authorizer.DecisionDeny, "", authorizer.ErrorConditionEvaluationNotSupported
}

// PrivilegedGroups allows every request of a member of one of groups.
func PrivilegedGroups(groups ...string) authorizer.Authorizer {
	return authorizer.AuthorizerFunc(func(_ context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
		if u := a.GetUser(); u != nil {
			for _, g := range u.GetGroups() {
				if slices.Contains(groups, g) {
					return authorizer.DecisionAllow, "", nil
				}
			}
		}
		return authorizer.DecisionNoOpinion, "", nil
	})
}
