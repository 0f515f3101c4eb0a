package bootstrappolicy

import (
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authentication/user"
)

// Verb sets of upstream's default roles.
var (
	Read       = []string{"get", "list", "watch"}
	Write      = []string{"create", "update", "patch", "delete", "deletecollection"}
	ReadWrite  = []string{"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"}
	ReadUpdate = []string{"get", "list", "watch", "update", "patch"}
)

// The labels that aggregate a ClusterRole into admin, edit and view.
const (
	AggregateToAdmin = "rbac.authorization.k8s.io/aggregate-to-admin"
	AggregateToEdit  = "rbac.authorization.k8s.io/aggregate-to-edit"
	AggregateToView  = "rbac.authorization.k8s.io/aggregate-to-view"
)

// Rule builds a resource rule: verbs on resources of the API groups.
func Rule(verbs []string, groups []string, resources ...string) rbacv1.PolicyRule {
	return rbacv1.PolicyRule{Verbs: verbs, APIGroups: groups, Resources: resources}
}

// URLRule builds a non-resource rule.
func URLRule(verbs []string, urls ...string) rbacv1.PolicyRule {
	return rbacv1.PolicyRule{Verbs: verbs, NonResourceURLs: urls}
}

func verbs(v ...string) []string          { return v }
func groups(g ...string) []string         { return g }
func labelled(k string) map[string]string { return map[string]string{k: "true"} }

func aggregateOf(label string) *rbacv1.AggregationRule {
	return &rbacv1.AggregationRule{ClusterRoleSelectors: []metav1.LabelSelector{{MatchLabels: labelled(label)}}}
}

const (
	core           = ""
	apps           = "apps"
	autoscaling    = "autoscaling"
	batch          = "batch"
	extensions     = "extensions"
	policy         = "policy"
	networking     = "networking.k8s.io"
	coordination   = "coordination.k8s.io"
	discoveryK8s   = "discovery.k8s.io"
	authorization  = "authorization.k8s.io"
	authentication = "authentication.k8s.io"
	rbacGroup      = rbacv1.GroupName
)

// userClusterRoles are the roles meant for people: cluster-admin, admin,
// edit, view and the discovery and public-information roles, with
// upstream's rules. admin, edit and view have no rules of their own: the
// aggregation controller fills them from the system:aggregate-to-* roles
// and any other ClusterRole carrying the aggregation labels.
func userClusterRoles() []rbacv1.ClusterRole {
	named := func(name string, labels map[string]string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: name, Labels: labels}
	}
	return []rbacv1.ClusterRole{
		{ObjectMeta: named("cluster-admin", nil), Rules: []rbacv1.PolicyRule{
			Rule(verbs("*"), groups("*"), "*"),
			URLRule(verbs("*"), "*"),
		}},
		{ObjectMeta: named("system:discovery", nil), Rules: []rbacv1.PolicyRule{
			URLRule(verbs("get"), "/livez", "/readyz", "/healthz", "/version", "/version/", "/openapi", "/openapi/*", "/api", "/api/*", "/apis", "/apis/*"),
		}},
		{ObjectMeta: named("system:basic-user", nil), Rules: []rbacv1.PolicyRule{
			Rule(verbs("create"), groups(authorization), "selfsubjectaccessreviews", "selfsubjectrulesreviews"),
			Rule(verbs("create"), groups(authentication), "selfsubjectreviews"),
		}},
		{ObjectMeta: named("system:public-info-viewer", nil), Rules: []rbacv1.PolicyRule{
			URLRule(verbs("get"), "/livez", "/readyz", "/healthz", "/version", "/version/"),
		}},
		{ObjectMeta: named("admin", nil), AggregationRule: aggregateOf(AggregateToAdmin)},
		{ObjectMeta: named("edit", labelled(AggregateToAdmin)), AggregationRule: aggregateOf(AggregateToEdit)},
		{ObjectMeta: named("view", labelled(AggregateToEdit)), AggregationRule: aggregateOf(AggregateToView)},
		{ObjectMeta: named("system:aggregate-to-admin", labelled(AggregateToAdmin)), Rules: []rbacv1.PolicyRule{
			Rule(verbs("create"), groups(authorization), "localsubjectaccessreviews"),
			Rule(ReadWrite, groups(rbacGroup), "roles", "rolebindings"),
		}},
		{ObjectMeta: named("system:aggregate-to-edit", labelled(AggregateToEdit)), Rules: editRules()},
		{ObjectMeta: named("system:aggregate-to-view", labelled(AggregateToView)), Rules: viewRules()},
	}
}

