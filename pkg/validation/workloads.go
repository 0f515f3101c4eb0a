package validation

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// workloadTemplate holds the rules every replicating controller shares:
// a selector that selects its template, restartPolicy Always and no
// activeDeadlineSeconds (the pods are meant to run forever).
func validateWorkloadSelectorAndTemplate(sel *metav1.LabelSelector, tmpl *corev1.PodTemplateSpec, kindWord, adsKind string, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	selPath := path.Child("selector")
	if sel == nil {
		errs = append(errs, field.Required(selPath, ""))
	} else {
		errs = append(errs, validateLabelSelector(sel, selPath)...)
		if emptySelector(sel) {
			errs = append(errs, field.Invalid(selPath, sel, "empty selector is invalid for "+kindWord))
		}
	}
	tPath := path.Child("template")
	if sel != nil {
		errs = append(errs, selectorMatchesTemplate(sel, tmpl.Labels, tPath.Child("metadata", "labels"))...)
	}
	errs = append(errs, validatePodTemplateSpec(tmpl, tPath)...)
	errs = append(errs, validateAlwaysRestart(tmpl, tPath, adsKind)...)
	return errs
}

func validateAlwaysRestart(tmpl *corev1.PodTemplateSpec, tPath *field.Path, adsKind string) field.ErrorList {
	var errs field.ErrorList
	if rp := tmpl.Spec.RestartPolicy; rp != "" && rp != corev1.RestartPolicyAlways {
		errs = append(errs, field.NotSupported(tPath.Child("spec", "restartPolicy"), rp, []corev1.RestartPolicy{corev1.RestartPolicyAlways}))
	}
	if tmpl.Spec.ActiveDeadlineSeconds != nil {
		errs = append(errs, field.Forbidden(tPath.Child("spec", "activeDeadlineSeconds"), fmt.Sprintf("activeDeadlineSeconds in %s is not Supported", adsKind)))
	}
	return errs
}

// Deployments.

func validateDeployment(d *appsv1.Deployment) field.ErrorList {
	errs := validateMeta(d, true, nameIsDNSSubdomain)
	return append(errs, validateDeploymentSpec(&d.Spec)...)
}

func validateDeploymentSpec(s *appsv1.DeploymentSpec) field.ErrorList {
	errs := validateNonnegative32(s.Replicas, specPath.Child("replicas"))
	errs = append(errs, validateWorkloadSelectorAndTemplate(s.Selector, &s.Template, "deployment", "ReplicaSet", specPath)...)
	errs = append(errs, validateDeploymentStrategy(&s.Strategy, specPath.Child("strategy"))...)
	errs = append(errs, validateNonnegative(int64(s.MinReadySeconds), specPath.Child("minReadySeconds"))...)
	errs = append(errs, validateNonnegative32(s.RevisionHistoryLimit, specPath.Child("revisionHistoryLimit"))...)
	if p := s.ProgressDeadlineSeconds; p != nil {
		pp := specPath.Child("progressDeadlineSeconds")
		errs = append(errs, validateNonnegative(int64(*p), pp)...)
		if *p <= s.MinReadySeconds {
			errs = append(errs, field.Invalid(pp, *p, "must be greater than minReadySeconds"))
		}
	}
	return errs
}

func validateDeploymentStrategy(s *appsv1.DeploymentStrategy, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch s.Type {
	case appsv1.RecreateDeploymentStrategyType:
		if s.RollingUpdate != nil {
			errs = append(errs, field.Forbidden(path.Child("rollingUpdate"), "may not be specified when strategy `type` is '"+string(appsv1.RecreateDeploymentStrategyType)+"'"))
		}
	case appsv1.RollingUpdateDeploymentStrategyType, "":
		// An empty type or rollingUpdate is filled in by defaulting.
		if ru := s.RollingUpdate; ru != nil {
			errs = append(errs, validateRollingUpdate(ru.MaxUnavailable, ru.MaxSurge, path.Child("rollingUpdate"))...)
		}
	default:
		errs = append(errs, field.NotSupported(path.Child("type"), s.Type, []appsv1.DeploymentStrategyType{appsv1.RecreateDeploymentStrategyType, appsv1.RollingUpdateDeploymentStrategyType}))
	}
	return errs
}

