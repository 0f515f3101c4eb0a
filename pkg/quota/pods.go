package quota

import (
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apiserver/pkg/admission"
	quota "k8s.io/apiserver/pkg/quota/v1"
	"k8s.io/apiserver/pkg/quota/v1/generic"
	resourcehelper "k8s.io/component-helpers/resource"
	"k8s.io/utils/clock"

	"github.com/flotilla-io/flotilla/pkg/podutil"
)

var podsGR = corev1.Resource("pods")

// podCount counts every stored pod, terminal or not; "pods" counts only
// the pods still running or to run.
var podCount = generic.ObjectCountQuotaResourceNameFor(podsGR)

// podResources are the names the pod evaluator charges (besides
// requests.<extended> and hugepages).
var podResources = []corev1.ResourceName{
	podCount, corev1.ResourcePods,
	corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage,
	corev1.ResourceRequestsCPU, corev1.ResourceRequestsMemory, corev1.ResourceRequestsEphemeralStorage,
	corev1.ResourceLimitsCPU, corev1.ResourceLimitsMemory, corev1.ResourceLimitsEphemeralStorage,
}

// requiredPerContainer: a quota on any of these makes every container
// state it (upstream keeps this for compatibility; it predates QoS).
var requiredPerContainer = sets.New[corev1.ResourceName](
	corev1.ResourceCPU, corev1.ResourceMemory,
	corev1.ResourceRequestsCPU, corev1.ResourceRequestsMemory,
	corev1.ResourceLimitsCPU, corev1.ResourceLimitsMemory,
)

type podEvaluator struct {
	list  generic.ListFuncByNamespace
	clock clock.Clock
}

var _ quota.Evaluator = (*podEvaluator)(nil)

// NewPodEvaluator charges pods: compute resources of pods not yet
// terminal, and count/pods for all.
func NewPodEvaluator(list quota.ListerForResourceFunc, c clock.Clock) quota.Evaluator {
	return &podEvaluator{list: listFunc(list, corev1.SchemeGroupVersion.WithResource("pods")), clock: c}
}

func (p *podEvaluator) GroupResource() schema.GroupResource { return podsGR }

// Handles pod creates only: a pod's resources do not change afterwards.
func (p *podEvaluator) Handles(a admission.Attributes) bool {
	return a.GetSubresource() == "" && a.GetOperation() == admission.Create
}

// Constraints: with a cpu or memory quota in place, every container must
// state what the quota limits. The message is upstream's, e.g. "must
// specify limits.cpu for: c; requests.memory for: a,b".
func (p *podEvaluator) Constraints(required []corev1.ResourceName, item runtime.Object) error {
	pod, ok := item.(*corev1.Pod)
	if !ok {
		return fmt.Errorf("unexpected object %T, expected a pod", item)
	}
	need := sets.New(required...).Intersection(requiredPerContainer)
	if need.Len() == 0 {
		return nil
	}
	missing := map[corev1.ResourceName]sets.Set[string]{}
	check := func(c *corev1.Container) {
		has := sets.New(quota.ResourceNames(containerUsage(c.Resources.Requests, c.Resources.Limits))...)
		for _, name := range sets.List(need.Difference(has)) {
			if missing[name] == nil {
				missing[name] = sets.New[string]()
			}
			missing[name].Insert(c.Name)
		}
	}
	for i := range pod.Spec.Containers {
		check(&pod.Spec.Containers[i])
	}
	for i := range pod.Spec.InitContainers {
		check(&pod.Spec.InitContainers[i])
	}
	if len(missing) == 0 {
		return nil
	}
	names := make([]string, 0, len(missing))
	for name := range missing {
		names = append(names, string(name))
	}
	sort.Strings(names)
	msgs := make([]string, 0, len(names))
	for _, name := range names {
		msgs = append(msgs, fmt.Sprintf("%s for: %s", name, strings.Join(sets.List(missing[corev1.ResourceName(name)]), ",")))
	}
	return fmt.Errorf("must specify %s", strings.Join(msgs, "; "))
}

func (p *podEvaluator) Matches(q *corev1.ResourceQuota, item runtime.Object) (bool, error) {
	return generic.Matches(q, item, p.MatchingResources, podMatchesScope)
}

func (p *podEvaluator) MatchingResources(input []corev1.ResourceName) []corev1.ResourceName {
	out := quota.Intersection(input, podResources)
	for _, name := range input {
		if isExtendedOrHugePagesRequest(name) {
			out = append(out, name)
		}
	}
	return out
}

