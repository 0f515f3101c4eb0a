package node

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
)

// NodeUserPrefix and NodesGroup name a node agent's identity.
const (
	NodeUserPrefix = "system:node:"
	NodesGroup     = user.NodesGroup
)

// nodeLeaseNamespace holds the nodes' heartbeat Leases.
const nodeLeaseNamespace = "kube-node-lease"

// Authorizer decides node agents' requests; it has no opinion on anyone
// else's.
type Authorizer struct {
	graph *Graph
}

var _ authorizer.Authorizer = (*Authorizer)(nil)

// New returns the authorizer deciding with graph's pods-by-node index.
func New(graph *Graph) *Authorizer { return &Authorizer{graph: graph} }

// NodeName returns the node an identity is the agent of, if it is one.
func NodeName(u user.Info) (string, bool) {
	if u == nil || !slices.Contains(u.GetGroups(), NodesGroup) {
		return "", false
	}
	name, ok := strings.CutPrefix(u.GetName(), NodeUserPrefix)
	return name, ok && name != ""
}

// verbs
var (
	readVerbs  = []string{"get", "list", "watch"}
	writeVerbs = []string{"create", "update", "patch"}
)

// Authorize allows a node agent what it needs and no more; everything
// else gets no opinion, so RBAC decides.
func (a *Authorizer) Authorize(_ context.Context, attrs authorizer.Attributes) (authorizer.Decision, string, error) {
	node, ok := NodeName(attrs.GetUser())
	if !ok || !attrs.IsResourceRequest() {
		return authorizer.DecisionNoOpinion, "", nil
	}
	verb, group, resource, sub := attrs.GetVerb(), attrs.GetAPIGroup(), attrs.GetResource(), attrs.GetSubresource()
	allow := func(ok bool) (authorizer.Decision, string, error) {
		if ok {
			return authorizer.DecisionAllow, "", nil
		}
		return authorizer.DecisionNoOpinion, fmt.Sprintf("node %q may not %s this object", node, verb), nil
	}
	switch group + "/" + resource {
	case "/nodes":
		// Every node reads every Node (routes to other nodes' pod
		// networks); it writes only its own.
		if sub == "" && slices.Contains(readVerbs, verb) {
			return allow(true)
		}
		// A create names its object only in the body, which the
		// authorizer does not see: NodeRestriction admission refuses a
		// Node other than the agent's own.
		if sub == "" && verb == "create" && attrs.GetName() == "" {
			return allow(true)
		}
		if attrs.GetName() != node {
			return allow(false)
		}
		return allow((sub == "" && (slices.Contains(writeVerbs, verb) || verb == "delete")) ||
			(sub == "status" && (verb == "get" || verb == "update" || verb == "patch")))
	case "coordination.k8s.io/leases":
		if sub != "" || attrs.GetNamespace() != nodeLeaseNamespace {
			return allow(false)
		}
		// As for Nodes, NodeRestriction holds a create to the agent's own
		// Lease.
		if verb == "create" && attrs.GetName() == "" {
			return allow(true)
		}
		return allow(attrs.GetName() == node && slices.Contains([]string{"get", "create", "update", "patch", "delete"}, verb))
	case "/pods":
		// Which pod a write touches is NodeRestriction's to check, against
		// the stored pod: the graph may lag behind a binding (the agent
		// reports status at once) or a deletion (the agent's final delete
		// of a pod already gone must answer 404, not 403).
		switch sub {
		case "":
			// Reads of every pod: the agent's NetworkPolicy enforcement
			// needs the addresses and labels of all pods. Creates are of
			// mirror pods; deletes of the agent's own stopped pods.
			return allow(slices.Contains(readVerbs, verb) || verb == "create" || verb == "delete")
		case "status":
			return allow(verb == "get" || verb == "update" || verb == "patch")
		case "eviction":
			return allow(verb == "create")
		}
		return allow(false)
	case "/events", "events.k8s.io/events":
		return allow(sub == "" && slices.Contains(writeVerbs, verb))
	case "/secrets":
		// The agent's Ingress proxy terminates TLS for every Ingress on
		// every node: it lists and watches the kubernetes.io/tls Secrets
		// (and no other type) with a field selector.
		if (verb == "list" || verb == "watch") && sub == "" && attrs.GetName() == "" && onlyTLSSecrets(attrs) {
			return allow(true)
		}
		return a.usedObject(node, attrs, resource)
	case "/configmaps":
		return a.usedObject(node, attrs, resource)
	case "/persistentvolumeclaims":
		if sub == "status" && (verb == "update" || verb == "patch") && a.graph.HasSynced() {
			return allow(a.graph.nodeUses(node, kindPVC, attrs.GetNamespace(), attrs.GetName()))
		}
		return a.usedObject(node, attrs, kindPVC)
	case "/persistentvolumes":
		return allow(sub == "" && verb == "get" && a.graph.HasSynced() && a.graph.nodeUsesVolume(node, attrs.GetName()))
	case "/serviceaccounts":
		if sub == "token" && verb == "create" || sub == "" && verb == "get" {
			return allow(a.graph.HasSynced() && a.graph.nodeUses(node, kindServiceAccount, attrs.GetNamespace(), attrs.GetName()))
		}
		return allow(false)
	case "/services", "/endpoints", "discovery.k8s.io/endpointslices", "/namespaces", "networking.k8s.io/networkpolicies",
		"node.k8s.io/runtimeclasses", "storage.k8s.io/csidrivers", "storage.k8s.io/csinodes", "storage.k8s.io/volumeattachments",
		"networking.k8s.io/ingresses", "networking.k8s.io/ingressclasses":
		// Service proxy, cluster DNS, NetworkPolicy enforcement, runtime
		// handlers, volume drivers and the Ingress proxy every node runs
		// (upstream's nodes read no Ingresses: their proxy is a workload).
		return allow(sub == "" && slices.Contains(readVerbs, verb))
	case "authentication.k8s.io/tokenreviews", "authorization.k8s.io/subjectaccessreviews":
		// The agent checks the credentials of requests to its own port.
		return allow(verb == "create")
	case "certificates.k8s.io/certificatesigningrequests":
		return allow(sub == "" && (verb == "create" || slices.Contains(readVerbs, verb)))
	}
	return authorizer.DecisionNoOpinion, "", nil
}

