package validation

import (
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"k8s.io/apimachinery/pkg/api/validation/path"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/flotilla-io/flotilla/pkg/hpaconv"
)

// HorizontalPodAutoscalers, as upstream validates its internal type (v1
// objects as what they convert to).

// Upstream's limits on behavior.
const (
	hpaMaxPeriodSeconds              = 1800
	hpaMaxStabilizationWindowSeconds = 3600
)

func validateHPAv1(h *autoscalingv1.HorizontalPodAutoscaler) field.ErrorList {
	errs := validateMeta(h, true, nameIsDNSSubdomain)
	return append(errs, validateHPAv1Spec(h)...)
}

// validateHPAv1Spec validates what a v1 HPA converts to, as upstream
// validates its internal type: the CPU target and the metrics and
// behavior its annotations carry.
func validateHPAv1Spec(h *autoscalingv1.HorizontalPodAutoscaler) field.ErrorList {
	return validateHPAv2Spec(hpaconv.V1ToV2(h))
}

func validateHPAv2(h *autoscalingv2.HorizontalPodAutoscaler) field.ErrorList {
	errs := validateMeta(h, true, nameIsDNSSubdomain)
	return append(errs, validateHPAv2Spec(h)...)
}

func validateHPAv2Spec(h *autoscalingv2.HorizontalPodAutoscaler) field.ErrorList {
	s := &h.Spec
	errs := validateReplicaBounds(s.MinReplicas, s.MaxReplicas)
	errs = append(errs, validateCrossVersionReference(s.ScaleTargetRef.Kind, s.ScaleTargetRef.Name, specPath.Child("scaleTargetRef"))...)
	scalesToZero := false
	for i, m := range s.Metrics {
		errs = append(errs, validateMetricSpec(m, specPath.Child("metrics").Index(i))...)
		if m.Type == autoscalingv2.ObjectMetricSourceType || m.Type == autoscalingv2.ExternalMetricSourceType {
			scalesToZero = true
		}
	}
	if s.MinReplicas != nil && *s.MinReplicas == 0 && !scalesToZero {
		errs = append(errs, field.Forbidden(specPath.Child("metrics"), "must specify at least one Object or External metric to support scaling to zero replicas"))
	}
	if b := s.Behavior; b != nil {
		errs = append(errs, validateScalingRules(b.ScaleUp, specPath.Child("behavior", "scaleUp"))...)
		errs = append(errs, validateScalingRules(b.ScaleDown, specPath.Child("behavior", "scaleDown"))...)
	}
	return errs
}

// validateReplicaBounds: minReplicas 0 needs upstream's HPAScaleToZero
// feature gate, off by default, so the lower bound is 1.
func validateReplicaBounds(min *int32, max int32) field.ErrorList {
	var errs field.ErrorList
	if min != nil && *min < 1 {
		errs = append(errs, field.Invalid(specPath.Child("minReplicas"), *min, "must be greater than or equal to 1"))
	}
	if max < 1 {
		errs = append(errs, field.Invalid(specPath.Child("maxReplicas"), max, "must be greater than 0"))
	}
	if min != nil && max < *min {
		errs = append(errs, field.Invalid(specPath.Child("maxReplicas"), max, "must be greater than or equal to `minReplicas`"))
	}
	return errs
}

func validateCrossVersionReference(kind, name string, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if kind == "" {
		errs = append(errs, field.Required(p.Child("kind"), ""))
	} else {
		errs = append(errs, invalidAll(p.Child("kind"), kind, path.IsValidPathSegmentName(kind))...)
	}
	if name == "" {
		errs = append(errs, field.Required(p.Child("name"), ""))
	} else {
		errs = append(errs, invalidAll(p.Child("name"), name, path.IsValidPathSegmentName(name))...)
	}
	return errs
}

var (
	supportedMetricTypes = []autoscalingv2.MetricSourceType{autoscalingv2.ContainerResourceMetricSourceType, autoscalingv2.ExternalMetricSourceType,
		autoscalingv2.ObjectMetricSourceType, autoscalingv2.PodsMetricSourceType, autoscalingv2.ResourceMetricSourceType}
	supportedSelectPolicies = []autoscalingv2.ScalingPolicySelect{autoscalingv2.DisabledPolicySelect, autoscalingv2.MaxChangePolicySelect, autoscalingv2.MinChangePolicySelect}
	supportedPolicyTypes    = []autoscalingv2.HPAScalingPolicyType{autoscalingv2.PercentScalingPolicy, autoscalingv2.PodsScalingPolicy}
)

