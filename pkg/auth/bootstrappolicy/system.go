package bootstrappolicy

import (
	"maps"
	"slices"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Identities of the server's own components, as upstream names them.
const (
	SchedulerUser         = "system:kube-scheduler"
	ControllerManagerUser = "system:kube-controller-manager"
	KubeProxyUser         = "system:kube-proxy"
	NodesGroup            = "system:nodes"
	// ControllerSAPrefix names a controller's identity: the service
	// account kube-system/<name> (user
	// system:serviceaccount:kube-system:<name>).
	ControllerSAPrefix   = "system:serviceaccount:kube-system:"
	controllerRolePrefix = "system:controller:"
	systemNamespace      = "kube-system"
	publicNamespace      = "kube-public"
)

// Upstream's API groups, by name.
const (
	legacyGroup       = ""
	appsGroup         = "apps"
	batchGroup        = "batch"
	autoscalingGroup  = "autoscaling"
	policyGroup       = "policy"
	networkingGroup   = "networking.k8s.io"
	discoveryGroup    = "discovery.k8s.io"
	storageGroup      = "storage.k8s.io"
	coordinationGroup = "coordination.k8s.io"
	eventsGroup       = "events.k8s.io"
	certificatesGroup = "certificates.k8s.io"
	authnGroup        = "authentication.k8s.io"
	authzGroup        = "authorization.k8s.io"
	flowcontrolGroup  = "flowcontrol.apiserver.k8s.io"
	nodeGroup         = "node.k8s.io"
)

var (
	read = []string{"get", "list", "watch"}
)

func rule(verbs []string, group string, resources ...string) rbacv1.PolicyRule {
	return rbacv1.PolicyRule{Verbs: verbs, APIGroups: []string{group}, Resources: resources}
}

// eventsRule lets a component record events through either events API.
func eventsRules() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{
		rule(verbs("create", "update", "patch"), legacyGroup, "events"),
		rule(verbs("create", "update", "patch"), eventsGroup, "events"),
	}
}

func clusterRole(name string, rules ...rbacv1.PolicyRule) rbacv1.ClusterRole {
	return rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: bootstrapLabels(), Annotations: autoUpdate()},
		Rules:      rules,
	}
}

func bootstrapLabels() map[string]string {
	return map[string]string{"kubernetes.io/bootstrapping": "rbac-defaults"}
}

func autoUpdate() map[string]string {
	return map[string]string{rbacv1.AutoUpdateAnnotationKey: "true"}
}

