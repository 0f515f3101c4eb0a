// Package rbac decides requests by the cluster's Roles, ClusterRoles,
// RoleBindings and ClusterRoleBindings, with upstream's RBAC semantics: a
// ClusterRoleBinding grants its role's rules everywhere, a RoleBinding
// grants its Role's (or ClusterRole's) rules in its own namespace, and
// nothing is ever denied: a request no rule allows gets no opinion, so
// another authorizer in a union may still allow it.
package rbac
