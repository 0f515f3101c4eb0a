// Package flowcontrol holds the API Priority and Fairness configuration
// every upstream API server keeps in its cluster: the mandatory priority
// levels and flow schemas (exempt, catch-all), whose specs are fixed, and
// the suggested ones a server creates when they are missing. Flotilla
// serves the objects so clients that read or extend them work; it does
// not queue requests by them.
package flowcontrol

import (
	flowcontrolv1 "k8s.io/api/flowcontrol/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Groups and users the schemas name.
const (
	groupMasters         = "system:masters"
	groupNodes           = "system:nodes"
	groupServiceAccounts = "system:serviceaccounts"
	groupAuthenticated   = "system:authenticated"
	groupUnauthenticated = "system:unauthenticated"
	userControllerMgr    = "system:kube-controller-manager"
	userScheduler        = "system:kube-scheduler"
)

func ptr32(v int32) *int32 { return &v }

func meta(name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Annotations: map[string]string{flowcontrolv1.AutoUpdateAnnotationKey: "true"}}
}

// queued is a Limited level that queues: shares, lendable percent and
// queues x hand size (queue length 50 everywhere).
func queued(name string, shares, lendable, queues, hand int32) *flowcontrolv1.PriorityLevelConfiguration {
	return &flowcontrolv1.PriorityLevelConfiguration{ObjectMeta: meta(name), Spec: flowcontrolv1.PriorityLevelConfigurationSpec{
		Type: flowcontrolv1.PriorityLevelEnablementLimited,
		Limited: &flowcontrolv1.LimitedPriorityLevelConfiguration{
			NominalConcurrencyShares: ptr32(shares),
			LendablePercent:          ptr32(lendable),
			LimitResponse: flowcontrolv1.LimitResponse{
				Type:    flowcontrolv1.LimitResponseTypeQueue,
				Queuing: &flowcontrolv1.QueuingConfiguration{Queues: queues, HandSize: hand, QueueLengthLimit: 50},
			},
		},
	}}
}

// MandatoryPriorityLevels are exempt and catch-all, in their defaulted
// form; their specs may not change.
func MandatoryPriorityLevels() []*flowcontrolv1.PriorityLevelConfiguration {
	return []*flowcontrolv1.PriorityLevelConfiguration{
		{ObjectMeta: meta(flowcontrolv1.PriorityLevelConfigurationNameCatchAll), Spec: flowcontrolv1.PriorityLevelConfigurationSpec{
			Type: flowcontrolv1.PriorityLevelEnablementLimited,
			Limited: &flowcontrolv1.LimitedPriorityLevelConfiguration{
				NominalConcurrencyShares: ptr32(5),
				LendablePercent:          ptr32(0),
				LimitResponse:            flowcontrolv1.LimitResponse{Type: flowcontrolv1.LimitResponseTypeReject},
			},
		}},
		{ObjectMeta: meta(flowcontrolv1.PriorityLevelConfigurationNameExempt), Spec: flowcontrolv1.PriorityLevelConfigurationSpec{
			Type:   flowcontrolv1.PriorityLevelEnablementExempt,
			Exempt: &flowcontrolv1.ExemptPriorityLevelConfiguration{NominalConcurrencyShares: ptr32(0), LendablePercent: ptr32(0)},
		}},
	}
}

// SuggestedPriorityLevels are created when missing and may be changed.
func SuggestedPriorityLevels() []*flowcontrolv1.PriorityLevelConfiguration {
	return []*flowcontrolv1.PriorityLevelConfiguration{
		queued("system", 30, 33, 64, 6),
		queued("node-high", 40, 25, 64, 6),
		queued("leader-election", 10, 0, 16, 4),
		queued("workload-high", 40, 50, 128, 6),
		queued("workload-low", 100, 90, 128, 6),
		queued("global-default", 20, 50, 128, 6),
	}
}

func groups(names ...string) []flowcontrolv1.Subject {
	out := make([]flowcontrolv1.Subject, len(names))
	for i, n := range names {
		out[i] = flowcontrolv1.Subject{Kind: flowcontrolv1.SubjectKindGroup, Group: &flowcontrolv1.GroupSubject{Name: n}}
	}
	return out
}

func users(names ...string) []flowcontrolv1.Subject {
	out := make([]flowcontrolv1.Subject, len(names))
	for i, n := range names {
		out[i] = flowcontrolv1.Subject{Kind: flowcontrolv1.SubjectKindUser, User: &flowcontrolv1.UserSubject{Name: n}}
	}
	return out
}

// kubeSystemAccounts names service accounts of kube-system.
func kubeSystemAccounts(names ...string) []flowcontrolv1.Subject {
	out := make([]flowcontrolv1.Subject, len(names))
	for i, n := range names {
		out[i] = flowcontrolv1.Subject{Kind: flowcontrolv1.SubjectKindServiceAccount, ServiceAccount: &flowcontrolv1.ServiceAccountSubject{Namespace: metav1.NamespaceSystem, Name: n}}
	}
	return out
}

