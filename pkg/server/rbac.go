package server

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/component-helpers/auth/rbac/reconciliation"

	"k8s.io/apimachinery/pkg/runtime"

	"github.com/flotilla-io/flotilla/pkg/apiserver"
	"github.com/flotilla-io/flotilla/pkg/auth/authorizers"
	"github.com/flotilla-io/flotilla/pkg/auth/bootstrappolicy"
	"github.com/flotilla-io/flotilla/pkg/auth/rbac"
	"github.com/flotilla-io/flotilla/pkg/auth/reviews"
	"github.com/flotilla-io/flotilla/pkg/registry"
)

// authz is the server's authorization: the RBAC evaluator over informer
// caches fed by the loopback client, inside the union that lets
// system:masters through first.
type authz struct {
	factory    informers.SharedInformerFactory
	policy     *rbac.ListerPolicy
	evaluator  *rbac.Evaluator
	authorizer authorizer.Authorizer
}

// newAuthz builds the authorizer; its caches fill once Run starts the
// factory.
func (s *Server) newAuthz() (*authz, error) {
	cs, err := kubernetes.NewForConfig(s.LoopbackConfig())
	if err != nil {
		return nil, err
	}
	a := &authz{factory: informers.NewSharedInformerFactoryWithOptions(cs, 0, informers.WithTransform(dropManagedFields))}
	if a.policy, err = rbac.NewListerPolicy(a.factory); err != nil {
		return nil, err
	}
	a.evaluator = rbac.New(a.policy)
	// Agents (system:nodes) are held by the Node authorizer to their own
	// Node, Lease and pods and what those pods use; NodeRestriction
	// admission checks the names the authorizer cannot see.
	a.authorizer, err = authorizers.New(authorizers.Config{Node: s.NodeAuthorizer(), RBAC: a.evaluator})
	if err != nil {
		return nil, err
	}
	return a, nil
}

// reviewGroups are the access and identity review APIs.
func (s *Server) reviewGroups() []apiserver.HandlerGroup {
	return reviews.Groups(reviews.Config{
		Authorizer: s.authz.authorizer,
		Rules:      s.authz.evaluator,
		Tokens:     s.reviewToken,
	})
}

