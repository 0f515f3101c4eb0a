package registry

import (
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// rbacResources are rbac.authorization.k8s.io/v1: Roles and RoleBindings
// in namespaces, ClusterRoles and ClusterRoleBindings across the cluster.
// They are plain stored objects; the authorizer reads them through
// informers, and whether a caller may write a given rule or binding
// (escalation) is decided before the write reaches the store.
func rbacResources(add func(*Resource, string) *Resource) {
	const group = "rbac.authorization.k8s.io"
	gv := func(plural, singular, kind string, namespaced bool, n, l func() runtime.Object) *Resource {
		return &Resource{Group: group, Version: "v1", Plural: plural, Singular: singular, Kind: kind, Namespaced: namespaced, New: n, NewList: l}
	}
	add(gv("roles", "role", "Role", true,
		func() runtime.Object { return &rbacv1.Role{} }, func() runtime.Object { return &rbacv1.RoleList{} }), "roles")
	add(gv("rolebindings", "rolebinding", "RoleBinding", true,
		func() runtime.Object { return &rbacv1.RoleBinding{} }, func() runtime.Object { return &rbacv1.RoleBindingList{} }), "rolebindings")
	add(gv("clusterroles", "clusterrole", "ClusterRole", false,
		func() runtime.Object { return &rbacv1.ClusterRole{} }, func() runtime.Object { return &rbacv1.ClusterRoleList{} }), "clusterroles")
	add(gv("clusterrolebindings", "clusterrolebinding", "ClusterRoleBinding", false,
		func() runtime.Object { return &rbacv1.ClusterRoleBinding{} }, func() runtime.Object { return &rbacv1.ClusterRoleBindingList{} }), "clusterrolebindings")
}
