package bootstrappolicy

import rbacv1 "k8s.io/api/rbac/v1"

// ClusterRoles are the cluster roles every cluster has.
func ClusterRoles() []rbacv1.ClusterRole {
	return append(userClusterRoles(), systemClusterRoles()...)
}

// ClusterRoleBindings are the cluster role bindings every cluster has.
func ClusterRoleBindings() []rbacv1.ClusterRoleBinding {
	return append(userClusterRoleBindings(), systemClusterRoleBindings()...)
}

// Roles are the namespaced roles every cluster has, by namespace.
func Roles() map[string][]rbacv1.Role { return systemRoles() }

// RoleBindings are the namespaced role bindings every cluster has, by
// namespace.
func RoleBindings() map[string][]rbacv1.RoleBinding { return systemRoleBindings() }