func join(lists ...[]flowcontrolv1.Subject) []flowcontrolv1.Subject {
	var out []flowcontrolv1.Subject
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

// resources is a rule over resources in every namespace; cluster adds
// cluster-scoped ones.
func resources(verbs, apiGroups, names []string, cluster bool) flowcontrolv1.ResourcePolicyRule {
	return flowcontrolv1.ResourcePolicyRule{Verbs: verbs, APIGroups: apiGroups, Resources: names, Namespaces: []string{flowcontrolv1.NamespaceEvery}, ClusterScope: cluster}
}

var all = []string{"*"}

// everything matches every request of its subjects.
func everything(subjects []flowcontrolv1.Subject) flowcontrolv1.PolicyRulesWithSubjects {
	return flowcontrolv1.PolicyRulesWithSubjects{
		Subjects:         subjects,
		ResourceRules:    []flowcontrolv1.ResourcePolicyRule{resources(all, all, all, true)},
		NonResourceRules: []flowcontrolv1.NonResourcePolicyRule{{Verbs: all, NonResourceURLs: all}},
	}
}

func schema(name, level string, precedence int32, by flowcontrolv1.FlowDistinguisherMethodType, rules ...flowcontrolv1.PolicyRulesWithSubjects) *flowcontrolv1.FlowSchema {
	fs := &flowcontrolv1.FlowSchema{ObjectMeta: meta(name), Spec: flowcontrolv1.FlowSchemaSpec{
		PriorityLevelConfiguration: flowcontrolv1.PriorityLevelConfigurationReference{Name: level},
		MatchingPrecedence:         precedence,
		Rules:                      rules,
	}}
	if by != "" {
		fs.Spec.DistinguisherMethod = &flowcontrolv1.FlowDistinguisherMethod{Type: by}
	}
	return fs
}

const (
	byUser      = flowcontrolv1.FlowDistinguisherMethodByUserType
	byNamespace = flowcontrolv1.FlowDistinguisherMethodByNamespaceType
)

// MandatoryFlowSchemas are exempt (system:masters) and catch-all; their
// specs may not change.
func MandatoryFlowSchemas() []*flowcontrolv1.FlowSchema {
	return []*flowcontrolv1.FlowSchema{
		schema(flowcontrolv1.FlowSchemaNameExempt, flowcontrolv1.PriorityLevelConfigurationNameExempt, 1, "", everything(groups(groupMasters))),
		schema(flowcontrolv1.FlowSchemaNameCatchAll, flowcontrolv1.PriorityLevelConfigurationNameCatchAll, 10000, byUser, everything(groups(groupUnauthenticated, groupAuthenticated))),
	}
}

// SuggestedFlowSchemas are created when missing and may be changed.
func SuggestedFlowSchemas() []*flowcontrolv1.FlowSchema {
	getCreateUpdate := []string{"get", "create", "update"}
	core, coordination := []string{""}, []string{"coordination.k8s.io"}
	leases := resources(getCreateUpdate, coordination, []string{"leases"}, false)
	return []*flowcontrolv1.FlowSchema{
		schema("system-nodes", "system", 500, byUser, everything(groups(groupNodes))),
		schema("system-node-high", "node-high", 400, byUser, flowcontrolv1.PolicyRulesWithSubjects{
			Subjects: groups(groupNodes),
			ResourceRules: []flowcontrolv1.ResourcePolicyRule{
				resources(all, core, []string{"nodes", "nodes/status"}, true),
				resources(all, coordination, []string{"leases"}, false),
			},
		}),
		schema("probes", "exempt", 2, "", flowcontrolv1.PolicyRulesWithSubjects{
			Subjects:         groups(groupUnauthenticated, groupAuthenticated),
			NonResourceRules: []flowcontrolv1.NonResourcePolicyRule{{Verbs: []string{"get"}, NonResourceURLs: []string{"/healthz", "/readyz", "/livez"}}},
		}),
		schema("system-leader-election", "leader-election", 100, byUser, flowcontrolv1.PolicyRulesWithSubjects{
			Subjects:      join(users(userControllerMgr, userScheduler), kubeSystemAccounts("*")),
			ResourceRules: []flowcontrolv1.ResourcePolicyRule{leases},
		}),
		schema("workload-leader-election", "leader-election", 200, byUser, flowcontrolv1.PolicyRulesWithSubjects{
			Subjects: kubeSystemAccounts("*"),
			ResourceRules: []flowcontrolv1.ResourcePolicyRule{
				resources(getCreateUpdate, core, []string{"endpoints", "configmaps"}, false),
				leases,
			},
		}),
		schema("endpoint-controller", "workload-high", 150, byUser, flowcontrolv1.PolicyRulesWithSubjects{
			Subjects:      join(users(userControllerMgr), kubeSystemAccounts("endpoint-controller", "endpointslicemirroring-controller")),
			ResourceRules: []flowcontrolv1.ResourcePolicyRule{resources(getCreateUpdate, core, []string{"endpoints"}, false)},
		}),
		schema("kube-controller-manager", "workload-high", 800, byNamespace, everything(users(userControllerMgr))),
		schema("kube-scheduler", "workload-high", 800, byNamespace, everything(users(userScheduler))),
		schema("kube-system-service-accounts", "workload-high", 900, byNamespace, everything(kubeSystemAccounts("*"))),
		schema("service-accounts", "workload-low", 9000, byUser, everything(groups(groupServiceAccounts))),
		schema("global-default", "global-default", 9900, byUser, everything(groups(groupUnauthenticated, groupAuthenticated))),
	}
}
