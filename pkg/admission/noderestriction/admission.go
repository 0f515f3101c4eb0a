package noderestriction

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/admission"

	"github.com/flotilla-io/flotilla/pkg/admission/internal/deps"
	nodeauth "github.com/flotilla-io/flotilla/pkg/auth/node"
)

// PluginName is the plugin's name in the admission chain.
const PluginName = "NodeRestriction"

// MirrorPodAnnotation marks the API's copy of a pod an agent runs from a
// local manifest.
const MirrorPodAnnotation = "kubernetes.io/config.mirror"

// restrictedLabelPrefix is the label namespace administrators use to
// steer workloads to nodes that cannot label themselves.
const restrictedLabelPrefix = "node-restriction.kubernetes.io/"

var (
	podsResource   = schema.GroupResource{Resource: "pods"}
	nodesResource  = schema.GroupResource{Resource: "nodes"}
	leasesResource = schema.GroupResource{Group: "coordination.k8s.io", Resource: "leases"}
)

// nodeLeaseNamespace holds the nodes' heartbeat Leases.
const nodeLeaseNamespace = "kube-node-lease"

// PodGetter reads a pod as stored, for requests that carry no object
// (deletes, evictions).
type PodGetter func(ctx context.Context, namespace, name string) (*corev1.Pod, error)

// Plugin is the NodeRestriction admission plugin.
type Plugin struct {
	*admission.Handler
	getPod PodGetter
}

var _ admission.ValidationInterface = (*Plugin)(nil)

// New returns the plugin; getPod reads pods whose request carries none.
func New(getPod PodGetter) *Plugin {
	return &Plugin{Handler: admission.NewHandler(admission.Create, admission.Update, admission.Delete), getPod: getPod}
}

// Register adds the plugin to plugins, for chains built by name.
func Register(plugins *admission.Plugins, getPod PodGetter) {
	plugins.Register(PluginName, func(io.Reader) (admission.Interface, error) { return New(getPod), nil })
}

// NewFromDeps builds the plugin for the server's admission chain: pods a
// request carries none of are read through the server's client.
func NewFromDeps(d deps.Deps) (admission.Interface, error) {
	return New(func(ctx context.Context, namespace, name string) (*corev1.Pod, error) {
		return d.Client.CoreV1().Pods(namespace).Get(ctx, name, metav1.GetOptions{})
	}), nil
}

// Validate refuses a node's changes to objects not its own.
func (p *Plugin) Validate(ctx context.Context, a admission.Attributes, _ admission.ObjectInterfaces) error {
	nodeName, ok := nodeauth.NodeName(a.GetUserInfo())
	if !ok {
		return nil
	}
	switch a.GetResource().GroupResource() {
	case podsResource:
		switch a.GetSubresource() {
		case "":
			return p.admitPod(ctx, nodeName, a)
		case "status":
			return p.admitPodStatus(ctx, nodeName, a)
		case "eviction":
			return p.admitEviction(ctx, nodeName, a)
		}
	case nodesResource:
		return admitNode(nodeName, a)
	case leasesResource:
		return admitLease(nodeName, a)
	}
	return nil
}

func forbidden(a admission.Attributes, format string, args ...any) error {
	return admission.NewForbidden(a, fmt.Errorf(format, args...))
}

func (p *Plugin) admitPod(ctx context.Context, nodeName string, a admission.Attributes) error {
	switch a.GetOperation() {
	case admission.Create:
		pod, ok := a.GetObject().(*corev1.Pod)
		if !ok {
			return apierrors.NewBadRequest(fmt.Sprintf("unexpected type %T", a.GetObject()))
		}
		if _, mirror := pod.Annotations[MirrorPodAnnotation]; !mirror {
			return forbidden(a, "pod does not have %q annotation, node %q can only create mirror pods", MirrorPodAnnotation, nodeName)
		}
		if pod.Spec.NodeName != nodeName {
			return forbidden(a, "node %q can only create pods with spec.nodeName set to itself", nodeName)
		}
		if refs := podReferences(pod); refs != "" {
			return forbidden(a, "node %q can not create pods that %s", nodeName, refs)
		}
		return nil
	case admission.Delete:
		pod, err := p.existingPod(ctx, a)
		if err != nil {
			return err
		}
		if pod != nil && pod.Spec.NodeName != nodeName {
			return forbidden(a, "node %q can only delete pods with spec.nodeName set to itself", nodeName)
		}
		return nil
	}
	return forbidden(a, "node %q can not %s pods", nodeName, strings.ToLower(string(a.GetOperation())))
}

