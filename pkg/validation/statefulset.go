package validation

import (
	"fmt"
	corev1 "k8s.io/api/core/v1"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

const stsUpdateForbiddenMsg = "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"

func validateStatefulSet(s *appsv1.StatefulSet) field.ErrorList {
	errs := validateMeta(s, true, nameIsDNSSubdomain)
	return append(errs, validateStatefulSetSpec(&s.Spec)...)
}

func validateStatefulSetSpec(s *appsv1.StatefulSetSpec) field.ErrorList {
	var errs field.ErrorList
	switch s.PodManagementPolicy {
	case "", appsv1.OrderedReadyPodManagement, appsv1.ParallelPodManagement:
	default:
		errs = append(errs, field.Invalid(specPath.Child("podManagementPolicy"), s.PodManagementPolicy, fmt.Sprintf("must be '%s' or '%s'", appsv1.OrderedReadyPodManagement, appsv1.ParallelPodManagement)))
	}
	us := specPath.Child("updateStrategy")
	switch s.UpdateStrategy.Type {
	case "":
	case appsv1.OnDeleteStatefulSetStrategyType:
		if s.UpdateStrategy.RollingUpdate != nil {
			errs = append(errs, field.Invalid(us.Child("rollingUpdate"), s.UpdateStrategy.RollingUpdate, fmt.Sprintf("only allowed for updateStrategy '%s'", appsv1.RollingUpdateStatefulSetStrategyType)))
		}
	case appsv1.RollingUpdateStatefulSetStrategyType:
		if ru := s.UpdateStrategy.RollingUpdate; ru != nil {
			errs = append(errs, validateNonnegative32(ru.Partition, us.Child("rollingUpdate", "partition"))...)
			if ru.MaxUnavailable != nil {
				mu := us.Child("rollingUpdate", "maxUnavailable")
				errs = append(errs, validateIntOrPercent(*ru.MaxUnavailable, mu)...)
				if n, _ := percentOrInt(*ru.MaxUnavailable); n < 1 {
					errs = append(errs, field.Invalid(mu, *ru.MaxUnavailable, "must be greater than 0"))
				}
				errs = append(errs, notMoreThan100Percent(*ru.MaxUnavailable, mu)...)
			}
		}
	default:
		errs = append(errs, field.Invalid(us, s.UpdateStrategy, fmt.Sprintf("must be '%s' or '%s'", appsv1.RollingUpdateStatefulSetStrategyType, appsv1.OnDeleteStatefulSetStrategyType)))
	}
	if p := s.PersistentVolumeClaimRetentionPolicy; p != nil {
		pp := specPath.Child("persistentVolumeClaimRetentionPolicy")
		valid := []appsv1.PersistentVolumeClaimRetentionPolicyType{appsv1.RetainPersistentVolumeClaimRetentionPolicyType, appsv1.DeletePersistentVolumeClaimRetentionPolicyType}
		if p.WhenDeleted != "" && !contains(valid, p.WhenDeleted) {
			errs = append(errs, field.NotSupported(pp.Child("whenDeleted"), p.WhenDeleted, valid))
		}
		if p.WhenScaled != "" && !contains(valid, p.WhenScaled) {
			errs = append(errs, field.NotSupported(pp.Child("whenScaled"), p.WhenScaled, valid))
		}
	}
	if s.ServiceName != "" {
		errs = append(errs, invalidAll(specPath.Child("serviceName"), s.ServiceName, nameIsDNS1035Label(s.ServiceName, false))...)
	}
	if s.Ordinals != nil {
		errs = append(errs, validateNonnegative(int64(s.Ordinals.Start), specPath.Child("ordinals", "start"))...)
	}
	errs = append(errs, validateNonnegative32(s.Replicas, specPath.Child("replicas"))...)
	errs = append(errs, validateNonnegative(int64(s.MinReadySeconds), specPath.Child("minReadySeconds"))...)
	errs = append(errs, validateNonnegative32(s.RevisionHistoryLimit, specPath.Child("revisionHistoryLimit"))...)
	for i, c := range s.VolumeClaimTemplates {
		idx := specPath.Child("volumeClaimTemplates").Index(i)
		if c.Name == "" {
			errs = append(errs, field.Required(idx.Child("metadata", "name"), ""))
		}
		errs = append(errs, validatePVCSpec(&c.Spec, idx.Child("spec"))...)
	}
	// Containers mount the claim templates by name: each becomes a pod
	// volume, so the template is checked as the pods will be.
	template := &s.Template
	if len(s.VolumeClaimTemplates) > 0 {
		template = s.Template.DeepCopy()
		for _, c := range s.VolumeClaimTemplates {
			if !slices.ContainsFunc(template.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == c.Name }) && c.Name != "" {
				template.Spec.Volumes = append(template.Spec.Volumes, corev1.Volume{Name: c.Name, VolumeSource: corev1.VolumeSource{
					PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: c.Name},
				}})
			}
		}
	}
	return append(errs, validateWorkloadSelectorAndTemplate(s.Selector, template, "statefulset", "StatefulSet", specPath)...)
}