func validateMetricSpec(m autoscalingv2.MetricSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if m.Type == "" {
		errs = append(errs, field.Required(p.Child("type"), "must specify a metric source type"))
	}
	if !contains(supportedMetricTypes, m.Type) {
		errs = append(errs, field.NotSupported(p.Child("type"), m.Type, supportedMetricTypes))
	}
	// Only the first source set is validated; the others are forbidden.
	present := setSources(&m)
	first := func(name string) bool { return len(present) > 0 && present[0] == name }
	if m.Object != nil && first("object") {
		errs = append(errs, validateObjectSource(m.Object, p.Child("object"))...)
	}
	if m.Pods != nil && first("pods") {
		errs = append(errs, validatePodsSource(m.Pods, p.Child("pods"))...)
	}
	if m.Resource != nil && first("resource") {
		errs = append(errs, validateResourceTarget(m.Resource.Name, m.Resource.Target, p.Child("resource"))...)
	}
	if m.ContainerResource != nil && first("containerResource") {
		cr := m.ContainerResource
		if cr.Container == "" {
			errs = append(errs, field.Required(p.Child("containerResource", "container"), "must specify a container"))
		} else {
			errs = append(errs, validateDNS1123Label(cr.Container, p.Child("containerResource", "container"))...)
		}
		errs = append(errs, validateResourceTarget(cr.Name, cr.Target, p.Child("containerResource"))...)
	}
	if m.External != nil && first("external") {
		errs = append(errs, validateExternalSource(m.External, p.Child("external"))...)
	}
	expected := ""
	switch m.Type {
	case autoscalingv2.ObjectMetricSourceType:
		expected = "object"
	case autoscalingv2.PodsMetricSourceType:
		expected = "pods"
	case autoscalingv2.ResourceMetricSourceType:
		expected = "resource"
	case autoscalingv2.ExternalMetricSourceType:
		expected = "external"
	case autoscalingv2.ContainerResourceMetricSourceType:
		expected = "containerResource"
	}
	if expected != "" && !contains(present, expected) {
		errs = append(errs, field.Required(p.Child(expected), "must populate information for the given metric source"))
	}
	if len(present) != 1 {
		for _, name := range present {
			if name != expected {
				errs = append(errs, field.Forbidden(p.Child(name), "must populate the given metric source only"))
			}
		}
	}
	return errs
}

func validateResourceTarget(name interface{ String() string }, t autoscalingv2.MetricTarget, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if name.String() == "" {
		errs = append(errs, field.Required(p.Child("name"), "must specify a resource name"))
	}
	errs = append(errs, validateMetricTarget(t, p.Child("target"))...)
	if t.AverageUtilization == nil && t.AverageValue == nil {
		errs = append(errs, field.Required(p.Child("target", "averageUtilization"), "must set either a target raw value or a target utilization"))
	}
	if t.AverageUtilization != nil && t.AverageValue != nil {
		errs = append(errs, field.Forbidden(p.Child("target", "averageValue"), "may not set both a target raw value and a target utilization"))
	}
	return errs
}

func validatePodsSource(s *autoscalingv2.PodsMetricSource, p *field.Path) field.ErrorList {
	errs := validateMetricIdentifier(s.Metric, p.Child("metric"))
	errs = append(errs, validateMetricTarget(s.Target, p.Child("target"))...)
	if s.Target.AverageValue == nil {
		errs = append(errs, field.Required(p.Child("target", "averageValue"), "must specify a positive target averageValue"))
	}
	return errs
}

func validateObjectSource(s *autoscalingv2.ObjectMetricSource, p *field.Path) field.ErrorList {
	errs := validateCrossVersionReference(s.DescribedObject.Kind, s.DescribedObject.Name, p.Child("describedObject"))
	errs = append(errs, validateMetricIdentifier(s.Metric, p.Child("metric"))...)
	errs = append(errs, validateMetricTarget(s.Target, p.Child("target"))...)
	if s.Target.Value == nil && s.Target.AverageValue == nil {
		errs = append(errs, field.Required(p.Child("target", "averageValue"), "must set either a target value or averageValue"))
	}
	return errs
}