// waitForPolicy starts the RBAC caches and returns once they hold the
// stored policy, so the server never refuses a request for want of them.
func (a *authz) waitForPolicy(ctx context.Context) error {
	a.factory.Start(ctx.Done())
	for !a.policy.HasSynced() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

// autoupdate marks bootstrap policy objects the server keeps up to date;
// an admin who sets it to "false" keeps their changes.
var (
	bootstrapLabels      = map[string]string{"kubernetes.io/bootstrapping": "rbac-defaults"}
	bootstrapAnnotations = map[string]string{rbacv1.AutoUpdateAnnotationKey: "true"}
)

func withBootstrapMeta(m *metav1.ObjectMeta) {
	if m.Labels == nil {
		m.Labels = map[string]string{}
	}
	for k, v := range bootstrapLabels {
		if _, ok := m.Labels[k]; !ok {
			m.Labels[k] = v
		}
	}
	if m.Annotations == nil {
		m.Annotations = map[string]string{}
	}
	for k, v := range bootstrapAnnotations {
		if _, ok := m.Annotations[k]; !ok {
			m.Annotations[k] = v
		}
	}
}

// reconcilePolicy brings the default roles and bindings up to date as
// upstream's servers do at start: missing ones are created, missing
// rules and subjects added, nothing an admin added is removed, and an
// object annotated rbac.authorization.kubernetes.io/autoupdate=false is
// left alone.
func reconcilePolicy(ctx context.Context, cs kubernetes.Interface, log *slog.Logger) error {
	rbacClient := cs.RbacV1()
	for _, r := range bootstrappolicy.ClusterRoles() {
		withBootstrapMeta(&r.ObjectMeta)
		opts := reconciliation.ReconcileRoleOptions{Role: reconciliation.ClusterRoleRuleOwner{ClusterRole: &r}, Client: reconciliation.ClusterRoleModifier{Client: rbacClient.ClusterRoles()}, Confirm: true}
		if err := logReconcile(ctx, log, "clusterrole", r.Name, roleRun(opts)); err != nil {
			return err
		}
	}
	for _, b := range bootstrappolicy.ClusterRoleBindings() {
		withBootstrapMeta(&b.ObjectMeta)
		opts := reconciliation.ReconcileRoleBindingOptions{RoleBinding: reconciliation.ClusterRoleBindingAdapter{ClusterRoleBinding: &b}, Client: reconciliation.ClusterRoleBindingClientAdapter{Client: rbacClient.ClusterRoleBindings()}, Confirm: true}
		if err := logReconcile(ctx, log, "clusterrolebinding", b.Name, bindingRun(opts)); err != nil {
			return err
		}
	}
	for ns, roles := range bootstrappolicy.Roles() {
		for _, r := range roles {
			r.Namespace = ns
			withBootstrapMeta(&r.ObjectMeta)
			opts := reconciliation.ReconcileRoleOptions{Role: reconciliation.RoleRuleOwner{Role: &r}, Client: reconciliation.RoleModifier{Client: rbacClient, NamespaceClient: cs.CoreV1().Namespaces()}, Confirm: true}
			if err := logReconcile(ctx, log, "role", ns+"/"+r.Name, roleRun(opts)); err != nil {
				return err
			}
		}
	}
	for ns, bindings := range bootstrappolicy.RoleBindings() {
		for _, b := range bindings {
			b.Namespace = ns
			withBootstrapMeta(&b.ObjectMeta)
			opts := reconciliation.ReconcileRoleBindingOptions{RoleBinding: reconciliation.RoleBindingAdapter{RoleBinding: &b}, Client: reconciliation.RoleBindingClientAdapter{Client: rbacClient, NamespaceClient: cs.CoreV1().Namespaces()}, Confirm: true}
			if err := logReconcile(ctx, log, "rolebinding", ns+"/"+b.Name, bindingRun(opts)); err != nil {
				return err
			}
		}
	}
	return nil
}

// reconcileFunc runs one reconciliation and says what it did and whether
// the object is protected by autoupdate=false.
type reconcileFunc func() (reconciliation.ReconcileOperation, bool, error)

// roleRun and bindingRun adapt component-helpers' two reconcilers, whose
// results differ in type, to reconcileFunc.
func roleRun(o reconciliation.ReconcileRoleOptions) reconcileFunc {
	return func() (reconciliation.ReconcileOperation, bool, error) {
		res, err := o.Run()
		if err != nil {
			return "", false, err
		}
		return res.Operation, res.Protected, nil
	}
}

func bindingRun(o reconciliation.ReconcileRoleBindingOptions) reconcileFunc {
	return func() (reconciliation.ReconcileOperation, bool, error) {
		res, err := o.Run()
		if err != nil {
			return "", false, err
		}
		return res.Operation, res.Protected, nil
	}
}

// logReconcile runs one reconciliation, retrying briefly (another server
// may write the same object at the same moment).
func logReconcile(ctx context.Context, log *slog.Logger, kind, name string, run reconcileFunc) error {
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		var op reconciliation.ReconcileOperation
		var protected bool
		if op, protected, err = run(); err == nil {
			switch {
			case protected && op != reconciliation.ReconcileNone:
				log.Warn("default RBAC policy differs but is protected by autoupdate=false", "kind", kind, "name", name)
			case op != reconciliation.ReconcileNone:
				log.Debug("default RBAC policy reconciled", "kind", kind, "name", name, "op", string(op))
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("reconcile %s %s: %w", kind, name, err)
}

// reviewToken checks a bearer token for TokenReview as the server's own
// authentication does, for the review's audiences (the API server's when
// it names none).
func (s *Server) reviewToken(ctx context.Context, token string, audiences []string) (user.Info, []string, error) {
	u, valid, err := s.tokens.auth.AuthenticateTokenFor(ctx, token, audiences)
	if err != nil {
		return nil, nil, err
	}
	return &user.DefaultInfo{Name: u.GetName(), UID: u.GetUID(), Groups: append(u.GetGroups(), user.AllAuthenticated), Extra: u.GetExtra()}, valid, nil
}

// guardRBACWrites makes writes of roles and bindings go through the
// escalation checks.
func (s *Server) guardRBACWrites(resources []*registry.Resource) {
	guard := &rbac.Guard{Authorizer: s.authz.authorizer, Rules: s.authz.evaluator}
	check := func(ctx context.Context, obj, _ runtime.Object) error {
		caller, ok := registry.UserFrom(ctx)
		if !ok {
			return nil // unauthenticated test servers
		}
		return guard.Check(ctx, caller.Info(), obj)
	}
	for _, r := range resources {
		if r.Group == rbacv1.GroupName {
			r.AuthorizeWrite = check
		}
	}
}
