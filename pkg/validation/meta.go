package validation

import (
	"fmt"
	"math"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metavalidation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Name rules, as upstream assigns them per kind.
var (
	nameIsDNSSubdomain = apivalidation.NameIsDNSSubdomain
	nameIsDNSLabel     = apivalidation.NameIsDNSLabel
	nameIsDNS1035Label = apivalidation.NameIsDNS1035Label
)

// Messages shared by several validators; the wording is upstream's.
const (
	isNegativeErrorMsg     = "must be greater than or equal to 0"
	isNotPositiveErrorMsg  = "must be greater than zero"
	fieldImmutableErrorMsg = "field is immutable"
)

var metaPath = field.NewPath("metadata")

// validateMeta validates the metadata of a new object.
func validateMeta(obj metav1.Object, namespaced bool, nameFn apivalidation.ValidateNameFunc) field.ErrorList {
	return apivalidation.ValidateObjectMetaAccessor(obj, namespaced, nameFn, metaPath)
}

// validateMetaUpdate applies apimachinery's update rules: name, namespace,
// uid, creationTimestamp and friends may not change.
func validateMetaUpdate(obj, old runtime.Object) field.ErrorList {
	acc, err := meta.Accessor(obj)
	if err != nil {
		return nil
	}
	oldAcc, err := meta.Accessor(old)
	if err != nil {
		return nil
	}
	return apivalidation.ValidateObjectMetaAccessorUpdate(acc, oldAcc, metaPath)
}

// validateNonnegative reports a negative value at path.
func validateNonnegative(v int64, path *field.Path) field.ErrorList {
	return apivalidation.ValidateNonnegativeField(v, path)
}

func validateNonnegative32(v *int32, path *field.Path) field.ErrorList {
	if v == nil {
		return nil
	}
	return validateNonnegative(int64(*v), path)
}

func validatePositive(v int64, path *field.Path) field.ErrorList {
	if v <= 0 {
		return field.ErrorList{field.Invalid(path, v, isNotPositiveErrorMsg)}
	}
	return nil
}

func validateImmutable(newVal, oldVal any, path *field.Path) field.ErrorList {
	return apivalidation.ValidateImmutableField(newVal, oldVal, path)
}

// validateDNS1123Label and friends turn apimachinery's message lists into
// Invalid errors at path.
func validateDNS1123Label(v string, path *field.Path) field.ErrorList {
	return invalidAll(path, v, utilvalidation.IsDNS1123Label(v))
}

func validateDNS1123Subdomain(v string, path *field.Path) field.ErrorList {
	return invalidAll(path, v, utilvalidation.IsDNS1123Subdomain(v))
}

func invalidAll(path *field.Path, v any, msgs []string) field.ErrorList {
	var errs field.ErrorList
	for _, m := range msgs {
		errs = append(errs, field.Invalid(path, v, m))
	}
	return errs
}

// validateLabelSelector validates a metav1.LabelSelector.
func validateLabelSelector(sel *metav1.LabelSelector, path *field.Path) field.ErrorList {
	return metavalidation.ValidateLabelSelector(sel, metavalidation.LabelSelectorValidationOptions{}, path)
}

func validateLabels(l map[string]string, path *field.Path) field.ErrorList {
	return metavalidation.ValidateLabels(l, path)
}

func validateLabelName(name string, path *field.Path) field.ErrorList {
	return metavalidation.ValidateLabelName(name, path)
}

// validateTemplateMeta validates the metadata of an embedded pod template:
// only labels and annotations are meaningful there.
func validateTemplateMeta(m *metav1.ObjectMeta, path *field.Path) field.ErrorList {
	errs := validateLabels(m.Labels, path.Child("labels"))
	errs = append(errs, apivalidation.ValidateAnnotations(m.Annotations, path.Child("annotations"))...)
	return errs
}

// selectorMatchesTemplate reports the upstream error when a workload's
// selector would not select the pods it creates.
func selectorMatchesTemplate(sel *metav1.LabelSelector, tmplLabels map[string]string, path *field.Path) field.ErrorList {
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil || s.Empty() {
		return nil
	}
	if !s.Matches(labels.Set(tmplLabels)) {
		return field.ErrorList{field.Invalid(path, tmplLabels, "`selector` does not match template `labels`")}
	}
	return nil
}

func emptySelector(sel *metav1.LabelSelector) bool {
	return sel == nil || len(sel.MatchLabels)+len(sel.MatchExpressions) == 0
}

// validateIntOrPercent checks an int-or-percent: ints non-negative,
// strings a valid percentage.
func validateIntOrPercent(v intstr.IntOrString, path *field.Path) field.ErrorList {
	switch v.Type {
	case intstr.String:
		return invalidAll(path, v, utilvalidation.IsValidPercent(v.StrVal))
	case intstr.Int:
		return validateNonnegative(int64(v.IntValue()), path)
	}
	return field.ErrorList{field.Invalid(path, v, "must be an integer or percentage (e.g '5%')")}
}

// percentOrInt returns the number an int-or-percent stands for and
// whether it is a percentage.
func percentOrInt(v intstr.IntOrString) (int, bool) {
	if v.Type == intstr.String {
		s := strings.TrimSuffix(v.StrVal, "%")
		var n int
		if _, err := fmt.Sscanf(s, "%d", &n); err != nil {
			return 0, true
		}
		return n, true
	}
	return v.IntValue(), false
}

func notMoreThan100Percent(v intstr.IntOrString, path *field.Path) field.ErrorList {
	n, pct := percentOrInt(v)
	if pct && n > 100 {
		return field.ErrorList{field.Invalid(path, v, "must not be greater than 100%")}
	}
	return nil
}

// validatePortNumOrName validates a port referenced by number or name.
func validatePortNumOrName(p intstr.IntOrString, path *field.Path) field.ErrorList {
	switch p.Type {
	case intstr.Int:
		return invalidAll(path, p.IntValue(), utilvalidation.IsValidPortNum(p.IntValue()))
	case intstr.String:
		return invalidAll(path, p.StrVal, utilvalidation.IsValidPortName(p.StrVal))
	}
	return field.ErrorList{field.InternalError(path, fmt.Errorf("unknown type: %v", p.Type))}
}

func inclusiveRange(v int64, lo, hi int64, path *field.Path) field.ErrorList {
	if v < lo || v > hi {
		return field.ErrorList{field.Invalid(path, v, utilvalidation.InclusiveRangeError(int(lo), int(hi)))}
	}
	return nil
}

var maxUint32 = int64(math.MaxUint32)

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