// controllerRoles are the roles of the controllers the server runs, by
// the service account each runs as (upstream's names where upstream has
// the controller, ours for Flotilla's own).
func controllerRoles() map[string][]rbacv1.PolicyRule {
	withEvents := func(rules ...rbacv1.PolicyRule) []rbacv1.PolicyRule { return append(rules, eventsRules()...) }
	return map[string][]rbacv1.PolicyRule{
		"namespace-controller": withEvents(
			rule(verbs("get", "list", "watch", "delete"), legacyGroup, "namespaces"),
			rule(verbs("update"), legacyGroup, "namespaces/finalize", "namespaces/status"),
			rule(verbs("get", "list", "watch", "delete", "deletecollection"), "*", "*"),
		),
		// Ours also publishes kube-root-ca.crt in every namespace, as
		// upstream's root-ca-cert-publisher does.
		"service-account-controller": withEvents(
			rule(verbs("create"), legacyGroup, "serviceaccounts"),
			rule(verbs("create", "update"), legacyGroup, "configmaps"),
		),
		"root-ca-cert-publisher": withEvents(
			rule(verbs("create", "update"), legacyGroup, "configmaps"),
		),
		// Fills the legacy kubernetes.io/service-account-token Secrets.
		"tokens-controller": withEvents(
			rule(verbs("get", "list", "watch", "create", "update", "patch", "delete"), legacyGroup, "secrets"),
			rule(verbs("get", "list", "watch", "update"), legacyGroup, "serviceaccounts"),
		),
		"generic-garbage-collector": withEvents(
			rule(verbs("get", "list", "watch", "patch", "update", "delete"), "*", "*"),
		),
		"disruption-controller": withEvents(
			rule(read, appsGroup, "deployments", "replicasets", "statefulsets"),
			rule(read, legacyGroup, "replicationcontrollers", "pods"),
			rule(read, policyGroup, "poddisruptionbudgets"),
			rule(verbs("update"), policyGroup, "poddisruptionbudgets/status"),
			rule(verbs("get"), "*", "*/scale"),
			rule(verbs("patch", "update"), legacyGroup, "pods/status"),
		),
		"node-controller": withEvents(
			rule(verbs("get", "list", "update", "delete", "patch"), legacyGroup, "nodes"),
			rule(verbs("patch", "update"), legacyGroup, "nodes/status"),
			rule(verbs("patch", "update"), legacyGroup, "pods/status"),
			rule(verbs("list", "delete"), legacyGroup, "pods"),
			rule(read, coordinationGroup, "leases"),
		),
		"node-ipam-controller": withEvents(
			rule(verbs("get", "list", "watch", "update", "patch"), legacyGroup, "nodes"),
		),
		"replicaset-controller": withEvents(
			rule(verbs("get", "list", "watch", "update"), appsGroup, "replicasets"),
			rule(verbs("update"), appsGroup, "replicasets/status", "replicasets/finalizers"),
			rule(verbs("list", "watch", "patch", "create", "delete"), legacyGroup, "pods"),
		),
		"replication-controller": withEvents(
			rule(verbs("get", "list", "watch", "update"), legacyGroup, "replicationcontrollers"),
			rule(verbs("update"), legacyGroup, "replicationcontrollers/status", "replicationcontrollers/finalizers"),
			rule(verbs("list", "watch", "patch", "create", "delete"), legacyGroup, "pods"),
		),
		"deployment-controller": withEvents(
			rule(verbs("get", "list", "watch", "update"), appsGroup, "deployments"),
			rule(verbs("update"), appsGroup, "deployments/status", "deployments/finalizers"),
			rule(verbs("get", "list", "watch", "create", "update", "patch", "delete"), appsGroup, "replicasets"),
			rule(verbs("get", "list", "watch", "update"), legacyGroup, "pods"),
		),
		"daemon-set-controller": withEvents(
			rule(read, appsGroup, "daemonsets"),
			rule(verbs("update"), appsGroup, "daemonsets/status", "daemonsets/finalizers"),
			rule(read, legacyGroup, "nodes"),
			rule(verbs("list", "watch", "create", "delete", "patch"), legacyGroup, "pods"),
			rule(verbs("create"), legacyGroup, "pods/binding"),
			rule(verbs("get", "list", "watch", "create", "delete", "update", "patch"), appsGroup, "controllerrevisions"),
		),
		"statefulset-controller": withEvents(
			rule(read, appsGroup, "statefulsets"),
			rule(verbs("update"), appsGroup, "statefulsets/status", "statefulsets/finalizers"),
			rule(verbs("get", "list", "watch", "create", "delete", "update", "patch"), legacyGroup, "pods"),
			rule(verbs("get", "list", "watch", "create", "delete", "update", "patch"), appsGroup, "controllerrevisions"),
			rule(verbs("get", "create", "update", "patch", "delete"), legacyGroup, "persistentvolumeclaims"),
		),
		"persistent-volume-binder": withEvents(
			rule(verbs("get", "list", "watch", "update", "create", "delete"), legacyGroup, "persistentvolumes"),
			rule(verbs("update"), legacyGroup, "persistentvolumes/status"),
			rule(verbs("get", "list", "watch", "update", "create", "delete"), legacyGroup, "persistentvolumeclaims"),
			rule(verbs("update"), legacyGroup, "persistentvolumeclaims/status"),
			rule(verbs("list", "watch", "get", "create", "delete"), legacyGroup, "pods"),
			rule(read, legacyGroup, "nodes"),
			// Ours creates the default local StorageClass.
			rule(verbs("get", "list", "watch", "create", "update", "patch"), storageGroup, "storageclasses"),
			rule(verbs("get", "create", "delete"), legacyGroup, "services", "endpoints"),
			rule(verbs("get"), legacyGroup, "secrets"),
		),
		"job-controller": withEvents(
			rule(verbs("get", "list", "watch", "update", "patch"), batchGroup, "jobs"),
			rule(verbs("update"), batchGroup, "jobs/status", "jobs/finalizers"),
			rule(verbs("list", "watch", "create", "delete", "patch"), legacyGroup, "pods"),
		),
		"cronjob-controller": withEvents(
			rule(verbs("get", "list", "watch", "update"), batchGroup, "cronjobs"),
			rule(verbs("get", "list", "watch", "create", "update", "delete", "patch"), batchGroup, "jobs"),
			rule(verbs("update"), batchGroup, "cronjobs/status", "cronjobs/finalizers"),
			rule(verbs("list", "delete"), legacyGroup, "pods"),
		),
		"clusterrole-aggregation-controller": withEvents(
			rule(verbs("escalate", "get", "list", "watch", "update", "patch"), rbacGroup, "clusterroles"),
		),
		// upstream: list and watch everything it may count, write status.
		"resourcequota-controller": withEvents(
			rule(verbs("list", "watch"), "*", "*"),
			rule(verbs("update"), legacyGroup, "resourcequotas/status"),
		),
		"pod-garbage-collector": withEvents(
			rule(verbs("list", "watch", "delete"), legacyGroup, "pods"),
			rule(verbs("get", "list"), legacyGroup, "nodes"),
			rule(verbs("patch"), legacyGroup, "pods/status"),
		),
		"ttl-after-finished-controller": withEvents(
			rule(verbs("get", "list", "watch", "delete"), batchGroup, "jobs"),
		),
		"endpoint-controller": withEvents(
			rule(read, legacyGroup, "services", "pods"),
			rule(verbs("get", "list", "create", "update", "delete"), legacyGroup, "endpoints"),
			rule(verbs("create"), legacyGroup, "endpoints/restricted"),
		),
		"endpointslice-controller": withEvents(
			rule(read, legacyGroup, "services", "pods", "nodes"),
			rule(verbs("update"), legacyGroup, "services/finalizers"),
			rule(verbs("get", "list", "create", "update", "delete"), discoveryGroup, "endpointslices"),
		),
		"endpointslicemirroring-controller": withEvents(
			rule(read, legacyGroup, "services", "endpoints"),
			rule(verbs("update"), legacyGroup, "services/finalizers", "endpoints/finalizers"),
			rule(verbs("get", "list", "create", "update", "delete"), discoveryGroup, "endpointslices"),
		),
		"horizontal-pod-autoscaler": withEvents(
			rule(verbs("get", "list", "watch"), autoscalingGroup, "horizontalpodautoscalers"),
			rule(verbs("update"), autoscalingGroup, "horizontalpodautoscalers/status"),
			rule(verbs("get", "update"), "*", "*/scale"),
			rule(verbs("list"), legacyGroup, "pods"),
			rule(verbs("get", "list"), "metrics.k8s.io", "pods"),
			rule(verbs("get", "list"), "custom.metrics.k8s.io", "*"),
			rule(verbs("get", "list"), "external.metrics.k8s.io", "*"),
		),
		// Flotilla's own controllers.
		"servicelb-controller": withEvents(
			rule(read, legacyGroup, "services", "nodes", "pods", "endpoints"),
			rule(verbs("update", "patch"), legacyGroup, "services/status"),
			rule(read, discoveryGroup, "endpointslices"),
		),
		"clusterdns-controller": withEvents(
			rule(verbs("get", "list", "watch", "create", "update", "patch", "delete"), legacyGroup, "services", "endpoints"),
			rule(verbs("get", "list", "watch", "create", "update", "patch", "delete"), discoveryGroup, "endpointslices"),
			rule(read, legacyGroup, "nodes", "pods"),
		),
		"ingress-controller": withEvents(
			rule(read, networkingGroup, "ingresses"),
			rule(verbs("get", "list", "watch", "create", "update", "patch", "delete"), networkingGroup, "ingressclasses"),
			rule(verbs("update", "patch"), networkingGroup, "ingresses/status"),
			rule(read, legacyGroup, "services", "endpoints", "secrets", "nodes", "pods"),
			rule(read, discoveryGroup, "endpointslices"),
		),
		// Reads nodes through the shared informers; deletes the password
		// Secrets of deleted nodes in kube-system (its Role there).
		"node-password-controller": withEvents(
			rule(read, legacyGroup, "nodes"),
		),
		"flowschema-controller": withEvents(
			rule(read, flowcontrolGroup, "flowschemas", "prioritylevelconfigurations"),
			rule(verbs("update", "patch"), flowcontrolGroup, "flowschemas/status", "prioritylevelconfigurations/status"),
		),
	}
}

