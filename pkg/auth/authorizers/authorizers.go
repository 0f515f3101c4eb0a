package authorizers

import (
	"context"
	"slices"

	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/authorization/union"
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
	chain := []union.NamedAuthorizer{{AuthorizerName: "privileged", Authorizer: PrivilegedGroups(privileged...)}}
	if cfg.Node != nil {
		chain = append(chain, union.NamedAuthorizer{AuthorizerName: "node", Authorizer: cfg.Node})
	}
	if cfg.RBAC != nil {
		chain = append(chain, union.NamedAuthorizer{AuthorizerName: "rbac", Authorizer: cfg.RBAC})
	}
	return union.New(chain...)
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
