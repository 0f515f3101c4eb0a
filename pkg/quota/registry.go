package quota

import (
	"errors"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	quota "k8s.io/apiserver/pkg/quota/v1"
	"k8s.io/apiserver/pkg/quota/v1/generic"
	"k8s.io/utils/clock"
)

// legacyCounts are the object counts a quota may also name without the
// count/ prefix (upstream's legacyObjectCountAliases).
var legacyCounts = map[schema.GroupVersionResource]corev1.ResourceName{
	corev1.SchemeGroupVersion.WithResource("configmaps"):             corev1.ResourceConfigMaps,
	corev1.SchemeGroupVersion.WithResource("resourcequotas"):         corev1.ResourceQuotas,
	corev1.SchemeGroupVersion.WithResource("replicationcontrollers"): corev1.ResourceReplicationControllers,
	corev1.SchemeGroupVersion.WithResource("secrets"):                corev1.ResourceSecrets,
}

// Evaluators are the evaluators with special rules plus the legacy object
// counts. list reads objects for UsageStats (the controller's job); nil
// is fine for admission, which only charges the object at hand.
// count/<resource>.<group> of any other resource needs no evaluator here:
// admission and the controller count those generically.
func Evaluators(list quota.ListerForResourceFunc) []quota.Evaluator {
	out := []quota.Evaluator{
		NewPodEvaluator(list, clock.RealClock{}),
		NewServiceEvaluator(list),
		NewPVCEvaluator(list),
	}
	for gvr, alias := range legacyCounts {
		out = append(out, generic.NewObjectCountEvaluator(gvr.GroupResource(), listFunc(list, gvr), alias))
	}
	return out
}

// ignored are resources no quota counts (upstream's ignoredResources).
var ignored = map[schema.GroupResource]struct{}{
	// virtual resources, never stored
	{Group: "", Resource: "bindings"}:                                      {},
	{Group: "authentication.k8s.io", Resource: "tokenreviews"}:             {},
	{Group: "authentication.k8s.io", Resource: "selfsubjectreviews"}:       {},
	{Group: "authorization.k8s.io", Resource: "subjectaccessreviews"}:      {},
	{Group: "authorization.k8s.io", Resource: "selfsubjectaccessreviews"}:  {},
	{Group: "authorization.k8s.io", Resource: "localsubjectaccessreviews"}: {},
	{Group: "authorization.k8s.io", Resource: "selfsubjectrulesreviews"}:   {},
	// events were never counted
	{Group: "", Resource: "events"}:              {},
	{Group: "events.k8s.io", Resource: "events"}: {},
}

// IgnoredResources are the resources no quota counts.
func IgnoredResources() map[schema.GroupResource]struct{} { return ignored }

// NewConfiguration is the quota configuration for admission (list nil)
// or for the controller.
func NewConfiguration(list quota.ListerForResourceFunc) quota.Configuration {
	return generic.NewConfiguration(Evaluators(list), IgnoredResources())
}

// listFunc lists one resource by namespace through list, or fails when
// there is no lister (admission never lists).
func listFunc(list quota.ListerForResourceFunc, gvr schema.GroupVersionResource) generic.ListFuncByNamespace {
	if list == nil {
		return func(string) ([]runtime.Object, error) { return nil, errNoLister }
	}
	return generic.ListResourceUsingListerFunc(list, gvr)
}

var errNoLister = errors.New("quota: no lister to count objects with")