// ControllerServiceAccounts lists the service accounts in kube-system the
// server's controllers run as.
func ControllerServiceAccounts() []string {
	return slices.Sorted(maps.Keys(controllerRoles()))
}

// systemClusterRoles are the roles of the cluster's own parts: the
// scheduler, each controller, nodes, node proxies, monitoring.
func systemClusterRoles() []rbacv1.ClusterRole {
	roles := []rbacv1.ClusterRole{
		clusterRole("system:kube-scheduler", append(eventsRules(),
			rule(verbs("create"), coordinationGroup, "leases"),
			rbacv1.PolicyRule{Verbs: verbs("get", "update"), APIGroups: []string{coordinationGroup}, Resources: []string{"leases"}, ResourceNames: []string{"kube-scheduler"}},
			rule(read, legacyGroup, "nodes"),
			rule(verbs("get", "list", "watch", "delete"), legacyGroup, "pods"),
			rule(verbs("create"), legacyGroup, "bindings", "pods/binding"),
			rule(verbs("patch", "update"), legacyGroup, "pods/status"),
			rule(read, legacyGroup, "replicationcontrollers", "services"),
			rule(read, appsGroup, "replicasets", "statefulsets"),
			rule(read, policyGroup, "poddisruptionbudgets"),
			rule(read, legacyGroup, "persistentvolumeclaims", "persistentvolumes", "namespaces"),
			rule(verbs("create"), authnGroup, "tokenreviews"),
			rule(verbs("create"), authzGroup, "subjectaccessreviews"),
			rule(read, storageGroup, "csinodes", "csidrivers", "csistoragecapacities"),
		)...),
		clusterRole("system:volume-scheduler",
			rule(verbs("get", "list", "watch", "update", "patch"), legacyGroup, "persistentvolumes"),
			rule(read, storageGroup, "storageclasses"),
			rule(verbs("get", "list", "watch", "update", "patch"), legacyGroup, "persistentvolumeclaims"),
		),
		clusterRole("system:kube-controller-manager", append(eventsRules(),
			// Leader election.
			rule(verbs("create"), coordinationGroup, "leases"),
			rbacv1.PolicyRule{Verbs: verbs("get", "update"), APIGroups: []string{coordinationGroup}, Resources: []string{"leases"}, ResourceNames: []string{"kube-controller-manager", "flotilla-controllers"}},
			// The shared informers every controller reads from.
			rule(read, "*", "*"),
			rule(verbs("get"), legacyGroup, "secrets", "configmaps"),
			rule(verbs("create"), legacyGroup, "serviceaccounts"),
			rule(verbs("create"), legacyGroup, "serviceaccounts/token"),
			rule(verbs("create"), authnGroup, "tokenreviews"),
			rule(verbs("create"), authzGroup, "subjectaccessreviews"),
		)...),
		clusterRole("system:node",
			// What the Node authorizer does not decide for itself, as
			// upstream's role (unbound by default: nodes are authorized by
			// the Node authorizer).
			rule(verbs("create"), authnGroup, "tokenreviews"),
			rule(verbs("create"), authzGroup, "subjectaccessreviews", "localsubjectaccessreviews"),
			rule(read, legacyGroup, "services"),
			rule(verbs("create", "get", "list", "watch", "delete", "update", "patch"), legacyGroup, "nodes"),
			rule(verbs("patch", "update"), legacyGroup, "nodes/status"),
			rule(verbs("create", "update", "patch"), legacyGroup, "events"),
			rule(verbs("get", "list", "watch", "create", "delete"), legacyGroup, "pods"),
			rule(verbs("update", "patch"), legacyGroup, "pods/status"),
			rule(verbs("create"), legacyGroup, "pods/eviction"),
			rule(verbs("get"), legacyGroup, "configmaps", "secrets", "persistentvolumeclaims", "persistentvolumes"),
			rule(verbs("get", "update", "patch"), legacyGroup, "persistentvolumeclaims/status"),
			rule(verbs("create"), legacyGroup, "serviceaccounts/token"),
			rule(verbs("create", "get", "list", "watch"), certificatesGroup, "certificatesigningrequests"),
			rule(verbs("get", "create", "update", "patch", "delete"), coordinationGroup, "leases"),
			rule(read, nodeGroup, "runtimeclasses"),
		),
		clusterRole("system:node-proxier", append(eventsRules(),
			rule(verbs("list", "watch"), legacyGroup, "services", "endpoints"),
			rule(verbs("get", "list", "watch"), legacyGroup, "nodes"),
			rule(verbs("list", "watch"), discoveryGroup, "endpointslices"),
		)...),
		clusterRole("system:node-bootstrapper",
			rule(verbs("create", "get", "list", "watch"), certificatesGroup, "certificatesigningrequests"),
		),
		clusterRole("system:auth-delegator",
			rule(verbs("create"), authnGroup, "tokenreviews"),
			rule(verbs("create"), authzGroup, "subjectaccessreviews"),
		),
		clusterRole("system:heapster",
			rule(read, legacyGroup, "events", "pods", "nodes", "namespaces"),
			rule(read, appsGroup, "deployments"),
		),
		clusterRole("system:kube-dns",
			rule(verbs("list", "watch"), legacyGroup, "endpoints", "services"),
			rule(verbs("list", "watch"), discoveryGroup, "endpointslices"),
		),
		clusterRole("system:persistent-volume-provisioner",
			rule(verbs("get", "list", "watch", "create", "delete"), legacyGroup, "persistentvolumes"),
			rule(verbs("get", "list", "watch", "update"), legacyGroup, "persistentvolumeclaims"),
			rule(read, storageGroup, "storageclasses"),
			rule(verbs("watch", "create", "update", "patch"), legacyGroup, "events"),
		),
		clusterRole("system:certificates.k8s.io:certificatesigningrequests:nodeclient",
			rule(verbs("create"), certificatesGroup, "certificatesigningrequests/nodeclient"),
		),
		clusterRole("system:certificates.k8s.io:certificatesigningrequests:selfnodeclient",
			rule(verbs("create"), certificatesGroup, "certificatesigningrequests/selfnodeclient"),
		),
		clusterRole("system:certificates.k8s.io:kube-apiserver-client-approver",
			rbacv1.PolicyRule{Verbs: verbs("approve"), APIGroups: []string{certificatesGroup}, Resources: []string{"signers"}, ResourceNames: []string{"kubernetes.io/kube-apiserver-client"}},
		),
		clusterRole("system:certificates.k8s.io:kube-apiserver-client-kubelet-approver",
			rbacv1.PolicyRule{Verbs: verbs("approve"), APIGroups: []string{certificatesGroup}, Resources: []string{"signers"}, ResourceNames: []string{"kubernetes.io/kube-apiserver-client-kubelet"}},
		),
		clusterRole("system:certificates.k8s.io:kubelet-serving-approver",
			rbacv1.PolicyRule{Verbs: verbs("approve"), APIGroups: []string{certificatesGroup}, Resources: []string{"signers"}, ResourceNames: []string{"kubernetes.io/kubelet-serving"}},
		),
		clusterRole("system:certificates.k8s.io:legacy-unknown-approver",
			rbacv1.PolicyRule{Verbs: verbs("approve"), APIGroups: []string{certificatesGroup}, Resources: []string{"signers"}, ResourceNames: []string{"kubernetes.io/legacy-unknown"}},
		),
		clusterRole("system:service-account-issuer-discovery",
			rbacv1.PolicyRule{Verbs: verbs("get"), NonResourceURLs: []string{"/.well-known/openid-configuration", "/.well-known/openid-configuration/", "/openid/v1/jwks", "/openid/v1/jwks/"}},
		),
		clusterRole("system:monitoring",
			rbacv1.PolicyRule{Verbs: verbs("get"), NonResourceURLs: []string{"/healthz", "/healthz/*", "/livez", "/livez/*", "/readyz", "/readyz/*", "/metrics", "/metrics/slis"}},
		),
	}
	rules := controllerRoles()
	for _, name := range ControllerServiceAccounts() {
		roles = append(roles, clusterRole(controllerRolePrefix+name, rules[name]...))
	}
	return roles
}

