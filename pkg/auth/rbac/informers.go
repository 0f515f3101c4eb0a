package rbac

import (
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apiserver/pkg/authentication/serviceaccount"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/client-go/informers"
	rbaclisters "k8s.io/client-go/listers/rbac/v1"
	"k8s.io/client-go/tools/cache"
)

// subjectIndex names the informer index of bindings by the subjects they
// name. Without it every request would walk every binding of its
// namespace and of the cluster: with a thousand bindings stored that is
// most of what authorizing a request costs, and nearly all of them name
// someone else.
const subjectIndex = "flotilla.io/rbac-subject"

// subjectKey is the index key of one subject of a binding in
// bindingNamespace ("" for a ClusterRoleBinding). A ServiceAccount subject
// is keyed by the user name its tokens authenticate as, so one lookup by
// user name finds User and ServiceAccount subjects alike.
func subjectKey(s *rbacv1.Subject, bindingNamespace string) (string, bool) {
	switch s.Kind {
	case rbacv1.UserKind:
		return "user:" + s.Name, true
	case rbacv1.GroupKind:
		return "group:" + s.Name, true
	case rbacv1.ServiceAccountKind:
		ns := s.Namespace
		if ns == "" {
			ns = bindingNamespace
		}
		if ns == "" {
			return "", false // names nobody, as subjectMatches decides
		}
		return "user:" + serviceaccount.MakeUsername(ns, s.Name), true
	}
	return "", false
}

// indexBySubject is the cache.IndexFunc of both binding kinds. Role
// binding keys carry their namespace, since one index spans all
// namespaces.
func indexBySubject(obj any) ([]string, error) {
	var subjects []rbacv1.Subject
	prefix, ns := "", ""
	switch b := obj.(type) {
	case *rbacv1.RoleBinding:
		subjects, ns, prefix = b.Subjects, b.Namespace, b.Namespace+"/"
	case *rbacv1.ClusterRoleBinding:
		subjects = b.Subjects
	default:
		return nil, nil
	}
	keys := make([]string, 0, len(subjects))
	for i := range subjects {
		if k, ok := subjectKey(&subjects[i], ns); ok {
			keys = append(keys, prefix+k)
		}
	}
	return keys, nil
}

// BindingIndexers are the indexers ListerPolicy needs on the RoleBinding
// and ClusterRoleBinding informers.
func BindingIndexers() cache.Indexers {
	return cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc, subjectIndex: indexBySubject}
}

// ListerPolicy reads roles from informer listers and bindings from the
// informers' subject index.
type ListerPolicy struct {
	roles               rbaclisters.RoleLister
	clusterRoles        rbaclisters.ClusterRoleLister
	roleBindings        cache.Indexer
	clusterRoleBindings cache.Indexer
	synced              []cache.InformerSynced
}

// NewListerPolicy registers the four RBAC informers, and the subject index
// on the binding informers, with factory; the caller starts the factory
// and waits for HasSynced.
func NewListerPolicy(factory informers.SharedInformerFactory) (*ListerPolicy, error) {
	r := factory.Rbac().V1()
	rb, crb := r.RoleBindings().Informer(), r.ClusterRoleBindings().Informer()
	for _, inf := range []cache.SharedIndexInformer{rb, crb} {
		if err := inf.AddIndexers(cache.Indexers{subjectIndex: indexBySubject}); err != nil {
			return nil, err
		}
	}
	p := NewIndexedPolicy(r.Roles().Lister(), r.ClusterRoles().Lister(), rb.GetIndexer(), crb.GetIndexer())
	p.synced = []cache.InformerSynced{r.Roles().Informer().HasSynced, r.ClusterRoles().Informer().HasSynced, rb.HasSynced, crb.HasSynced}
	return p, nil
}

// NewIndexedPolicy is a ListerPolicy over caches the caller fills; the
// binding indexers must carry BindingIndexers.
func NewIndexedPolicy(roles rbaclisters.RoleLister, clusterRoles rbaclisters.ClusterRoleLister, roleBindings, clusterRoleBindings cache.Indexer) *ListerPolicy {
	return &ListerPolicy{roles: roles, clusterRoles: clusterRoles, roleBindings: roleBindings, clusterRoleBindings: clusterRoleBindings}
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
	return p.roles.Roles(namespace).Get(name)
}

func (p *ListerPolicy) ClusterRole(name string) (*rbacv1.ClusterRole, error) {
	return p.clusterRoles.Get(name)
}

// RoleBindings are the bindings in namespace that name u, its groups or
// its service account.
func (p *ListerPolicy) RoleBindings(namespace string, u user.Info) ([]*rbacv1.RoleBinding, error) {
	objs, err := bySubject(p.roleBindings, namespace+"/", u)
	out := make([]*rbacv1.RoleBinding, 0, len(objs))
	for _, o := range objs {
		if b, ok := o.(*rbacv1.RoleBinding); ok {
			out = append(out, b)
		}
	}
	return out, err
}

// ClusterRoleBindings are the cluster-wide bindings that name u, its
// groups or its service account.
func (p *ListerPolicy) ClusterRoleBindings(u user.Info) ([]*rbacv1.ClusterRoleBinding, error) {
	objs, err := bySubject(p.clusterRoleBindings, "", u)
	out := make([]*rbacv1.ClusterRoleBinding, 0, len(objs))
	for _, o := range objs {
		if b, ok := o.(*rbacv1.ClusterRoleBinding); ok {
			out = append(out, b)
		}
	}
	return out, err
}

// bySubject looks u's name and each of its groups up in idx. A binding
// naming u more than once (its name and a group) is returned once.
func bySubject(idx cache.Indexer, prefix string, u user.Info) ([]any, error) {
	groups := u.GetGroups()
	out, err := idx.ByIndex(subjectIndex, prefix+"user:"+u.GetName())
	if err != nil {
		return nil, err
	}
	if len(groups) == 0 {
		return out, nil
	}
	seen := make(map[any]struct{}, len(out))
	for _, o := range out {
		seen[o] = struct{}{}
	}
	for _, g := range groups {
		objs, err := idx.ByIndex(subjectIndex, prefix+"group:"+g)
		if err != nil {
			return nil, err
		}
		for _, o := range objs {
			if _, dup := seen[o]; !dup {
				seen[o] = struct{}{}
				out = append(out, o)
			}
		}
	}
	return out, nil
}
