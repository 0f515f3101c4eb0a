package podpreset

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"

	settingsv1alpha1 "github.com/flotilla-io/flotilla/pkg/apis/settings/v1alpha1"
)

// merge returns a copy of pod with presets applied, or the conflicts
// that keep them from being applied (the pod is then untouched). An entry
// equal to one the pod (or an earlier preset) already has is not added
// twice; envFrom sources are appended without comparison, as upstream.
func merge(pod *corev1.Pod, presets []*settingsv1alpha1.PodPreset) (*corev1.Pod, error) {
	out := pod.DeepCopy()
	var errs []error
	vols, err := mergeVolumes(out.Spec.Volumes, presets)
	errs = append(errs, err)
	out.Spec.Volumes = vols
	for _, ctrs := range [][]corev1.Container{out.Spec.Containers, out.Spec.InitContainers} {
		for i := range ctrs {
			errs = append(errs, mergeContainer(&ctrs[i], presets))
		}
	}
	if err := utilerrors.NewAggregate(errs); err != nil {
		return nil, err
	}
	if out.Annotations == nil {
		out.Annotations = map[string]string{}
	}
	for _, pp := range presets {
		out.Annotations[AppliedAnnotationPrefix+pp.Name] = pp.ResourceVersion
	}
	return out, nil
}

func mergeContainer(c *corev1.Container, presets []*settingsv1alpha1.PodPreset) error {
	env, envErr := mergeEnv(c.Env, presets)
	mounts, mountErr := mergeVolumeMounts(c.VolumeMounts, presets)
	if err := utilerrors.NewAggregate([]error{envErr, mountErr}); err != nil {
		return err
	}
	c.Env, c.VolumeMounts = env, mounts
	for _, pp := range presets {
		for i := range pp.Spec.EnvFrom {
			c.EnvFrom = append(c.EnvFrom, *pp.Spec.EnvFrom[i].DeepCopy())
		}
	}
	return nil
}

func mergeEnv(env []corev1.EnvVar, presets []*settingsv1alpha1.PodPreset) ([]corev1.EnvVar, error) {
	return mergeNamed(env, presets, "env",
		func(pp *settingsv1alpha1.PodPreset) []corev1.EnvVar { return pp.Spec.Env },
		func(v corev1.EnvVar) string { return v.Name },
		func(v corev1.EnvVar) corev1.EnvVar { return *v.DeepCopy() })
}

// mergeNamed adds the presets' items of one kind (env vars, volumes) to
// have; an item whose name is already there clashes unless identical.
func mergeNamed[T any](have []T, presets []*settingsv1alpha1.PodPreset, what string,
	items func(*settingsv1alpha1.PodPreset) []T, name func(T) string, deepCopy func(T) T) ([]T, error) {
	byName := map[string]T{}
	for _, v := range have {
		byName[name(v)] = v
	}
	var errs []error
	for _, pp := range presets {
		for _, v := range items(pp) {
			old, ok := byName[name(v)]
			if !ok {
				byName[name(v)] = v
				have = append(have, deepCopy(v))
				continue
			}
			if !apiequality.Semantic.DeepEqual(old, v) {
				errs = append(errs, fmt.Errorf("merging %s for %s has a conflict on %s: \n%#v\ndoes not match\n%#v\n in container", what, pp.Name, name(v), v, old))
			}
		}
	}
	return have, utilerrors.NewAggregate(errs)
}

// mergeVolumeMounts adds the presets' mounts; a mount clashes with one
// of the same volume name or the same mount path unless it is identical.
func mergeVolumeMounts(mounts []corev1.VolumeMount, presets []*settingsv1alpha1.PodPreset) ([]corev1.VolumeMount, error) {
	byName := map[string]corev1.VolumeMount{}
	byPath := map[string]corev1.VolumeMount{}
	for _, m := range mounts {
		byName[m.Name] = m
		byPath[m.MountPath] = m
	}
	var errs []error
	for _, pp := range presets {
		for _, m := range pp.Spec.VolumeMounts {
			if have, ok := byName[m.Name]; !ok {
				byName[m.Name] = m
				mounts = append(mounts, *m.DeepCopy())
			} else if !apiequality.Semantic.DeepEqual(have, m) {
				errs = append(errs, fmt.Errorf("merging volume mounts for %s has a conflict on %s: \n%#v\ndoes not match\n%#v\n in container", pp.Name, m.Name, m, have))
			}
			if have, ok := byPath[m.MountPath]; !ok {
				byPath[m.MountPath] = m
			} else if !apiequality.Semantic.DeepEqual(have, m) {
				errs = append(errs, fmt.Errorf("merging volume mounts for %s has a conflict on mount path %s: \n%#v\ndoes not match\n%#v\n in container", pp.Name, m.MountPath, m, have))
			}
		}
	}
	return mounts, utilerrors.NewAggregate(errs)
}

func mergeVolumes(vols []corev1.Volume, presets []*settingsv1alpha1.PodPreset) ([]corev1.Volume, error) {
	return mergeNamed(vols, presets, "volumes",
		func(pp *settingsv1alpha1.PodPreset) []corev1.Volume { return pp.Spec.Volumes },
		func(v corev1.Volume) string { return v.Name },
		func(v corev1.Volume) corev1.Volume { return *v.DeepCopy() })
}
