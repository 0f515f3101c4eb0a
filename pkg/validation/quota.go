package validation

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/sets"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// LimitRange and ResourceQuota validation, with upstream's field paths and
// messages (k8s.io/kubernetes pkg/apis/core/validation).

const (
	isNotIntegerErrorMsg   = "must be an integer"
	invalidQuotaResource   = "must be a standard resource for quota"
	invalidLimitRangeScope = "must be a standard limit type or fully qualified"
)

// standardQuotaResources are the unprefixed names a quota may limit.
var standardQuotaResources = sets.New[corev1.ResourceName](
	corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage,
	corev1.ResourceRequestsCPU, corev1.ResourceRequestsMemory, corev1.ResourceRequestsStorage, corev1.ResourceRequestsEphemeralStorage,
	corev1.ResourceLimitsCPU, corev1.ResourceLimitsMemory, corev1.ResourceLimitsEphemeralStorage,
	corev1.ResourcePods, corev1.ResourceQuotas, corev1.ResourceServices, corev1.ResourceReplicationControllers,
	corev1.ResourceSecrets, corev1.ResourcePersistentVolumeClaims, corev1.ResourceConfigMaps,
	corev1.ResourceServicesNodePorts, corev1.ResourceServicesLoadBalancers,
)

// integerQuotaResources count objects: their quantities are whole.
var integerQuotaResources = sets.New[corev1.ResourceName](
	corev1.ResourcePods, corev1.ResourceQuotas, corev1.ResourceServices, corev1.ResourceReplicationControllers,
	corev1.ResourceSecrets, corev1.ResourcePersistentVolumeClaims, corev1.ResourceConfigMaps,
	corev1.ResourceServicesNodePorts, corev1.ResourceServicesLoadBalancers,
)

func isIntegerQuotaResource(name corev1.ResourceName) bool {
	return integerQuotaResources.Has(name) || strings.HasPrefix(string(name), "count/")
}

func validateLimitRange(lr *corev1.LimitRange) field.ErrorList {
	errs := validateMeta(lr, true, nameIsDNSSubdomain)
	return append(errs, validateLimitRangeSpec(&lr.Spec)...)
}

func validateLimitRangeSpec(spec *corev1.LimitRangeSpec) field.ErrorList {
	var errs field.ErrorList
	limTypes := map[corev1.LimitType]bool{}
	for i := range spec.Limits {
		limit := &spec.Limits[i]
		idx := field.NewPath("spec", "limits").Index(i)
		if limTypes[limit.Type] {
			errs = append(errs, field.Duplicate(idx.Child("type"), limit.Type))
		}
		limTypes[limit.Type] = true
		if limit.Type == "" {
			errs = append(errs, field.Required(idx.Child("type"), ""))
		} else if !strings.Contains(string(limit.Type), "/") {
			switch limit.Type {
			case corev1.LimitTypePod, corev1.LimitTypeContainer, corev1.LimitTypePersistentVolumeClaim:
			default:
				errs = append(errs, field.Invalid(idx.Child("type"), string(limit.Type), invalidLimitRangeScope))
			}
		}
		if limit.Type == corev1.LimitTypePod {
			if len(limit.Default) > 0 {
				errs = append(errs, field.Forbidden(idx.Child("default"), "may not be specified when `type` is 'Pod'"))
			}
			if len(limit.DefaultRequest) > 0 {
				errs = append(errs, field.Forbidden(idx.Child("defaultRequest"), "may not be specified when `type` is 'Pod'"))
			}
		}
		for _, l := range []struct {
			name string
			list corev1.ResourceList
		}{{"max", limit.Max}, {"min", limit.Min}, {"default", limit.Default}, {"defaultRequest", limit.DefaultRequest}, {"maxLimitRequestRatio", limit.MaxLimitRequestRatio}} {
			for k, q := range l.list {
				p := idx.Child(l.name).Key(string(k))
				errs = append(errs, validateResourceName(k, p)...)
				errs = append(errs, validateQuantity(q, p)...)
			}
		}
		if limit.Type == corev1.LimitTypePersistentVolumeClaim {
			_, minOK := limit.Min[corev1.ResourceStorage]
			_, maxOK := limit.Max[corev1.ResourceStorage]
			if !minOK && !maxOK {
				errs = append(errs, field.Required(idx.Child("limits"), "either minimum or maximum storage value is required, but neither was provided"))
			}
		}
		errs = append(errs, validateLimitRangeItemBounds(limit, idx)...)
	}
	return errs
}