// editRules: every user-level write in a namespace, but not status
// subresources, quota or limits (the system's and the admin's), nor RBAC.
func editRules() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{
		Rule(Read, groups(core), "pods/attach", "pods/proxy", "pods/exec", "pods/portforward", "secrets", "services/proxy"),
		Rule(verbs("impersonate"), groups(core), "serviceaccounts"),
		Rule(Write, groups(core), "pods", "pods/attach", "pods/proxy", "pods/exec", "pods/portforward"),
		Rule(verbs("create"), groups(core), "pods/eviction"),
		Rule(Write, groups(core), "replicationcontrollers", "replicationcontrollers/scale", "serviceaccounts",
			"services", "services/proxy", "persistentvolumeclaims", "configmaps", "secrets", "events"),
		Rule(verbs("create"), groups(core), "serviceaccounts/token"),
		Rule(Write, groups(apps), "statefulsets", "statefulsets/scale", "daemonsets",
			"deployments", "deployments/scale", "deployments/rollback", "replicasets", "replicasets/scale"),
		Rule(Write, groups(autoscaling), "horizontalpodautoscalers"),
		Rule(Write, groups(batch), "jobs", "cronjobs"),
		Rule(Write, groups(extensions), "daemonsets", "deployments", "deployments/scale", "deployments/rollback", "ingresses",
			"replicasets", "replicasets/scale", "replicationcontrollers/scale", "networkpolicies"),
		Rule(Write, groups(policy), "poddisruptionbudgets"),
		Rule(Write, groups(networking), "networkpolicies", "ingresses"),
		Rule(ReadWrite, groups(coordination), "leases"),
	}
}

// viewRules: reads of everything in a namespace that does not escalate
// (no secrets, no exec).
func viewRules() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{
		Rule(Read, groups(core), "pods", "replicationcontrollers", "replicationcontrollers/scale", "serviceaccounts",
			"services", "services/status", "endpoints", "persistentvolumeclaims", "persistentvolumeclaims/status", "configmaps"),
		Rule(Read, groups(core), "limitranges", "resourcequotas", "bindings", "events",
			"pods/status", "resourcequotas/status", "namespaces/status", "replicationcontrollers/status", "pods/log"),
		// Reading namespaces in a namespace means reading that one: a
		// way to see which namespaces one may use.
		Rule(Read, groups(core), "namespaces"),
		Rule(Read, groups(discoveryK8s), "endpointslices"),
		Rule(Read, groups(apps), "controllerrevisions", "statefulsets", "statefulsets/status", "statefulsets/scale",
			"daemonsets", "daemonsets/status", "deployments", "deployments/status", "deployments/scale",
			"replicasets", "replicasets/status", "replicasets/scale"),
		Rule(Read, groups(autoscaling), "horizontalpodautoscalers", "horizontalpodautoscalers/status"),
		Rule(Read, groups(batch), "jobs", "cronjobs", "cronjobs/status", "jobs/status"),
		Rule(Read, groups(extensions), "daemonsets", "daemonsets/status", "deployments", "deployments/scale", "deployments/status",
			"ingresses", "ingresses/status", "replicasets", "replicasets/scale", "replicasets/status", "replicationcontrollers/scale",
			"networkpolicies"),
		Rule(Read, groups(policy), "poddisruptionbudgets", "poddisruptionbudgets/status"),
		Rule(Read, groups(networking), "networkpolicies", "ingresses", "ingresses/status"),
	}
}

// ClusterBinding binds a ClusterRole of the same name to groups.
func ClusterBinding(role string, groupNames ...string) rbacv1.ClusterRoleBinding {
	b := rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: role},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
	}
	for _, g := range groupNames {
		b.Subjects = append(b.Subjects, rbacv1.Subject{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: g})
	}
	return b
}

// userClusterRoleBindings bind the user-facing roles to their groups:
// system:masters are cluster admins, every authenticated user may
// discover the API and ask about itself, and the health and version
// endpoints are public.
func userClusterRoleBindings() []rbacv1.ClusterRoleBinding {
	return []rbacv1.ClusterRoleBinding{
		ClusterBinding("cluster-admin", user.SystemPrivilegedGroup),
		ClusterBinding("system:discovery", user.AllAuthenticated),
		ClusterBinding("system:basic-user", user.AllAuthenticated),
		ClusterBinding("system:public-info-viewer", user.AllAuthenticated, user.AllUnauthenticated),
	}
}
