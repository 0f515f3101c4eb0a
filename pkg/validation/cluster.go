package validation

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Namespaces.

var standardFinalizers = []string{string(corev1.FinalizerKubernetes), "orphan", "foregroundDeletion"}

func validateNamespace(ns *corev1.Namespace) field.ErrorList {
	errs := validateMeta(ns, false, nameIsDNSLabel)
	return append(errs, validateNamespaceFinalizers(ns)...)
}

func validateNamespaceFinalizers(ns *corev1.Namespace) field.ErrorList {
	var errs field.ErrorList
	for i, f := range ns.Spec.Finalizers {
		p := field.NewPath("spec", "finalizers").Index(i)
		if !strings.Contains(string(f), "/") {
			if !contains(standardFinalizers, string(f)) {
				errs = append(errs, field.Invalid(p, string(f), "name is neither a standard finalizer name nor is it fully qualified"))
			}
			continue
		}
		errs = append(errs, apivalidation.ValidateFinalizerName(string(f), p)...)
	}
	return errs
}

func validateNamespaceUpdate(ns, _ *corev1.Namespace) field.ErrorList {
	return validateNamespaceFinalizers(ns)
}

// Nodes.

func validateNode(n *corev1.Node) field.ErrorList {
	errs := validateMeta(n, false, nameIsDNSSubdomain)
	errs = append(errs, validateNodeSpec(n)...)
	return append(errs, validateNodeStatus(n)...)
}

func validateNodeSpec(n *corev1.Node) field.ErrorList {
	var errs field.ErrorList
	if n.Spec.PodCIDR != "" {
		errs = append(errs, utilvalidation.IsValidCIDR(specPath.Child("podCIDR"), n.Spec.PodCIDR)...)
	}
	for i, c := range n.Spec.PodCIDRs {
		errs = append(errs, utilvalidation.IsValidCIDR(specPath.Child("podCIDRs").Index(i), c)...)
	}
	if len(n.Spec.PodCIDRs) > 2 {
		errs = append(errs, field.Invalid(specPath.Child("podCIDRs"), n.Spec.PodCIDRs, "may specify no more than one CIDR for each IP family"))
	}
	return append(errs, validateTaints(n.Spec.Taints, specPath.Child("taints"))...)
}

func validateTaints(taints []corev1.Taint, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	seen := map[string]bool{}
	for i, t := range taints {
		idx := path.Index(i)
		errs = append(errs, validateLabelName(t.Key, idx.Child("key"))...)
		errs = append(errs, invalidAll(idx.Child("value"), t.Value, utilvalidation.IsValidLabelValue(t.Value))...)
		errs = append(errs, validateTaintEffect(t.Effect, false, idx.Child("effect"))...)
		k := t.Key + ":" + string(t.Effect)
		if seen[k] {
			d := field.Duplicate(idx, t)
			d.Detail = "taints must be unique by key and effect pair"
			errs = append(errs, d)
		}
		seen[k] = true
	}
	return errs
}

func validateNodeStatus(n *corev1.Node) field.ErrorList {
	var errs field.ErrorList
	st := field.NewPath("status")
	for name, q := range n.Status.Capacity {
		errs = append(errs, validateQuantity(q, st.Child("capacity").Key(string(name)))...)
	}
	for name, q := range n.Status.Allocatable {
		errs = append(errs, validateQuantity(q, st.Child("allocatable").Key(string(name)))...)
	}
	return errs
}

// validateNodeUpdate: podCIDR and providerID can only go from unset to set.
func validateNodeUpdate(n, old *corev1.Node) field.ErrorList {
	errs := validateNodeSpec(n)
	if len(old.Spec.PodCIDRs) > 0 && strings.Join(n.Spec.PodCIDRs, ",") != strings.Join(old.Spec.PodCIDRs, ",") {
		errs = append(errs, field.Forbidden(specPath.Child("podCIDRs"), "node updates may not change podCIDR except from \"\" to valid"))
	} else if old.Spec.PodCIDR != "" && n.Spec.PodCIDR != old.Spec.PodCIDR {
		errs = append(errs, field.Forbidden(specPath.Child("podCIDR"), "node updates may not change podCIDR except from \"\" to valid"))
	}
	if old.Spec.ProviderID != "" && n.Spec.ProviderID != old.Spec.ProviderID {
		errs = append(errs, field.Forbidden(specPath.Child("providerID"), "node updates may not change providerID except from \"\" to valid"))
	}
	return errs
}

// PersistentVolumes.

var supportedAccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce, corev1.ReadOnlyMany, corev1.ReadWriteMany, corev1.ReadWriteOncePod}

func validateAccessModes(modes []corev1.PersistentVolumeAccessMode, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(modes) == 0 {
		errs = append(errs, field.Required(path, "at least 1 access mode is required"))
	}
	for _, m := range modes {
		if !contains(supportedAccessModes, m) {
			errs = append(errs, field.NotSupported(path, m, supportedAccessModes))
		}
	}
	if contains(modes, corev1.ReadWriteOncePod) && len(modes) > 1 {
		errs = append(errs, field.Forbidden(path, "may not use ReadWriteOncePod with other access modes"))
	}
	return errs
}

func validatePV(pv *corev1.PersistentVolume) field.ErrorList {
	errs := validateMeta(pv, false, nameIsDNSSubdomain)
	return append(errs, validatePVSpec(pv)...)
}

