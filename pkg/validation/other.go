package validation

import (
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	policyv1 "k8s.io/api/policy/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Events. Core events keep upstream's legacy rules: the event lives in the
// namespace of the object it is about (or default, for cluster objects).

func validateCoreEvent(e *corev1.Event) field.ErrorList {
	errs := validateMeta(e, true, nameIsDNSSubdomain)
	return append(errs, validateEventNamespace(e.Namespace, e.InvolvedObject.Namespace, field.NewPath("involvedObject", "namespace"))...)
}

func validateEventNamespace(ns, objNS string, path *field.Path) field.ErrorList {
	if objNS == "" {
		if ns != metav1.NamespaceNone && ns != metav1.NamespaceDefault {
			return field.ErrorList{field.Invalid(path, objNS, "does not match event.namespace")}
		}
		return nil
	}
	if ns != objNS {
		return field.ErrorList{field.Invalid(path, objNS, "does not match event.namespace")}
	}
	return nil
}

func validateCoreEventUpdate(e, old *corev1.Event) field.ErrorList {
	errs := validateEventNamespace(e.Namespace, e.InvolvedObject.Namespace, field.NewPath("involvedObject", "namespace"))
	// Upstream lets legacy core events change (count, lastTimestamp, ...).
	return errs
}

func validateEventsV1(e *eventsv1.Event) field.ErrorList {
	errs := validateMeta(e, true, nameIsDNSSubdomain)
	return append(errs, validateEventNamespace(e.Namespace, e.Regarding.Namespace, field.NewPath("regarding", "namespace"))...)
}

// validateEventsV1Update: events.k8s.io events are immutable apart from
// their series and metadata.
func validateEventsV1Update(e, old *eventsv1.Event) field.ErrorList {
	var errs field.ErrorList
	check := func(name string, cur, was any) {
		if !apiequality.Semantic.DeepEqual(cur, was) {
			errs = append(errs, field.Invalid(field.NewPath(name), cur, fieldImmutableErrorMsg))
		}
	}
	check("regarding", e.Regarding, old.Regarding)
	check("reason", e.Reason, old.Reason)
	check("action", e.Action, old.Action)
	check("reportingController", e.ReportingController, old.ReportingController)
	check("reportingInstance", e.ReportingInstance, old.ReportingInstance)
	check("type", e.Type, old.Type)
	return errs
}

// ServiceAccounts.

func validateServiceAccount(sa *corev1.ServiceAccount) field.ErrorList {
	errs := validateMeta(sa, true, nameIsDNSSubdomain)
	return append(errs, validateServiceAccountSpec(sa)...)
}

func validateServiceAccountSpec(sa *corev1.ServiceAccount) field.ErrorList {
	return validateImagePullSecrets(sa.ImagePullSecrets, field.NewPath("imagePullSecrets"))
}

// PersistentVolumeClaims.

func validatePVC(pvc *corev1.PersistentVolumeClaim) field.ErrorList {
	errs := validateMeta(pvc, true, nameIsDNSSubdomain)
	return append(errs, validatePVCSpec(&pvc.Spec, specPath)...)
}

func validatePVCSpec(s *corev1.PersistentVolumeClaimSpec, path *field.Path) field.ErrorList {
	errs := validateAccessModes(s.AccessModes, path.Child("accessModes"))
	errs = append(errs, validateLabelSelector(s.Selector, path.Child("selector"))...)
	storage := path.Child("resources").Key(string(corev1.ResourceStorage))
	q, ok := s.Resources.Requests[corev1.ResourceStorage]
	switch {
	case !ok:
		errs = append(errs, field.Required(storage, ""))
	case q.Sign() <= 0:
		errs = append(errs, field.Invalid(storage, q.String(), isNotPositiveErrorMsg))
	}
	if s.StorageClassName != nil && *s.StorageClassName != "" {
		errs = append(errs, validateDNS1123Subdomain(*s.StorageClassName, path.Child("storageClassName"))...)
	}
	if m := s.VolumeMode; m != nil && *m != corev1.PersistentVolumeBlock && *m != corev1.PersistentVolumeFilesystem {
		errs = append(errs, field.NotSupported(path.Child("volumeMode"), *m, []corev1.PersistentVolumeMode{corev1.PersistentVolumeBlock, corev1.PersistentVolumeFilesystem}))
	}
	return errs
}

// validatePVCUpdate: a claim's spec is fixed except for its storage
// request, and the binder filling in volumeName.
func validatePVCUpdate(pvc, old *corev1.PersistentVolumeClaim) field.ErrorList {
	errs := validatePVCSpec(&pvc.Spec, specPath)
	a, b := pvc.Spec.DeepCopy(), old.Spec.DeepCopy()
	a.Resources.Requests, b.Resources.Requests = nil, nil
	a.VolumeAttributesClassName, b.VolumeAttributesClassName = nil, nil
	if b.VolumeName == "" {
		a.VolumeName = ""
	}
	// An unset storage class or volume mode may be filled in by defaulting.
	if b.StorageClassName == nil {
		a.StorageClassName = nil
	}
	if a.VolumeMode == nil || b.VolumeMode == nil {
		a.VolumeMode, b.VolumeMode = nil, nil
	}
	if !apiequality.Semantic.DeepEqual(a, b) {
		errs = append(errs, field.Forbidden(specPath, "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims\n"+specDiff(b, a)))
	}
	return errs
}

// Leases.

func validateLease(l *coordinationv1.Lease) field.ErrorList {
	errs := validateMeta(l, true, nameIsDNSSubdomain)
	return append(errs, validateLeaseSpec(l)...)
}

func validateLeaseSpec(l *coordinationv1.Lease) field.ErrorList {
	var errs field.ErrorList
	if d := l.Spec.LeaseDurationSeconds; d != nil && *d <= 0 {
		errs = append(errs, field.Invalid(specPath.Child("leaseDurationSeconds"), *d, "must be greater than 0"))
	}
	if t := l.Spec.LeaseTransitions; t != nil && *t < 0 {
		errs = append(errs, field.Invalid(specPath.Child("leaseTransitions"), *t, isNegativeErrorMsg))
	}
	if s := l.Spec.Strategy; s != nil && *s != coordinationv1.OldestEmulationVersion {
		errs = append(errs, field.NotSupported(specPath.Child("strategy"), *s, []coordinationv1.CoordinatedLeaseStrategy{coordinationv1.OldestEmulationVersion}))
	}
	return errs
}

// PodDisruptionBudgets.

func validatePDB(p *policyv1.PodDisruptionBudget) field.ErrorList {
	errs := validateMeta(p, true, nameIsDNSSubdomain)
	return append(errs, validatePDBSpec(p)...)
}

func validatePDBSpec(p *policyv1.PodDisruptionBudget) field.ErrorList {
	s := &p.Spec
	var errs field.ErrorList
	if s.MinAvailable != nil && s.MaxUnavailable != nil {
		errs = append(errs, field.Invalid(specPath, s, "minAvailable and maxUnavailable cannot be both set"))
	}
	if s.MinAvailable != nil {
		errs = append(errs, validateIntOrPercent(*s.MinAvailable, specPath.Child("minAvailable"))...)
		errs = append(errs, notMoreThan100Percent(*s.MinAvailable, specPath.Child("minAvailable"))...)
	}
	if s.MaxUnavailable != nil {
		errs = append(errs, validateIntOrPercent(*s.MaxUnavailable, specPath.Child("maxUnavailable"))...)
		errs = append(errs, notMoreThan100Percent(*s.MaxUnavailable, specPath.Child("maxUnavailable"))...)
	}
	errs = append(errs, validateLabelSelector(s.Selector, specPath.Child("selector"))...)
	if u := s.UnhealthyPodEvictionPolicy; u != nil {
		valid := []policyv1.UnhealthyPodEvictionPolicyType{policyv1.AlwaysAllow, policyv1.IfHealthyBudget}
		if !contains(valid, *u) {
			errs = append(errs, field.NotSupported(specPath.Child("unhealthyPodEvictionPolicy"), *u, valid))
		}
	}
	return errs
}
