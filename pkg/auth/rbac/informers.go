package rbac

import (
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	rbaclisters "k8s.io/client-go/listers/rbac/v1"
	"k8s.io/client-go/tools/cache"
)

// ListerPolicy reads roles and bindings from informer caches.
type ListerPolicy struct {
	RolesL               rbaclisters.RoleLister
	ClusterRolesL        rbaclisters.ClusterRoleLister
	RoleBindingsL        rbaclisters.RoleBindingLister
	ClusterRoleBindingsL rbaclisters.ClusterRoleBindingLister
	synced               []cache.InformerSynced
}

// NewListerPolicy registers the four RBAC informers with factory; the
// caller starts the factory and waits for HasSynced.
func NewListerPolicy(factory informers.SharedInformerFactory) *ListerPolicy {
	r := factory.Rbac().V1()
	p := &ListerPolicy{
		RolesL:               r.Roles().Lister(),
		ClusterRolesL:        r.ClusterRoles().Lister(),
		RoleBindingsL:        r.RoleBindings().Lister(),
		ClusterRoleBindingsL: r.ClusterRoleBindings().Lister(),
	}
	p.synced = []cache.InformerSynced{r.Roles().Informer().HasSynced, r.ClusterRoles().Informer().HasSynced,
		r.RoleBindings().Informer().HasSynced, r.ClusterRoleBindings().Informer().HasSynced}
	return p
}

// HasSynced reports whether every cache has its initial list.
func (p *ListerPolicy) HasSynced() bool {
	for _, s := range p.synced {
		if !s() {
			return false
		}
	}
	return true
}

func (p *ListerPolicy) Role(namespace, name string) (*rbacv1.Role, error) {
	return p.RolesL.Roles(namespace).Get(name)
}

func (p *ListerPolicy) ClusterRole(name string) (*rbacv1.ClusterRole, error) {
	return p.ClusterRolesL.Get(name)
}

func (p *ListerPolicy) RoleBindings(namespace string) ([]*rbacv1.RoleBinding, error) {
	return p.RoleBindingsL.RoleBindings(namespace).List(labels.Everything())
}

func (p *ListerPolicy) ClusterRoleBindings() ([]*rbacv1.ClusterRoleBinding, error) {
	return p.ClusterRoleBindingsL.List(labels.Everything())
}