func validatePVSpec(pv *corev1.PersistentVolume) field.ErrorList {
	s := &pv.Spec
	errs := validateAccessModes(s.AccessModes, specPath.Child("accessModes"))
	capPath := specPath.Child("capacity")
	if len(s.Capacity) == 0 {
		errs = append(errs, field.Required(capPath, ""))
	} else if _, ok := s.Capacity[corev1.ResourceStorage]; !ok || len(s.Capacity) > 1 {
		errs = append(errs, field.NotSupported(capPath, s.Capacity, []corev1.ResourceName{corev1.ResourceStorage}))
	}
	for name, q := range s.Capacity {
		errs = append(errs, validateQuantity(q, capPath.Key(string(name)))...)
	}
	if p := s.PersistentVolumeReclaimPolicy; p != "" {
		valid := []corev1.PersistentVolumeReclaimPolicy{corev1.PersistentVolumeReclaimDelete, corev1.PersistentVolumeReclaimRecycle, corev1.PersistentVolumeReclaimRetain}
		if !contains(valid, p) {
			errs = append(errs, field.NotSupported(specPath.Child("persistentVolumeReclaimPolicy"), p, valid))
		}
	}
	n := len(setSources(&s.PersistentVolumeSource))
	if n == 0 {
		errs = append(errs, field.Required(specPath, "must specify a volume type"))
	} else if n > 1 {
		errs = append(errs, field.Forbidden(specPath, "may not specify more than 1 volume type"))
	}
	if hp := s.HostPath; hp != nil && hp.Path == "" {
		errs = append(errs, field.Required(specPath.Child("hostPath", "path"), ""))
	}
	if l := s.Local; l != nil && l.Path == "" {
		errs = append(errs, field.Required(specPath.Child("local", "path"), ""))
	}
	if s.StorageClassName != "" {
		errs = append(errs, validateDNS1123Subdomain(s.StorageClassName, specPath.Child("storageClassName"))...)
	}
	if m := s.VolumeMode; m != nil && *m != corev1.PersistentVolumeBlock && *m != corev1.PersistentVolumeFilesystem {
		errs = append(errs, field.NotSupported(specPath.Child("volumeMode"), *m, []corev1.PersistentVolumeMode{corev1.PersistentVolumeBlock, corev1.PersistentVolumeFilesystem}))
	}
	return errs
}

func validatePVUpdate(pv, old *corev1.PersistentVolume) field.ErrorList {
	errs := validatePVSpec(pv)
	// Both set: an unset mode is the defaulted Filesystem.
	if old.Spec.VolumeMode != nil && pv.Spec.VolumeMode != nil {
		errs = append(errs, validateImmutable(pv.Spec.VolumeMode, old.Spec.VolumeMode, specPath.Child("volumeMode"))...)
	}
	return errs
}

// PriorityClasses.

const (
	systemPriorityPrefix         = "system-"
	highestUserDefinablePriority = int32(1000000000)
)

var systemPriorityClasses = map[string]int32{
	"system-node-critical":    2000001000,
	"system-cluster-critical": 2000000000,
}

func validatePriorityClass(pc *schedulingv1.PriorityClass) field.ErrorList {
	errs := validateMeta(pc, false, nameIsDNSSubdomain)
	if strings.HasPrefix(pc.Name, systemPriorityPrefix) {
		if err := knownSystemPriorityClass(pc); err != "" {
			errs = append(errs, field.Forbidden(metaPath.Child("name"), "priority class names with '"+systemPriorityPrefix+"' prefix are reserved for system use only. error: "+err))
		}
	} else if pc.Value > highestUserDefinablePriority {
		errs = append(errs, field.Forbidden(field.NewPath("value"), fmt.Sprintf("maximum allowed value of a user defined priority is %v", highestUserDefinablePriority)))
	}
	return append(errs, validatePreemptionPolicy(pc)...)
}

func knownSystemPriorityClass(pc *schedulingv1.PriorityClass) string {
	v, ok := systemPriorityClasses[pc.Name]
	switch {
	case !ok:
		return fmt.Sprintf("%v is not a known system priority class", pc.Name)
	case v != pc.Value:
		return fmt.Sprintf("value of %v PriorityClass must be %v", pc.Name, v)
	case pc.GlobalDefault:
		return fmt.Sprintf("%v PriorityClass can not be marked as global default", pc.Name)
	}
	return ""
}

func validatePreemptionPolicy(pc *schedulingv1.PriorityClass) field.ErrorList {
	if p := pc.PreemptionPolicy; p != nil {
		valid := []corev1.PreemptionPolicy{corev1.PreemptLowerPriority, corev1.PreemptNever}
		if !contains(valid, *p) {
			return field.ErrorList{field.NotSupported(field.NewPath("preemptionPolicy"), *p, valid)}
		}
	}
	return nil
}

func validatePriorityClassUpdate(pc, old *schedulingv1.PriorityClass) field.ErrorList {
	var errs field.ErrorList
	if pc.Value != old.Value {
		errs = append(errs, field.Forbidden(field.NewPath("value"), "may not be changed in an update."))
	}
	if old.PreemptionPolicy != nil && pc.PreemptionPolicy != nil {
		errs = append(errs, validateImmutable(pc.PreemptionPolicy, old.PreemptionPolicy, field.NewPath("preemptionPolicy"))...)
	}
	return append(errs, validatePreemptionPolicy(pc)...)
}