// podReferences says what a mirror pod may not use: it runs from a local
// manifest, so it must not become a way to read API objects.
func podReferences(pod *corev1.Pod) string {
	if pod.Spec.ServiceAccountName != "" && pod.Spec.ServiceAccountName != "default" {
		return "use service accounts"
	}
	for _, v := range pod.Spec.Volumes {
		switch {
		case v.Secret != nil:
			return "reference secrets"
		case v.ConfigMap != nil:
			return "reference configmaps"
		case v.PersistentVolumeClaim != nil, v.Ephemeral != nil:
			return "reference persistentvolumeclaims"
		case v.Projected != nil:
			for _, s := range v.Projected.Sources {
				if s.Secret != nil {
					return "reference secrets"
				}
				if s.ConfigMap != nil {
					return "reference configmaps"
				}
				if s.ServiceAccountToken != nil {
					return "use service accounts"
				}
			}
		}
	}
	var refs string
	check := func(c *corev1.Container) {
		for _, e := range c.EnvFrom {
			if e.SecretRef != nil && refs == "" {
				refs = "reference secrets"
			}
			if e.ConfigMapRef != nil && refs == "" {
				refs = "reference configmaps"
			}
		}
		for _, e := range c.Env {
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil && refs == "" {
				refs = "reference secrets"
			}
			if e.ValueFrom != nil && e.ValueFrom.ConfigMapKeyRef != nil && refs == "" {
				refs = "reference configmaps"
			}
		}
	}
	for i := range pod.Spec.InitContainers {
		check(&pod.Spec.InitContainers[i])
	}
	for i := range pod.Spec.Containers {
		check(&pod.Spec.Containers[i])
	}
	if refs == "" && len(pod.Spec.ImagePullSecrets) > 0 {
		refs = "reference secrets"
	}
	return refs
}

func (p *Plugin) admitPodStatus(ctx context.Context, nodeName string, a admission.Attributes) error {
	if a.GetOperation() != admission.Update {
		return forbidden(a, "unexpected operation %s", a.GetOperation())
	}
	old, ok := a.GetOldObject().(*corev1.Pod)
	if !ok {
		var err error
		if old, err = p.existingPod(ctx, a); err != nil || old == nil {
			return err
		}
	}
	if old.Spec.NodeName != nodeName {
		return forbidden(a, "node %q can only update pod status for pods with spec.nodeName set to itself", nodeName)
	}
	if pod, ok := a.GetObject().(*corev1.Pod); ok {
		// Through the status subresource a node reports; it does not
		// relabel or re-own pods.
		if !apiequality.Semantic.DeepEqual(old.OwnerReferences, pod.OwnerReferences) {
			return forbidden(a, "node %q cannot update ownerReferences", nodeName)
		}
	}
	return nil
}

func (p *Plugin) admitEviction(ctx context.Context, nodeName string, a admission.Attributes) error {
	if a.GetOperation() != admission.Create {
		return nil
	}
	name, namespace := a.GetName(), a.GetNamespace()
	if ev, ok := a.GetObject().(*policyv1.Eviction); ok && ev.Name != "" {
		name = ev.Name
	}
	pod, err := p.getPod(ctx, namespace, name)
	if apierrors.IsNotFound(err) {
		return nil // nothing to evict; the eviction itself answers 404
	}
	if err != nil {
		return apierrors.NewInternalError(fmt.Errorf("read pod %s/%s: %w", namespace, name, err))
	}
	if pod.Spec.NodeName != nodeName {
		return forbidden(a, "node %q can only evict pods with spec.nodeName set to itself", nodeName)
	}
	return nil
}

// existingPod is the stored pod a request acts on, nil if it is gone.
func (p *Plugin) existingPod(ctx context.Context, a admission.Attributes) (*corev1.Pod, error) {
	if pod, ok := a.GetOldObject().(*corev1.Pod); ok {
		return pod, nil
	}
	pod, err := p.getPod(ctx, a.GetNamespace(), a.GetName())
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, apierrors.NewInternalError(fmt.Errorf("read pod %s/%s: %w", a.GetNamespace(), a.GetName(), err))
	}
	return pod, nil
}