func validateStatefulSetUpdate(s, old *appsv1.StatefulSet) field.ErrorList {
	errs := validateStatefulSetSpec(&s.Spec)
	// Blank out what may change; whatever still differs is forbidden.
	a, b := s.Spec.DeepCopy(), old.Spec.DeepCopy()
	for _, x := range []*appsv1.StatefulSetSpec{a, b} {
		x.Replicas, x.Ordinals, x.Template, x.UpdateStrategy = nil, nil, b.Template, appsv1.StatefulSetUpdateStrategy{}
		x.RevisionHistoryLimit, x.PersistentVolumeClaimRetentionPolicy, x.MinReadySeconds = nil, nil, 0
	}
	if !apiequality.Semantic.DeepEqual(a, b) {
		errs = append(errs, field.Forbidden(specPath, stsUpdateForbiddenMsg))
	}
	return errs
}

func validateStatefulSetStatus(s *appsv1.StatefulSet) field.ErrorList {
	st := field.NewPath("status")
	errs := validateNonnegative(s.Status.ObservedGeneration, st.Child("observedGeneration"))
	for name, v := range map[string]int32{"replicas": s.Status.Replicas, "readyReplicas": s.Status.ReadyReplicas, "currentReplicas": s.Status.CurrentReplicas, "updatedReplicas": s.Status.UpdatedReplicas, "availableReplicas": s.Status.AvailableReplicas} {
		errs = append(errs, validateNonnegative(int64(v), st.Child(name))...)
	}
	return errs
}

// DaemonSets.

func validateDaemonSet(d *appsv1.DaemonSet) field.ErrorList {
	errs := validateMeta(d, true, nameIsDNSSubdomain)
	return append(errs, validateDaemonSetSpec(&d.Spec)...)
}

func validateDaemonSetSpec(s *appsv1.DaemonSetSpec) field.ErrorList {
	errs := validateWorkloadSelectorAndTemplate(s.Selector, &s.Template, "daemonset", "DaemonSet", specPath)
	errs = append(errs, validateNonnegative(int64(s.MinReadySeconds), specPath.Child("minReadySeconds"))...)
	errs = append(errs, validateNonnegative32(s.RevisionHistoryLimit, specPath.Child("revisionHistoryLimit"))...)
	us := specPath.Child("updateStrategy")
	switch s.UpdateStrategy.Type {
	case appsv1.OnDeleteDaemonSetStrategyType:
	case appsv1.RollingUpdateDaemonSetStrategyType, "":
		if ru := s.UpdateStrategy.RollingUpdate; ru != nil {
			errs = append(errs, validateRollingUpdate(ru.MaxUnavailable, ru.MaxSurge, us.Child("rollingUpdate"))...)
		}
	default:
		errs = append(errs, field.NotSupported(us.Child("type"), s.UpdateStrategy.Type, []appsv1.DaemonSetUpdateStrategyType{appsv1.OnDeleteDaemonSetStrategyType, appsv1.RollingUpdateDaemonSetStrategyType}))
	}
	return errs
}

func validateDaemonSetUpdate(d, old *appsv1.DaemonSet) field.ErrorList {
	errs := validateDaemonSetSpec(&d.Spec)
	return append(errs, validateImmutable(d.Spec.Selector, old.Spec.Selector, specPath.Child("selector"))...)
}

func validateDaemonSetStatus(d *appsv1.DaemonSet) field.ErrorList {
	st := field.NewPath("status")
	s := d.Status
	errs := validateNonnegative(s.ObservedGeneration, st.Child("observedGeneration"))
	for name, v := range map[string]int32{"currentNumberScheduled": s.CurrentNumberScheduled, "numberMisscheduled": s.NumberMisscheduled, "desiredNumberScheduled": s.DesiredNumberScheduled, "numberReady": s.NumberReady, "updatedNumberScheduled": s.UpdatedNumberScheduled, "numberAvailable": s.NumberAvailable, "numberUnavailable": s.NumberUnavailable} {
		errs = append(errs, validateNonnegative(int64(v), st.Child(name))...)
	}
	return errs
}