// validateLimitRangeItemBounds checks min <= defaultRequest <= default <=
// max for every resource and that ratios are at least 1 and possible.
func validateLimitRangeItemBounds(limit *corev1.LimitRangeItem, idx *field.Path) field.ErrorList {
	var errs field.ErrorList
	keys := sets.New[corev1.ResourceName]()
	for _, l := range []corev1.ResourceList{limit.Max, limit.Min, limit.Default, limit.DefaultRequest, limit.MaxLimitRequestRatio} {
		for k := range l {
			keys.Insert(k)
		}
	}
	for _, k := range sets.List(keys) {
		minQ, minOK := limit.Min[k]
		maxQ, maxOK := limit.Max[k]
		defQ, defOK := limit.Default[k]
		reqQ, reqOK := limit.DefaultRequest[k]
		ratio, ratioOK := limit.MaxLimitRequestRatio[k]
		key := string(k)
		if minOK && maxOK && minQ.Cmp(maxQ) > 0 {
			errs = append(errs, field.Invalid(idx.Child("min").Key(key), minQ.String(), fmt.Sprintf("min value %s is greater than max value %s", minQ.String(), maxQ.String())))
		}
		if reqOK && minOK && minQ.Cmp(reqQ) > 0 {
			errs = append(errs, field.Invalid(idx.Child("defaultRequest").Key(key), reqQ.String(), fmt.Sprintf("min value %s is greater than default request value %s", minQ.String(), reqQ.String())))
		}
		if reqOK && maxOK && reqQ.Cmp(maxQ) > 0 {
			errs = append(errs, field.Invalid(idx.Child("defaultRequest").Key(key), reqQ.String(), fmt.Sprintf("default request value %s is greater than max value %s", reqQ.String(), maxQ.String())))
		}
		if reqOK && defOK && reqQ.Cmp(defQ) > 0 {
			errs = append(errs, field.Invalid(idx.Child("defaultRequest").Key(key), reqQ.String(), fmt.Sprintf("default request value %s is greater than default limit value %s", reqQ.String(), defQ.String())))
		}
		if defOK && minOK && minQ.Cmp(defQ) > 0 {
			errs = append(errs, field.Invalid(idx.Child("default").Key(key), defQ.String(), fmt.Sprintf("min value %s is greater than default value %s", minQ.String(), defQ.String())))
		}
		if defOK && maxOK && defQ.Cmp(maxQ) > 0 {
			errs = append(errs, field.Invalid(idx.Child("default").Key(key), defQ.String(), fmt.Sprintf("default value %s is greater than max value %s", defQ.String(), maxQ.String())))
		}
		if ratioOK && ratio.Cmp(resource.MustParse("1")) < 0 {
			errs = append(errs, field.Invalid(idx.Child("maxLimitRequestRatio").Key(key), ratio.String(), fmt.Sprintf("ratio %s is less than 1", ratio.String())))
		}
		if ratioOK && minOK && maxOK && minQ.MilliValue() > 0 {
			maxRatio := float64(maxQ.MilliValue()) / float64(minQ.MilliValue())
			if float64(ratio.MilliValue())/1000 > maxRatio {
				errs = append(errs, field.Invalid(idx.Child("maxLimitRequestRatio").Key(key), ratio.String(), fmt.Sprintf("ratio %s is greater than max/min = %f", ratio.String(), maxRatio)))
			}
		}
	}
	return errs
}

func validateResourceQuota(q *corev1.ResourceQuota) field.ErrorList {
	errs := validateMeta(q, true, nameIsDNSSubdomain)
	errs = append(errs, validateQuotaSpec(&q.Spec)...)
	return append(errs, validateQuotaStatus(&q.Status)...)
}

func validateResourceQuotaUpdate(q, old *corev1.ResourceQuota) field.ErrorList {
	errs := validateQuotaSpec(&q.Spec)
	errs = append(errs, validateQuotaStatus(&q.Status)...)
	if !sets.New(q.Spec.Scopes...).Equal(sets.New(old.Spec.Scopes...)) {
		errs = append(errs, field.Invalid(field.NewPath("spec", "scopes"), q.Spec.Scopes, "field is immutable"))
	}
	return errs
}

func validateQuotaResources(l corev1.ResourceList, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	for k, q := range l {
		p := path.Key(string(k))
		errs = append(errs, validateQuotaResourceName(k, p)...)
		errs = append(errs, validateQuantity(q, p)...)
		if isIntegerQuotaResource(k) && q.MilliValue()%1000 != 0 {
			errs = append(errs, field.Invalid(p, q.String(), isNotIntegerErrorMsg))
		}
	}
	return errs
}

func validateQuotaResourceName(name corev1.ResourceName, path *field.Path) field.ErrorList {
	s := string(name)
	if msgs := utilvalidation.IsQualifiedName(s); len(msgs) > 0 {
		return invalidAll(path, s, msgs)
	}
	if !strings.Contains(s, "/") && !standardQuotaResources.Has(name) &&
		!strings.HasPrefix(s, corev1.ResourceHugePagesPrefix) && !strings.HasPrefix(s, corev1.DefaultResourceRequestsPrefix+corev1.ResourceHugePagesPrefix) {
		return field.ErrorList{field.Invalid(path, s, invalidQuotaResource)}
	}
	return nil
}