func clusterBinding(name, role string, subjects ...rbacv1.Subject) rbacv1.ClusterRoleBinding {
	return rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: bootstrapLabels(), Annotations: autoUpdate()},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacGroup, Kind: "ClusterRole", Name: role},
		Subjects:   subjects,
	}
}

func userSubject(name string) rbacv1.Subject {
	return rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacGroup, Name: name}
}

func groupSubject(name string) rbacv1.Subject {
	return rbacv1.Subject{Kind: rbacv1.GroupKind, APIGroup: rbacGroup, Name: name}
}

func saSubject(namespace, name string) rbacv1.Subject {
	return rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Namespace: namespace, Name: name}
}

// systemClusterRoleBindings bind the system roles to the identities the
// server's components use.
func systemClusterRoleBindings() []rbacv1.ClusterRoleBinding {
	bindings := []rbacv1.ClusterRoleBinding{
		clusterBinding("system:kube-scheduler", "system:kube-scheduler", userSubject(SchedulerUser)),
		clusterBinding("system:volume-scheduler", "system:volume-scheduler", userSubject(SchedulerUser)),
		clusterBinding("system:kube-controller-manager", "system:kube-controller-manager", userSubject(ControllerManagerUser)),
		clusterBinding("system:node-proxier", "system:node-proxier", userSubject(KubeProxyUser)),
		clusterBinding("system:kube-dns", "system:kube-dns", saSubject(systemNamespace, "kube-dns")),
		clusterBinding("system:monitoring", "system:monitoring", groupSubject("system:monitoring")),
		clusterBinding("system:service-account-issuer-discovery", "system:service-account-issuer-discovery", groupSubject("system:serviceaccounts")),
		// Upstream binds system:node to no one: the Node authorizer
		// decides for nodes.
		clusterBinding("system:node", "system:node"),
	}
	for _, name := range ControllerServiceAccounts() {
		bindings = append(bindings, clusterBinding(controllerRolePrefix+name, controllerRolePrefix+name, saSubject(systemNamespace, name)))
	}
	return bindings
}

