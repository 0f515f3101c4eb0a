package validation

import (
	"k8s.io/apimachinery/pkg/util/validation/field"

	settingsv1alpha1 "github.com/flotilla-io/flotilla/pkg/apis/settings/v1alpha1"
)

// validatePodPreset applies upstream 1.19's rules: a DNS subdomain name,
// a valid selector, at least one thing to inject, and env, envFrom,
// volumes and volumeMounts valid as they would be in a pod, the mounts
// naming the preset's own volumes.
func validatePodPreset(p *settingsv1alpha1.PodPreset) field.ErrorList {
	errs := validateMeta(p, true, nameIsDNSSubdomain)
	return append(errs, validatePodPresetSpec(&p.Spec, field.NewPath("spec"))...)
}

func validatePodPresetSpec(spec *settingsv1alpha1.PodPresetSpec, path *field.Path) field.ErrorList {
	errs := validateLabelSelector(&spec.Selector, path.Child("selector"))
	if spec.Env == nil && spec.EnvFrom == nil && spec.VolumeMounts == nil && spec.Volumes == nil {
		// Upstream's odd path names all four fields at once.
		errs = append(errs, field.Required(path.Child("volumes", "env", "envFrom", "volumeMounts"), "must specify at least one"))
	}
	vols, volErrs := validateVolumes(spec.Volumes, path.Child("volumes"))
	errs = append(errs, volErrs...)
	errs = append(errs, validateEnv(spec.Env, path.Child("env"))...)
	errs = append(errs, validateEnvFrom(spec.EnvFrom, path.Child("envFrom"))...)
	return append(errs, validateVolumeMounts(spec.VolumeMounts, vols, path.Child("volumeMounts"))...)
}