// scopedResources are what a quota with a pod scope may limit.
var scopedResources = sets.New[corev1.ResourceName](
	corev1.ResourcePods, corev1.ResourceCPU, corev1.ResourceMemory,
	corev1.ResourceRequestsCPU, corev1.ResourceRequestsMemory, corev1.ResourceLimitsCPU, corev1.ResourceLimitsMemory,
	corev1.ResourceEphemeralStorage, corev1.ResourceRequestsEphemeralStorage, corev1.ResourceLimitsEphemeralStorage,
	"count/pods",
)

var bestEffortResources = sets.New[corev1.ResourceName](corev1.ResourcePods, "count/pods")

func validateQuotaSpec(spec *corev1.ResourceQuotaSpec) field.ErrorList {
	errs := validateQuotaResources(spec.Hard, field.NewPath("spec", "hard"))
	scopes := sets.New(spec.Scopes...)
	scopesPath := field.NewPath("spec", "scopes")
	var selPath *field.Path
	if spec.ScopeSelector != nil {
		selPath = field.NewPath("spec", "scopeSelector", "matchExpressions")
		for i, req := range spec.ScopeSelector.MatchExpressions {
			errs = append(errs, validateScopedRequirement(req, selPath.Index(i))...)
			scopes.Insert(req.ScopeName)
		}
	}
	if scopes.Len() == 0 {
		return errs
	}
	for _, s := range sets.List(scopes) {
		switch s {
		case corev1.ResourceQuotaScopeTerminating, corev1.ResourceQuotaScopeNotTerminating, corev1.ResourceQuotaScopeBestEffort,
			corev1.ResourceQuotaScopeNotBestEffort, corev1.ResourceQuotaScopePriorityClass, corev1.ResourceQuotaScopeCrossNamespacePodAffinity:
		default:
			errs = append(errs, field.Invalid(scopesPath, spec.Scopes, "unsupported scope"))
		}
	}
	for name := range spec.Hard {
		allowed := scopedResources
		if scopes.Has(corev1.ResourceQuotaScopeBestEffort) {
			allowed = bestEffortResources
		}
		if !allowed.Has(name) && !strings.HasPrefix(string(name), corev1.DefaultResourceRequestsPrefix) {
			errs = append(errs, field.Invalid(scopesPath, spec.Scopes, "unsupported scope applied to resource"))
			break
		}
	}
	if scopes.HasAll(corev1.ResourceQuotaScopeTerminating, corev1.ResourceQuotaScopeNotTerminating) ||
		scopes.HasAll(corev1.ResourceQuotaScopeBestEffort, corev1.ResourceQuotaScopeNotBestEffort) {
		errs = append(errs, field.Invalid(scopesPath, spec.Scopes, "conflicting scopes"))
	}
	return errs
}

func validateScopedRequirement(req corev1.ScopedResourceSelectorRequirement, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch req.Operator {
	case corev1.ScopeSelectorOpIn, corev1.ScopeSelectorOpNotIn:
		if len(req.Values) == 0 {
			errs = append(errs, field.Required(path.Child("values"), "must be specified when `operator` is 'In' or 'NotIn'"))
		}
	case corev1.ScopeSelectorOpExists, corev1.ScopeSelectorOpDoesNotExist:
		if len(req.Values) > 0 {
			errs = append(errs, field.Forbidden(path.Child("values"), "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"))
		}
	default:
		errs = append(errs, field.Invalid(path.Child("operator"), req.Operator, "not a valid selector operator"))
	}
	switch req.ScopeName {
	case corev1.ResourceQuotaScopeTerminating, corev1.ResourceQuotaScopeNotTerminating, corev1.ResourceQuotaScopeBestEffort,
		corev1.ResourceQuotaScopeNotBestEffort, corev1.ResourceQuotaScopeCrossNamespacePodAffinity:
		if req.Operator != corev1.ScopeSelectorOpExists {
			errs = append(errs, field.Invalid(path.Child("operator"), req.Operator, "must be 'Exist' when scope is any of ResourceQuotaScopeTerminating, ResourceQuotaScopeNotTerminating, ResourceQuotaScopeBestEffort, ResourceQuotaScopeNotBestEffort or ResourceQuotaScopeCrossNamespacePodAffinity"))
		}
	}
	return errs
}

func validateQuotaStatus(st *corev1.ResourceQuotaStatus) field.ErrorList {
	errs := validateQuotaResources(st.Hard, field.NewPath("status", "hard"))
	return append(errs, validateQuotaResources(st.Used, field.NewPath("status", "used"))...)
}