// admitLease holds a node to its own heartbeat Lease (the authorizer
// cannot see a create's name; this covers every operation alike).
func admitLease(nodeName string, a admission.Attributes) error {
	if a.GetNamespace() != nodeLeaseNamespace {
		return forbidden(a, "can only access leases in the %q namespace", nodeLeaseNamespace)
	}
	if a.GetName() != nodeName {
		return forbidden(a, "can only access node lease with the same name as the requesting node")
	}
	return nil
}

func admitNode(nodeName string, a admission.Attributes) error {
	if a.GetName() != nodeName {
		return forbidden(a, "node %q is not allowed to modify node %q", nodeName, a.GetName())
	}
	if a.GetSubresource() != "" {
		// Through status a node reports; the server keeps its spec and
		// metadata as they are.
		return nil
	}
	switch a.GetOperation() {
	case admission.Create:
		n, ok := a.GetObject().(*corev1.Node)
		if !ok {
			return nil
		}
		if bad := forbiddenLabels(n.Labels, nil); len(bad) > 0 {
			return forbidden(a, "node %q is not allowed to set the following labels: %s", nodeName, strings.Join(bad, ", "))
		}
	case admission.Update:
		n, ok1 := a.GetObject().(*corev1.Node)
		old, ok2 := a.GetOldObject().(*corev1.Node)
		if !ok1 || !ok2 {
			return nil
		}
		if bad := forbiddenLabels(n.Labels, old.Labels); len(bad) > 0 {
			return forbidden(a, "node %q is not allowed to modify labels: %s", nodeName, strings.Join(bad, ", "))
		}
		// The pod network a node was given is the IPAM controller's.
		if old.Spec.PodCIDR != "" && n.Spec.PodCIDR != old.Spec.PodCIDR ||
			len(old.Spec.PodCIDRs) > 0 && !slices.Equal(n.Spec.PodCIDRs, old.Spec.PodCIDRs) {
			return forbidden(a, "node %q is not allowed to change spec.podCIDRs", nodeName)
		}
		if !apiequality.Semantic.DeepEqual(old.Spec.Taints, n.Spec.Taints) {
			return forbidden(a, "node %q is not allowed to modify taints", nodeName)
		}
	}
	return nil
}

// forbiddenLabels lists the labels set or changed (from old) that a node
// may not set on itself: the node-restriction.kubernetes.io/ namespace,
// and kubernetes.io or k8s.io labels other than those the agent reports.
func forbiddenLabels(labels, old map[string]string) []string {
	var bad []string
	for k, v := range labels {
		if ov, had := old[k]; had && ov == v {
			continue
		}
		if !nodeMaySet(k) {
			bad = append(bad, k)
		}
	}
	for k := range old {
		if _, kept := labels[k]; !kept && !nodeMaySet(k) {
			bad = append(bad, k)
		}
	}
	sort.Strings(bad)
	return bad
}

// agentLabels are the kubernetes.io labels a node reports about itself.
var agentLabels = []string{
	corev1.LabelHostname, corev1.LabelOSStable, corev1.LabelArchStable,
	"beta.kubernetes.io/os", "beta.kubernetes.io/arch", "beta.kubernetes.io/instance-type",
	corev1.LabelInstanceTypeStable, corev1.LabelTopologyZone, corev1.LabelTopologyRegion,
	corev1.LabelFailureDomainBetaZone, corev1.LabelFailureDomainBetaRegion,
}

func nodeMaySet(key string) bool {
	prefix, _, namespaced := strings.Cut(key, "/")
	if !namespaced {
		return true
	}
	if strings.HasPrefix(key, restrictedLabelPrefix) {
		return false
	}
	if prefix != "kubernetes.io" && !strings.HasSuffix(prefix, ".kubernetes.io") && prefix != "k8s.io" && !strings.HasSuffix(prefix, ".k8s.io") {
		return true
	}
	if slices.Contains(agentLabels, key) {
		return true
	}
	// Namespaces left to the agent itself.
	return prefix == "kubelet.kubernetes.io" || strings.HasSuffix(prefix, ".kubelet.kubernetes.io") ||
		prefix == "node.kubernetes.io" || strings.HasSuffix(prefix, ".node.kubernetes.io")
}