// usedObject allows a get of an object a pod bound to node uses, and a
// list or watch narrowed to such an object by a metadata.name field
// selector (how an agent watches one object).
func (a *Authorizer) usedObject(node string, attrs authorizer.Attributes, kind string) (authorizer.Decision, string, error) {
	noRelation := fmt.Sprintf("no relationship found between node '%s' and this object", node)
	if attrs.GetSubresource() != "" || !a.graph.HasSynced() {
		return authorizer.DecisionNoOpinion, noRelation, nil
	}
	name := attrs.GetName()
	switch attrs.GetVerb() {
	case "get":
	case "list", "watch":
		if name == "" {
			name = nameFromFieldSelector(attrs)
		}
	default:
		return authorizer.DecisionNoOpinion, noRelation, nil
	}
	if name != "" && a.graph.nodeUses(node, kind, attrs.GetNamespace(), name) {
		return authorizer.DecisionAllow, "", nil
	}
	return authorizer.DecisionNoOpinion, noRelation, nil
}

// onlyTLSSecrets reports whether the field selector is exactly
// type=kubernetes.io/tls.
func onlyTLSSecrets(attrs authorizer.Attributes) bool {
	reqs, err := attrs.GetFieldSelector()
	if err != nil || len(reqs) != 1 {
		return false
	}
	r := reqs[0]
	return r.Field == "type" && r.Value == "kubernetes.io/tls" && (r.Operator == selection.Equals || r.Operator == selection.DoubleEquals)
}

// nameFromFieldSelector returns X of a field selector that is exactly
// metadata.name=X (or ==X).
func nameFromFieldSelector(attrs authorizer.Attributes) string {
	reqs, err := attrs.GetFieldSelector()
	if err != nil || len(reqs) != 1 {
		return ""
	}
	r := reqs[0]
	if r.Field != "metadata.name" || (r.Operator != selection.Equals && r.Operator != selection.DoubleEquals) {
		return ""
	}
	return r.Value
}

// ConditionsAwareAuthorize decides as Authorize: the decisions carry no
// conditions.
func (a *Authorizer) ConditionsAwareAuthorize(ctx context.Context, attrs authorizer.Attributes) authorizer.ConditionsAwareDecision {
	return authorizer.ConditionsAwareDecisionFromParts(a.Authorize(ctx, attrs))
}

// EvaluateConditions is never needed: no decision is conditional.
func (a *Authorizer) EvaluateConditions(context.Context, authorizer.ConditionsAwareDecision, authorizer.ConditionsData) (authorizer.Decision, string, error) {
	return authorizer.DecisionDeny, "", authorizer.ErrorConditionEvaluationNotSupported
}
