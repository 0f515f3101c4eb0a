package bootstrappolicy

import rbacv1 "k8s.io/api/rbac/v1"

// systemClusterRoles are the roles of the cluster's own parts: the
// scheduler, each controller, node proxies, monitoring.
func systemClusterRoles() []rbacv1.ClusterRole { return nil }

// systemClusterRoleBindings bind the system roles to the identities the
// server's components use.
func systemClusterRoleBindings() []rbacv1.ClusterRoleBinding { return nil }

// systemRoles are the namespaced system roles, by namespace.
func systemRoles() map[string][]rbacv1.Role { return nil }

// systemRoleBindings are the namespaced system role bindings, by namespace.
func systemRoleBindings() map[string][]rbacv1.RoleBinding { return nil }