// isExtendedOrHugePagesRequest: requests.<extended resource> and
// requests.hugepages-<size> (or hugepages-<size>).
func isExtendedOrHugePagesRequest(name corev1.ResourceName) bool {
	s := string(name)
	if strings.HasPrefix(s, corev1.ResourceHugePagesPrefix) {
		return true
	}
	rest, ok := strings.CutPrefix(s, corev1.DefaultResourceRequestsPrefix)
	if !ok {
		return false
	}
	return strings.HasPrefix(rest, corev1.ResourceHugePagesPrefix) ||
		(strings.Contains(rest, "/") && !strings.HasPrefix(rest, corev1.ResourceDefaultNamespacePrefix))
}

func (p *podEvaluator) MatchingScopes(item runtime.Object, scopes []corev1.ScopedResourceSelectorRequirement) ([]corev1.ScopedResourceSelectorRequirement, error) {
	var out []corev1.ScopedResourceSelectorRequirement
	for _, s := range scopes {
		ok, err := podMatchesScope(s, item)
		if err != nil {
			return nil, fmt.Errorf("error on matching scope %v: %w", s, err)
		}
		if ok {
			out = append(out, s)
		}
	}
	return out, nil
}

// UncoveredQuotaScopes lists the limited scopes no matched quota covers.
func (p *podEvaluator) UncoveredQuotaScopes(limited, matched []corev1.ScopedResourceSelectorRequirement) ([]corev1.ScopedResourceSelectorRequirement, error) {
	var out []corev1.ScopedResourceSelectorRequirement
	for _, l := range limited {
		covered := false
		for _, m := range matched {
			if l.ScopeName == m.ScopeName && l.Operator == m.Operator && sets.New(l.Values...).IsSuperset(sets.New(m.Values...)) {
				covered = true
				break
			}
		}
		if !covered {
			out = append(out, l)
		}
	}
	return out, nil
}

func (p *podEvaluator) Usage(item runtime.Object) (corev1.ResourceList, error) {
	pod, ok := item.(*corev1.Pod)
	if !ok {
		return nil, fmt.Errorf("unexpected object %T, expected a pod", item)
	}
	out := corev1.ResourceList{podCount: *resource.NewQuantity(1, resource.DecimalSI)}
	if !countsCompute(pod, p.clock.Now()) {
		return out, nil
	}
	requests := resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{})
	limits := resourcehelper.PodLimits(pod, resourcehelper.PodResourcesOptions{})
	usage := containerUsage(requests, limits)
	usage[corev1.ResourcePods] = *resource.NewQuantity(1, resource.DecimalSI)
	return quota.Add(out, usage), nil
}

func (p *podEvaluator) UsageStats(o quota.UsageStatsOptions) (quota.UsageStats, error) {
	return generic.CalculateUsageStats(o, p.list, podMatchesScope, p.Usage)
}

// countsCompute: a pod in a terminal phase, or deleted past its grace
// period, no longer uses compute resources of the quota.
func countsCompute(pod *corev1.Pod, now time.Time) bool {
	if podutil.IsPodTerminal(pod) {
		return false
	}
	if pod.DeletionTimestamp != nil && pod.DeletionGracePeriodSeconds != nil {
		end := pod.DeletionTimestamp.Add(time.Duration(*pod.DeletionGracePeriodSeconds) * time.Second)
		if now.After(end) {
			return false
		}
	}
	return true
}

// containerUsage maps requests and limits to quota names: a cpu request
// is both "cpu" and "requests.cpu", a cpu limit "limits.cpu".
func containerUsage(requests, limits corev1.ResourceList) corev1.ResourceList {
	out := corev1.ResourceList{}
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage} {
		if q, ok := requests[r]; ok {
			out[r] = q.DeepCopy()
			out[corev1.ResourceName(corev1.DefaultResourceRequestsPrefix+string(r))] = q.DeepCopy()
		}
		if q, ok := limits[r]; ok {
			out[corev1.ResourceName("limits."+string(r))] = q.DeepCopy()
		}
	}
	for name, q := range requests {
		s := string(name)
		if strings.HasPrefix(s, corev1.ResourceHugePagesPrefix) {
			out[name] = q.DeepCopy()
			out[corev1.ResourceName(corev1.DefaultResourceRequestsPrefix+s)] = q.DeepCopy()
		} else if strings.Contains(s, "/") && !strings.HasPrefix(s, corev1.ResourceDefaultNamespacePrefix) {
			out[corev1.ResourceName(corev1.DefaultResourceRequestsPrefix+s)] = q.DeepCopy()
		}
	}
	return out
}

