package validation

import (
	corev1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// RuntimeClasses: the handler is a DNS label and immutable; overhead is
// validated as container limits, scheduling as a pod's node selector and
// tolerations (with upstream's paths).

func validateRuntimeClass(rc *nodev1.RuntimeClass) field.ErrorList {
	errs := validateMeta(rc, false, nameIsDNSSubdomain)
	errs = append(errs, invalidAll(field.NewPath("handler"), rc.Handler, nameIsDNSLabel(rc.Handler, false))...)
	if rc.Overhead != nil {
		errs = append(errs, validateOverhead(rc.Overhead.PodFixed, field.NewPath("overhead", "limits"))...)
	}
	if s := rc.Scheduling; s != nil {
		path := field.NewPath("scheduling")
		if s.NodeSelector != nil {
			errs = append(errs, validateLabels(s.NodeSelector, path.Child("nodeSelector"))...)
		}
		tols := path.Child("tolerations")
		// Upstream descends into "tolerations" twice for the per-item
		// rules and reports duplicates at the list itself.
		errs = append(errs, validateTolerations(s.Tolerations, tols.Child("tolerations"))...)
		seen := map[corev1.Toleration]bool{}
		for i, t := range s.Tolerations {
			key := corev1.Toleration{Key: t.Key, Operator: t.Operator, Value: t.Value, Effect: t.Effect}
			if seen[key] {
				errs = append(errs, field.Duplicate(tols.Index(i), t))
			}
			seen[key] = true
		}
	}
	return errs
}

func validateRuntimeClassUpdate(rc, old *nodev1.RuntimeClass) field.ErrorList {
	errs := validateRuntimeClass(rc)
	return append(errs, validateImmutable(rc.Handler, old.Handler, field.NewPath("handler"))...)
}
