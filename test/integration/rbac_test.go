package integration

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"

	"github.com/flotilla-io/flotilla/pkg/server/testserver"
)

func clientFor(t *testing.T, cfg *rest.Config) kubernetes.Interface {
	t.Helper()
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// wantForbidden checks err is upstream's 403 with exactly msg.
func wantForbidden(t *testing.T, what string, err error, msg string) {
	t.Helper()
	if !apierrors.IsForbidden(err) {
		t.Fatalf("%s: got %v, want Forbidden", what, err)
	}
	if got := err.Error(); got != msg {
		t.Fatalf("%s:\n got  %s\n want %s", what, got, msg)
	}
}

// Users from client certificates get nothing but discovery and
// self-review until bound; bindings take effect, admin/edit/view are
// aggregated, the review APIs answer, impersonation is checked, and the
// refusals read as upstream's.
func TestRBAC(t *testing.T) {
	in := testserver.Start(t, testserver.Options{})
	ctx := context.Background()
	admin := in.Clientset(t)
	alice := clientFor(t, in.UserConfig(t, "alice", "team-a"))

	t.Run("unbound user is refused with upstream's messages", func(t *testing.T) {
		_, err := alice.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
		wantForbidden(t, "list pods", err, `pods is forbidden: User "alice" cannot list resource "pods" in API group "" in the namespace "default"`)
		_, err = alice.CoreV1().Nodes().Get(ctx, "n1", metav1.GetOptions{})
		wantForbidden(t, "get node", err, `nodes "n1" is forbidden: User "alice" cannot get resource "nodes" in API group "" at the cluster scope`)
		_, err = alice.AppsV1().Deployments("default").GetScale(ctx, "web", metav1.GetOptions{})
		wantForbidden(t, "get scale", err, `deployments.apps "web" is forbidden: User "alice" cannot get resource "deployments/scale" in API group "apps" in the namespace "default"`)
		// Discovery and version are every authenticated user's.
		if _, err := alice.Discovery().ServerVersion(); err != nil {
			t.Fatalf("version: %v", err)
		}
		if _, err := alice.Discovery().ServerGroups(); err != nil {
			t.Fatalf("discovery: %v", err)
		}
		var code int
		res := alice.Discovery().RESTClient().Get().AbsPath("/metrics").Do(ctx).StatusCode(&code)
		if body, _ := res.Raw(); code != http.StatusForbidden || !strings.Contains(string(body), `"message":"forbidden: User \"alice\" cannot get path \"/metrics\""`) {
			t.Fatalf("metrics: %d %s", code, body)
		}
	})

	t.Run("whoami and can-i", func(t *testing.T) {
		ssr, err := alice.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if u := ssr.Status.UserInfo; u.Username != "alice" || !slices.Contains(u.Groups, "team-a") || !slices.Contains(u.Groups, "system:authenticated") {
			t.Fatalf("whoami: %+v", u)
		}
		ssar, err := alice.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
			ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: "default", Verb: "list", Resource: "pods"}}}, metav1.CreateOptions{})
		if err != nil || ssar.Status.Allowed {
			t.Fatalf("can-i list pods before binding: %+v, %v", ssar, err)
		}
		_, err = alice.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User: "bob", ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: "get", Resource: "pods"}}}, metav1.CreateOptions{})
		wantForbidden(t, "subjectaccessreview", err, `subjectaccessreviews.authorization.k8s.io is forbidden: User "alice" cannot create resource "subjectaccessreviews" in API group "authorization.k8s.io" at the cluster scope`)
		sar, err := admin.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User: "bob", ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: "get", Resource: "pods", Namespace: "default"}}}, metav1.CreateOptions{})
		if err != nil || sar.Status.Allowed {
			t.Fatalf("admin asks about bob: %+v, %v", sar, err)
		}
	})

	t.Run("a RoleBinding to view grants reads in its namespace only", func(t *testing.T) {
		if _, err := admin.RbacV1().RoleBindings("default").Create(ctx, &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "alice-view"},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, Name: "alice"}},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		testserver.Eventually(t, 10*time.Second, "alice may list pods", func() (bool, string) {
			_, err := alice.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
			return err == nil, errString(err)
		})
		_, err := alice.CoreV1().Pods("kube-system").List(ctx, metav1.ListOptions{})
		wantForbidden(t, "list pods elsewhere", err, `pods is forbidden: User "alice" cannot list resource "pods" in API group "" in the namespace "kube-system"`)
		_, err = alice.CoreV1().Secrets("default").List(ctx, metav1.ListOptions{})
		wantForbidden(t, "view lists secrets", err, `secrets is forbidden: User "alice" cannot list resource "secrets" in API group "" in the namespace "default"`)
		_, err = alice.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "x"}}, metav1.CreateOptions{})
		wantForbidden(t, "view creates", err, `configmaps is forbidden: User "alice" cannot create resource "configmaps" in API group "" in the namespace "default"`)
		rules, err := alice.AuthorizationV1().SelfSubjectRulesReviews().Create(ctx, &authorizationv1.SelfSubjectRulesReview{Spec: authorizationv1.SelfSubjectRulesReviewSpec{Namespace: "default"}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, r := range rules.Status.ResourceRules {
			found = found || (slices.Contains(r.Resources, "pods") && slices.Contains(r.Verbs, "list"))
		}
		if !found || rules.Status.Incomplete {
			t.Fatalf("rules review lacks view's pods rule: %+v", rules.Status)
		}
	})

	t.Run("a binding to a missing role explains itself", func(t *testing.T) {
		if _, err := admin.RbacV1().RoleBindings("default").Create(ctx, &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "alice-ghost"},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "ghost"},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.GroupKind, Name: "team-a"}},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		testserver.Eventually(t, 10*time.Second, "the RBAC reason", func() (bool, string) {
			_, err := alice.CoreV1().Secrets("default").List(ctx, metav1.ListOptions{})
			return err != nil && err.Error() == `secrets is forbidden: User "alice" cannot list resource "secrets" in API group "" in the namespace "default": RBAC: role.rbac.authorization.k8s.io "ghost" not found`, errString(err)
		})
	})

	t.Run("admin, edit and view are aggregated", func(t *testing.T) {
		testserver.Eventually(t, 20*time.Second, "edit aggregated", func() (bool, string) {
			edit, err := admin.RbacV1().ClusterRoles().Get(ctx, "edit", metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			// edit holds its own rules and view's.
			var hasExec, hasLogs bool
			for _, r := range edit.Rules {
				hasExec = hasExec || slices.Contains(r.Resources, "pods/exec")
				hasLogs = hasLogs || slices.Contains(r.Resources, "pods/log")
			}
			return hasExec && hasLogs, edit.String()
		})
		// A labelled role extends view.
		if _, err := admin.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{
			ObjectMeta: metav1.ObjectMeta{Name: "widgets-view", Labels: map[string]string{"rbac.authorization.k8s.io/aggregate-to-view": "true"}},
			Rules:      []rbacv1.PolicyRule{{Verbs: []string{"get"}, APIGroups: []string{"example.com"}, Resources: []string{"widgets"}}},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"view", "edit", "admin"} {
			testserver.Eventually(t, 20*time.Second, name+" has widgets", func() (bool, string) {
				r, err := admin.RbacV1().ClusterRoles().Get(ctx, name, metav1.GetOptions{})
				if err != nil {
					return false, err.Error()
				}
				for _, rule := range r.Rules {
					if slices.Contains(rule.Resources, "widgets") {
						return true, ""
					}
				}
				return false, r.String()
			})
		}
	})

	t.Run("impersonation needs the impersonate verb", func(t *testing.T) {
		cfg := in.UserConfig(t, "alice", "team-a")
		cfg.Impersonate = rest.ImpersonationConfig{UserName: "bob"}
		_, err := clientFor(t, cfg).CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
		wantForbidden(t, "alice as bob", err, `users "bob" is forbidden: User "alice" cannot impersonate resource "users" in API group "" at the cluster scope`)

		adminAsAlice := in.RESTConfig()
		adminAsAlice.Impersonate = rest.ImpersonationConfig{UserName: "alice", Groups: []string{"team-a"}}
		cs := clientFor(t, adminAsAlice)
		if _, err := cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{}); err != nil {
			t.Fatalf("admin as alice lists pods: %v", err)
		}
		_, err = cs.CoreV1().Secrets("kube-system").List(ctx, metav1.ListOptions{})
		wantForbidden(t, "admin as alice", err, `secrets is forbidden: User "alice" cannot list resource "secrets" in API group "" in the namespace "kube-system"`)
		ssr, err := cs.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
		if err != nil || ssr.Status.UserInfo.Username != "alice" || !slices.Equal(ssr.Status.UserInfo.Groups, []string{"team-a", "system:authenticated"}) {
			t.Fatalf("whoami as alice: %+v, %v", ssr, err)
		}
	})

	t.Run("roles and bindings cannot escalate", func(t *testing.T) {
		if _, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := admin.RbacV1().RoleBindings("team").Create(ctx, &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "alice-admin"},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "admin"},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, Name: "alice"}},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		role := func(name string, rule rbacv1.PolicyRule) error {
			_, err := alice.RbacV1().Roles("team").Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: []rbacv1.PolicyRule{rule}}, metav1.CreateOptions{})
			return err
		}
		testserver.Eventually(t, 10*time.Second, "alice may write a role she holds", func() (bool, string) {
			err := role("pod-reader", rbacv1.PolicyRule{Verbs: []string{"get", "list"}, APIGroups: []string{""}, Resources: []string{"pods"}})
			return err == nil, errString(err)
		})
		err := role("node-reader", rbacv1.PolicyRule{Verbs: []string{"get", "list"}, APIGroups: []string{""}, Resources: []string{"nodes"}})
		wantForbidden(t, "escalating role", err, `roles.rbac.authorization.k8s.io "node-reader" is forbidden: user "alice" (groups=["team-a" "system:authenticated"]) is attempting to grant RBAC permissions not currently held:
{APIGroups:[""], Resources:["nodes"], Verbs:["get" "list"]}`)
		bind := func(name, role string) error {
			_, err := alice.RbacV1().RoleBindings("team").Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name},
				RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
				Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, Name: "bob"}}}, metav1.CreateOptions{})
			return err
		}
		if err := bind("bob-edit", "edit"); err != nil {
			t.Fatalf("alice binds bob to edit, which admin covers: %v", err)
		}
		err = bind("bob-root", "cluster-admin")
		if !apierrors.IsForbidden(err) || !strings.HasPrefix(err.Error(), `rolebindings.rbac.authorization.k8s.io "bob-root" is forbidden: user "alice" (groups=["team-a" "system:authenticated"]) is attempting to grant RBAC permissions not currently held:`) {
			t.Fatalf("binding cluster-admin: %v", err)
		}
		// With bind on cluster-admin, she may.
		if _, err := admin.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "bind-root"},
			Rules: []rbacv1.PolicyRule{{Verbs: []string{"bind"}, APIGroups: []string{rbacv1.GroupName}, Resources: []string{"clusterroles"}, ResourceNames: []string{"cluster-admin"}}}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := admin.RbacV1().RoleBindings("team").Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "alice-bind-root"},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "bind-root"},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, Name: "alice"}}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		testserver.Eventually(t, 10*time.Second, "bind permits the binding", func() (bool, string) {
			err := bind("bob-root", "cluster-admin")
			return err == nil, errString(err)
		})
	})

	t.Run("invalid objects are refused", func(t *testing.T) {
		_, err := admin.RbacV1().Roles("default").Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "bad"},
			Rules: []rbacv1.PolicyRule{{Verbs: []string{"get"}, NonResourceURLs: []string{"/healthz"}}}}, metav1.CreateOptions{})
		if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "rules[0].nonResourceURLs: Invalid value: [\"/healthz\"]: namespaced rules cannot apply to non-resource URLs") {
			t.Fatalf("role with URLs: %v", err)
		}
		b, err := admin.RbacV1().RoleBindings("default").Get(ctx, "alice-view", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		b.RoleRef.Name = "edit"
		if _, err := admin.RbacV1().RoleBindings("default").Update(ctx, b, metav1.UpdateOptions{}); !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "cannot change roleRef") {
			t.Fatalf("roleRef change: %v", err)
		}
	})

	t.Run("health is public, the rest needs credentials", func(t *testing.T) {
		anon := rest.AnonymousClientConfig(in.RESTConfig())
		rc, err := rest.UnversionedRESTClientFor(withCodec(anon))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := rc.Get().AbsPath("/healthz").DoRaw(ctx); err != nil {
			t.Fatalf("healthz: %v", err)
		}
		var code int
		rc.Get().AbsPath("/api").Do(ctx).StatusCode(&code)
		if code != http.StatusUnauthorized {
			t.Fatalf("anonymous /api: %d", code)
		}
	})
}

func withCodec(cfg *rest.Config) *rest.Config {
	cfg.NegotiatedSerializer = scheme.Codecs.WithoutConversion()
	return cfg
}
