package validation

import (
	"fmt"
	"regexp"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// validateResources checks container resource requirements: valid names,
// non-negative quantities and requests not above limits.
func validateResources(r *corev1.ResourceRequirements, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	limPath, reqPath := path.Child("limits"), path.Child("requests")
	for name, q := range r.Limits {
		p := limPath.Key(string(name))
		errs = append(errs, validateResourceName(name, p)...)
		errs = append(errs, validateQuantity(q, p)...)
	}
	for name, q := range r.Requests {
		p := reqPath.Key(string(name))
		errs = append(errs, validateResourceName(name, p)...)
		errs = append(errs, validateQuantity(q, p)...)
		lim, ok := r.Limits[name]
		if !ok {
			continue
		}
		if q.Cmp(lim) > 0 {
			errs = append(errs, field.Invalid(p, q.String(), fmt.Sprintf("must be less than or equal to %s limit of %s", name, lim.String())))
		} else if !overcommittable(name) && q.Cmp(lim) != 0 {
			errs = append(errs, field.Invalid(p, q.String(), fmt.Sprintf("must be equal to %s limit of %s", name, lim.String())))
		}
	}
	return errs
}

func validateQuantity(q resource.Quantity, path *field.Path) field.ErrorList {
	if q.Sign() < 0 {
		return field.ErrorList{field.Invalid(path, q.String(), isNegativeErrorMsg)}
	}
	return nil
}

// overcommittable reports whether requests may be below limits: true for
// native resources, false for hugepages and extended resources.
func overcommittable(name corev1.ResourceName) bool {
	s := string(name)
	if strings.HasPrefix(s, corev1.ResourceHugePagesPrefix) {
		return false
	}
	return !strings.Contains(s, "/") || strings.HasPrefix(s, "kubernetes.io/")
}

// validateResourceName accepts qualified names; unprefixed ones must be
// standard container resources.
func validateResourceName(name corev1.ResourceName, path *field.Path) field.ErrorList {
	s := string(name)
	if msgs := utilvalidation.IsQualifiedName(s); len(msgs) > 0 {
		return invalidAll(path, s, msgs)
	}
	if strings.Contains(s, "/") || strings.HasPrefix(s, corev1.ResourceHugePagesPrefix) {
		return nil
	}
	switch name {
	case corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage, corev1.ResourceStorage, corev1.ResourcePods:
		return nil
	}
	return field.ErrorList{field.Invalid(path, s, "must be a standard resource type or fully qualified")}
}

var supportedCapabilityAdd = "SYS_ADMIN"

// validateContainerSecurityContext covers the basics: id ranges and the
// contradictions upstream rejects.
func validateContainerSecurityContext(sc *corev1.SecurityContext, path *field.Path) field.ErrorList {
	if sc == nil {
		return nil
	}
	var errs field.ErrorList
	if sc.RunAsUser != nil {
		errs = append(errs, invalidAll(path.Child("runAsUser"), *sc.RunAsUser, utilvalidation.IsValidUserID(*sc.RunAsUser))...)
	}
	if sc.RunAsGroup != nil {
		errs = append(errs, invalidAll(path.Child("runAsGroup"), *sc.RunAsGroup, utilvalidation.IsValidGroupID(*sc.RunAsGroup))...)
	}
	if sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation {
		if sc.Privileged != nil && *sc.Privileged {
			errs = append(errs, field.Invalid(path, sc, "cannot set `allowPrivilegeEscalation` to false and `privileged` to true"))
		}
		if sc.Capabilities != nil {
			for _, c := range sc.Capabilities.Add {
				if string(c) == supportedCapabilityAdd || string(c) == "CAP_"+supportedCapabilityAdd {
					errs = append(errs, field.Invalid(path, sc, "cannot set `allowPrivilegeEscalation` to false and `capabilities.Add` CAP_SYS_ADMIN"))
				}
			}
		}
	}
	if sc.ProcMount != nil {
		pm := *sc.ProcMount
		valid := []corev1.ProcMountType{corev1.DefaultProcMount, corev1.UnmaskedProcMount}
		if !contains(valid, pm) {
			errs = append(errs, field.NotSupported(path.Child("procMount"), pm, valid))
		}
	}
	errs = append(errs, validateSeccomp(sc.SeccompProfile, path.Child("seccompProfile"))...)
	return errs
}

func validatePodSecurityContext(sc *corev1.PodSecurityContext, path *field.Path) field.ErrorList {
	if sc == nil {
		return nil
	}
	var errs field.ErrorList
	if sc.RunAsUser != nil {
		errs = append(errs, invalidAll(path.Child("runAsUser"), *sc.RunAsUser, utilvalidation.IsValidUserID(*sc.RunAsUser))...)
	}
	if sc.RunAsGroup != nil {
		errs = append(errs, invalidAll(path.Child("runAsGroup"), *sc.RunAsGroup, utilvalidation.IsValidGroupID(*sc.RunAsGroup))...)
	}
	if sc.FSGroup != nil {
		errs = append(errs, invalidAll(path.Child("fsGroup"), *sc.FSGroup, utilvalidation.IsValidGroupID(*sc.FSGroup))...)
	}
	for i, g := range sc.SupplementalGroups {
		errs = append(errs, invalidAll(path.Child("supplementalGroups").Index(i), g, utilvalidation.IsValidGroupID(g))...)
	}
	if p := sc.FSGroupChangePolicy; p != nil {
		valid := []corev1.PodFSGroupChangePolicy{corev1.FSGroupChangeOnRootMismatch, corev1.FSGroupChangeAlways}
		if !contains(valid, *p) {
			errs = append(errs, field.NotSupported(path.Child("fsGroupChangePolicy"), *p, valid))
		}
	}
	seen := map[string]bool{}
	for i, s := range sc.Sysctls {
		idx := path.Child("sysctls").Index(i)
		switch {
		case s.Name == "":
			errs = append(errs, field.Required(idx.Child("name"), ""))
		case len(s.Name) > sysctlMaxLength || !sysctlNameRE.MatchString(s.Name):
			errs = append(errs, field.Invalid(idx.Child("name"), s.Name,
				fmt.Sprintf("must have at most %d characters and match regex %s", sysctlMaxLength, sysctlNameRE.String())))
		case seen[s.Name]:
			errs = append(errs, field.Duplicate(idx.Child("name"), s.Name))
		}
		seen[s.Name] = true
	}
	errs = append(errs, validateSeccomp(sc.SeccompProfile, path.Child("seccompProfile"))...)
	return errs
}

// A sysctl name is dot- or slash-separated segments of lower-case
// letters, digits, '-' and '_' (upstream's rule).
const sysctlMaxLength = 253

var sysctlNameRE = regexp.MustCompile(`^([a-z0-9]([-_a-z0-9]*[a-z0-9])?[\./])*[a-z0-9]([-_a-z0-9]*[a-z0-9])?$`)

func validateSeccomp(p *corev1.SeccompProfile, path *field.Path) field.ErrorList {
	if p == nil {
		return nil
	}
	valid := []corev1.SeccompProfileType{corev1.SeccompProfileTypeLocalhost, corev1.SeccompProfileTypeRuntimeDefault, corev1.SeccompProfileTypeUnconfined}
	if !contains(valid, p.Type) {
		return field.ErrorList{field.NotSupported(path.Child("type"), p.Type, valid)}
	}
	if p.Type == corev1.SeccompProfileTypeLocalhost && (p.LocalhostProfile == nil || *p.LocalhostProfile == "") {
		return field.ErrorList{field.Required(path.Child("localhostProfile"), "must be set when seccomp type is Localhost")}
	}
	if p.Type != corev1.SeccompProfileTypeLocalhost && p.LocalhostProfile != nil {
		return field.ErrorList{field.Invalid(path.Child("localhostProfile"), *p.LocalhostProfile, "can only be set when seccomp type is Localhost")}
	}
	return nil
}