func role(namespace, name string, rules ...rbacv1.PolicyRule) rbacv1.Role {
	return rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, Labels: bootstrapLabels(), Annotations: autoUpdate()}, Rules: rules}
}

func roleBinding(namespace, name, roleName string, subjects ...rbacv1.Subject) rbacv1.RoleBinding {
	return rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, Labels: bootstrapLabels(), Annotations: autoUpdate()},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacGroup, Kind: "Role", Name: roleName},
		Subjects:   subjects,
	}
}

// systemRoles are the namespaced system roles, by namespace.
func systemRoles() map[string][]rbacv1.Role {
	return map[string][]rbacv1.Role{
		systemNamespace: {
			role(systemNamespace, "extension-apiserver-authentication-reader",
				rbacv1.PolicyRule{Verbs: read, APIGroups: []string{legacyGroup}, Resources: []string{"configmaps"}, ResourceNames: []string{"extension-apiserver-authentication"}}),
			role(systemNamespace, "system::leader-locking-kube-controller-manager",
				rule(verbs("watch"), legacyGroup, "configmaps"),
				rbacv1.PolicyRule{Verbs: verbs("get", "update"), APIGroups: []string{legacyGroup}, Resources: []string{"configmaps"}, ResourceNames: []string{"kube-controller-manager"}}),
			role(systemNamespace, "system::leader-locking-kube-scheduler",
				rule(verbs("watch"), legacyGroup, "configmaps"),
				rbacv1.PolicyRule{Verbs: verbs("get", "update"), APIGroups: []string{legacyGroup}, Resources: []string{"configmaps"}, ResourceNames: []string{"kube-scheduler"}}),
			role(systemNamespace, "system:controller:bootstrap-signer",
				rule(read, legacyGroup, "secrets")),
			role(systemNamespace, "system:controller:cloud-provider",
				rule(verbs("create", "get", "list", "watch"), legacyGroup, "configmaps")),
			role(systemNamespace, "system:controller:node-password-controller",
				rule(verbs("get", "list", "delete"), legacyGroup, "secrets")),
			role(systemNamespace, "system:controller:token-cleaner",
				rule(verbs("delete", "get", "list", "watch"), legacyGroup, "secrets"),
				rule(verbs("create", "update", "patch"), legacyGroup, "events")),
		},
		publicNamespace: {
			role(publicNamespace, "system:controller:bootstrap-signer",
				rule(read, legacyGroup, "configmaps"),
				rbacv1.PolicyRule{Verbs: verbs("update"), APIGroups: []string{legacyGroup}, Resources: []string{"configmaps"}, ResourceNames: []string{"cluster-info"}},
				rule(verbs("create", "update", "patch"), legacyGroup, "events")),
		},
	}
}