// validateRollingUpdate checks maxUnavailable/maxSurge as Deployments and
// DaemonSets use them: both must not be zero at once.
func validateRollingUpdate(maxUnavailable, maxSurge *intstr.IntOrString, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	muPath, msPath := path.Child("maxUnavailable"), path.Child("maxSurge")
	if maxUnavailable != nil {
		errs = append(errs, validateIntOrPercent(*maxUnavailable, muPath)...)
		errs = append(errs, notMoreThan100Percent(*maxUnavailable, muPath)...)
	}
	if maxSurge != nil {
		errs = append(errs, validateIntOrPercent(*maxSurge, msPath)...)
	}
	if maxUnavailable != nil && maxSurge != nil {
		mu, _ := percentOrInt(*maxUnavailable)
		ms, _ := percentOrInt(*maxSurge)
		if mu == 0 && ms == 0 {
			errs = append(errs, field.Invalid(muPath, *maxUnavailable, "may not be 0 when `maxSurge` is 0"))
		}
	}
	return errs
}

func validateDeploymentUpdate(d, old *appsv1.Deployment) field.ErrorList {
	errs := validateDeploymentSpec(&d.Spec)
	return append(errs, validateImmutable(d.Spec.Selector, old.Spec.Selector, specPath.Child("selector"))...)
}

func validateDeploymentStatus(d *appsv1.Deployment) field.ErrorList {
	st := field.NewPath("status")
	s := d.Status
	errs := validateNonnegative(s.ObservedGeneration, st.Child("observedGeneration"))
	for name, v := range map[string]int32{"replicas": s.Replicas, "updatedReplicas": s.UpdatedReplicas, "readyReplicas": s.ReadyReplicas, "availableReplicas": s.AvailableReplicas, "unavailableReplicas": s.UnavailableReplicas} {
		errs = append(errs, validateNonnegative(int64(v), st.Child(name))...)
	}
	if s.CollisionCount != nil {
		errs = append(errs, validateNonnegative(int64(*s.CollisionCount), st.Child("collisionCount"))...)
	}
	return errs
}

// ReplicaSets and ReplicationControllers.

func validateReplicaSet(rs *appsv1.ReplicaSet) field.ErrorList {
	errs := validateMeta(rs, true, nameIsDNSSubdomain)
	return append(errs, validateReplicaSetSpec(&rs.Spec)...)
}

func validateReplicaSetSpec(s *appsv1.ReplicaSetSpec) field.ErrorList {
	errs := validateNonnegative32(s.Replicas, specPath.Child("replicas"))
	errs = append(errs, validateNonnegative(int64(s.MinReadySeconds), specPath.Child("minReadySeconds"))...)
	// Upstream's ReplicaSet message also says "deployment".
	return append(errs, validateWorkloadSelectorAndTemplate(s.Selector, &s.Template, "deployment", "ReplicaSet", specPath)...)
}

func validateReplicaSetUpdate(rs, old *appsv1.ReplicaSet) field.ErrorList {
	errs := validateReplicaSetSpec(&rs.Spec)
	return append(errs, validateImmutable(rs.Spec.Selector, old.Spec.Selector, specPath.Child("selector"))...)
}

func validateReplicaSetStatus(rs *appsv1.ReplicaSet) field.ErrorList {
	return validateReplicaCounts(rs.Status.Replicas, rs.Status.FullyLabeledReplicas, rs.Status.ReadyReplicas, rs.Status.AvailableReplicas, rs.Status.ObservedGeneration)
}

func validateRCStatus(rc *corev1.ReplicationController) field.ErrorList {
	return validateReplicaCounts(rc.Status.Replicas, rc.Status.FullyLabeledReplicas, rc.Status.ReadyReplicas, rc.Status.AvailableReplicas, rc.Status.ObservedGeneration)
}

