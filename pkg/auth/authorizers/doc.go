// Package authorizers assembles the server's authorizer: members of
// system:masters may do anything (so the admin and the server's own
// clients never depend on stored policy), then the node authorizer for
// agents, then RBAC. The first to allow wins; none ever denies.
package authorizers