// systemRoleBindings are the namespaced system role bindings, by namespace.
func systemRoleBindings() map[string][]rbacv1.RoleBinding {
	return map[string][]rbacv1.RoleBinding{
		systemNamespace: {
			roleBinding(systemNamespace, "system::extension-apiserver-authentication-reader", "extension-apiserver-authentication-reader",
				userSubject(ControllerManagerUser), userSubject(SchedulerUser)),
			roleBinding(systemNamespace, "system::leader-locking-kube-controller-manager", "system::leader-locking-kube-controller-manager",
				userSubject(ControllerManagerUser), saSubject(systemNamespace, "kube-controller-manager")),
			roleBinding(systemNamespace, "system::leader-locking-kube-scheduler", "system::leader-locking-kube-scheduler",
				userSubject(SchedulerUser), saSubject(systemNamespace, "kube-scheduler")),
			roleBinding(systemNamespace, "system:controller:bootstrap-signer", "system:controller:bootstrap-signer", saSubject(systemNamespace, "bootstrap-signer")),
			roleBinding(systemNamespace, "system:controller:cloud-provider", "system:controller:cloud-provider", saSubject(systemNamespace, "cloud-provider")),
			roleBinding(systemNamespace, "system:controller:node-password-controller", "system:controller:node-password-controller", saSubject(systemNamespace, "node-password-controller")),
			roleBinding(systemNamespace, "system:controller:token-cleaner", "system:controller:token-cleaner", saSubject(systemNamespace, "token-cleaner")),
		},
		publicNamespace: {
			roleBinding(publicNamespace, "system:controller:bootstrap-signer", "system:controller:bootstrap-signer", saSubject(systemNamespace, "bootstrap-signer")),
		},
	}
}