func validateReplicaCounts(replicas, labeled, ready, available int32, gen int64) field.ErrorList {
	st := field.NewPath("status")
	errs := validateNonnegative(int64(replicas), st.Child("replicas"))
	errs = append(errs, validateNonnegative(int64(labeled), st.Child("fullyLabeledReplicas"))...)
	errs = append(errs, validateNonnegative(int64(ready), st.Child("readyReplicas"))...)
	errs = append(errs, validateNonnegative(int64(available), st.Child("availableReplicas"))...)
	errs = append(errs, validateNonnegative(gen, st.Child("observedGeneration"))...)
	if labeled > replicas {
		errs = append(errs, field.Invalid(st.Child("fullyLabeledReplicas"), labeled, "cannot be greater than status.replicas"))
	}
	if ready > replicas {
		errs = append(errs, field.Invalid(st.Child("readyReplicas"), ready, "cannot be greater than status.replicas"))
	}
	if available > replicas {
		errs = append(errs, field.Invalid(st.Child("availableReplicas"), available, "cannot be greater than status.replicas"))
	}
	if available > ready {
		errs = append(errs, field.Invalid(st.Child("availableReplicas"), available, "cannot be greater than readyReplicas"))
	}
	return errs
}

func validateReplicationController(rc *corev1.ReplicationController) field.ErrorList {
	errs := validateMeta(rc, true, nameIsDNSSubdomain)
	return append(errs, validateReplicationControllerSpec(rc)...)
}

func validateReplicationControllerSpec(rc *corev1.ReplicationController) field.ErrorList {
	s := &rc.Spec
	errs := validateNonnegative32(s.Replicas, specPath.Child("replicas"))
	errs = append(errs, validateNonnegative(int64(s.MinReadySeconds), specPath.Child("minReadySeconds"))...)
	tPath := specPath.Child("template")
	sel := s.Selector
	if len(sel) == 0 && s.Template != nil {
		// Defaulting copies the template labels into an empty selector.
		sel = s.Template.Labels
	}
	if len(sel) == 0 {
		errs = append(errs, field.Required(specPath.Child("selector"), ""))
	} else {
		errs = append(errs, validateLabels(sel, specPath.Child("selector"))...)
	}
	if s.Template == nil {
		return append(errs, field.Required(tPath, ""))
	}
	if len(sel) > 0 && !labels.SelectorFromSet(sel).Matches(labels.Set(s.Template.Labels)) {
		errs = append(errs, field.Invalid(tPath.Child("metadata", "labels"), s.Template.Labels, "`selector` does not match template `labels`"))
	}
	errs = append(errs, validatePodTemplateSpec(s.Template, tPath)...)
	return append(errs, validateAlwaysRestart(s.Template, tPath, "ReplicationController")...)
}

// PodTemplates.

func validatePodTemplate(pt *corev1.PodTemplate) field.ErrorList {
	errs := validateMeta(pt, true, nameIsDNSSubdomain)
	return append(errs, validatePodTemplateSpecOf(pt)...)
}

func validatePodTemplateSpecOf(pt *corev1.PodTemplate) field.ErrorList {
	return validatePodTemplateSpec(&pt.Template, field.NewPath("template"))
}

// ControllerRevisions.

func validateControllerRevision(cr *appsv1.ControllerRevision) field.ErrorList {
	errs := validateMeta(cr, true, nameIsDNSSubdomain)
	if cr.Data.Raw == nil && cr.Data.Object == nil {
		errs = append(errs, field.Required(field.NewPath("data"), "data is mandatory"))
	}
	return append(errs, validateNonnegative(cr.Revision, field.NewPath("revision"))...)
}

func validateControllerRevisionUpdate(cr, old *appsv1.ControllerRevision) field.ErrorList {
	errs := validateNonnegative(cr.Revision, field.NewPath("revision"))
	if string(cr.Data.Raw) != string(old.Data.Raw) {
		errs = append(errs, field.Invalid(field.NewPath("data"), "", fieldImmutableErrorMsg))
	}
	return errs
}