// podMatchesScope decides one scope of a quota for a pod.
func podMatchesScope(s corev1.ScopedResourceSelectorRequirement, item runtime.Object) (bool, error) {
	pod, ok := item.(*corev1.Pod)
	if !ok {
		return false, fmt.Errorf("unexpected object %T, expected a pod", item)
	}
	switch s.ScopeName {
	case corev1.ResourceQuotaScopeTerminating:
		return isTerminating(pod), nil
	case corev1.ResourceQuotaScopeNotTerminating:
		return !isTerminating(pod), nil
	case corev1.ResourceQuotaScopeBestEffort:
		return isBestEffort(pod), nil
	case corev1.ResourceQuotaScopeNotBestEffort:
		return !isBestEffort(pod), nil
	case corev1.ResourceQuotaScopePriorityClass:
		if s.Operator == corev1.ScopeSelectorOpExists {
			return pod.Spec.PriorityClassName != "", nil
		}
		sel, err := scopeSelector(s)
		if err != nil {
			return false, err
		}
		return sel.Matches(labels.Set{string(corev1.ResourceQuotaScopePriorityClass): pod.Spec.PriorityClassName}), nil
	case corev1.ResourceQuotaScopeCrossNamespacePodAffinity:
		return usesCrossNamespaceAffinity(pod), nil
	}
	return false, nil
}

// scopeSelector turns a scope requirement into a label selector on the
// scope's name, as upstream does for PriorityClass.
func scopeSelector(s corev1.ScopedResourceSelectorRequirement) (labels.Selector, error) {
	var op selection.Operator
	switch s.Operator {
	case corev1.ScopeSelectorOpIn:
		op = selection.In
	case corev1.ScopeSelectorOpNotIn:
		op = selection.NotIn
	case corev1.ScopeSelectorOpExists:
		op = selection.Exists
	case corev1.ScopeSelectorOpDoesNotExist:
		op = selection.DoesNotExist
	default:
		return nil, fmt.Errorf("%q is not a valid scope selector operator", s.Operator)
	}
	r, err := labels.NewRequirement(string(s.ScopeName), op, s.Values)
	if err != nil {
		return nil, err
	}
	return labels.NewSelector().Add(*r), nil
}

func isTerminating(pod *corev1.Pod) bool {
	return pod.Spec.ActiveDeadlineSeconds != nil && *pod.Spec.ActiveDeadlineSeconds >= 0
}

// isBestEffort: no container requests or limits cpu or memory (the
// BestEffort QoS class).
func isBestEffort(pod *corev1.Pod) bool {
	if pod.Status.QOSClass != "" {
		return pod.Status.QOSClass == corev1.PodQOSBestEffort
	}
	all := append(append([]corev1.Container{}, pod.Spec.InitContainers...), pod.Spec.Containers...)
	for _, c := range all {
		for _, l := range []corev1.ResourceList{c.Resources.Requests, c.Resources.Limits} {
			for name, q := range l {
				if (name == corev1.ResourceCPU || name == corev1.ResourceMemory) && !q.IsZero() {
					return false
				}
			}
		}
	}
	if pod.Spec.Resources != nil {
		for _, l := range []corev1.ResourceList{pod.Spec.Resources.Requests, pod.Spec.Resources.Limits} {
			if len(l) > 0 {
				return false
			}
		}
	}
	return true
}

// usesCrossNamespaceAffinity: a pod (anti-)affinity term names other
// namespaces or a namespace selector.
func usesCrossNamespaceAffinity(pod *corev1.Pod) bool {
	a := pod.Spec.Affinity
	if a == nil {
		return false
	}
	var terms []corev1.PodAffinityTerm
	if a.PodAffinity != nil {
		terms = append(terms, a.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution...)
		for _, w := range a.PodAffinity.PreferredDuringSchedulingIgnoredDuringExecution {
			terms = append(terms, w.PodAffinityTerm)
		}
	}
	if a.PodAntiAffinity != nil {
		terms = append(terms, a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution...)
		for _, w := range a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution {
			terms = append(terms, w.PodAffinityTerm)
		}
	}
	for _, t := range terms {
		if len(t.Namespaces) > 0 || t.NamespaceSelector != nil {
			return true
		}
	}
	return false
}