func validateExternalSource(s *autoscalingv2.ExternalMetricSource, p *field.Path) field.ErrorList {
	errs := validateMetricIdentifier(s.Metric, p.Child("metric"))
	errs = append(errs, validateMetricTarget(s.Target, p.Child("target"))...)
	if s.Target.Value == nil && s.Target.AverageValue == nil {
		errs = append(errs, field.Required(p.Child("target", "averageValue"), "must set either a target value for metric or a per-pod target"))
	}
	if s.Target.Value != nil && s.Target.AverageValue != nil {
		errs = append(errs, field.Forbidden(p.Child("target", "value"), "may not set both a target value for metric and a per-pod target"))
	}
	return errs
}

func validateMetricIdentifier(id autoscalingv2.MetricIdentifier, p *field.Path) field.ErrorList {
	if id.Name == "" {
		return field.ErrorList{field.Required(p.Child("name"), "must specify a metric name")}
	}
	errs := invalidAll(p.Child("name"), id.Name, path.IsValidPathSegmentName(id.Name))
	if id.Selector != nil {
		errs = append(errs, validateLabelSelector(id.Selector, p.Child("selector"))...)
	}
	return errs
}

func validateMetricTarget(t autoscalingv2.MetricTarget, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if t.Type == "" {
		errs = append(errs, field.Required(p.Child("type"), "must specify a metric target type"))
	}
	if t.Type != autoscalingv2.UtilizationMetricType && t.Type != autoscalingv2.ValueMetricType && t.Type != autoscalingv2.AverageValueMetricType {
		errs = append(errs, field.Invalid(p.Child("type"), t.Type, "must be either Utilization, Value, or AverageValue"))
	}
	if t.Value != nil && t.Value.Sign() != 1 {
		errs = append(errs, field.Invalid(p.Child("value"), t.Value.String(), "must be positive"))
	}
	if t.AverageValue != nil && t.AverageValue.Sign() != 1 {
		errs = append(errs, field.Invalid(p.Child("averageValue"), t.AverageValue.String(), "must be positive"))
	}
	if t.AverageUtilization != nil && *t.AverageUtilization < 1 {
		errs = append(errs, field.Invalid(p.Child("averageUtilization"), *t.AverageUtilization, "must be greater than 0"))
	}
	return errs
}

func validateScalingRules(r *autoscalingv2.HPAScalingRules, p *field.Path) field.ErrorList {
	if r == nil {
		return nil
	}
	var errs field.ErrorList
	if w := r.StabilizationWindowSeconds; w != nil && *w < 0 {
		errs = append(errs, field.Invalid(p.Child("stabilizationWindowSeconds"), *w, "must be greater than or equal to zero"))
	}
	if w := r.StabilizationWindowSeconds; w != nil && *w > hpaMaxStabilizationWindowSeconds {
		errs = append(errs, field.Invalid(p.Child("stabilizationWindowSeconds"), *w, "must be less than or equal to 3600"))
	}
	if s := r.SelectPolicy; s != nil && !contains(supportedSelectPolicies, *s) {
		errs = append(errs, field.NotSupported(p.Child("selectPolicy"), *s, supportedSelectPolicies))
	}
	if len(r.Policies) == 0 {
		errs = append(errs, field.Required(p.Child("policies"), "must specify at least one Policy"))
	}
	for i, pol := range r.Policies {
		pp := p.Child("policies").Index(i)
		if !contains(supportedPolicyTypes, pol.Type) {
			errs = append(errs, field.NotSupported(pp.Child("type"), pol.Type, supportedPolicyTypes))
		}
		if pol.Value <= 0 {
			errs = append(errs, field.Invalid(pp.Child("value"), pol.Value, "must be greater than zero"))
		}
		if pol.PeriodSeconds <= 0 {
			errs = append(errs, field.Invalid(pp.Child("periodSeconds"), pol.PeriodSeconds, "must be greater than zero"))
		}
		if pol.PeriodSeconds > hpaMaxPeriodSeconds {
			errs = append(errs, field.Invalid(pp.Child("periodSeconds"), pol.PeriodSeconds, "must be less than or equal to 1800"))
		}
	}
	return errs
}
