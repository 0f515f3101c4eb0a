package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// Hand-written deep copies (upstream generated them with deepcopy-gen);
// the nested k8s.io/api types bring their own.

// DeepCopyInto copies p into out.
func (p *PodPreset) DeepCopyInto(out *PodPreset) {
	*out = *p
	out.TypeMeta = p.TypeMeta
	p.ObjectMeta.DeepCopyInto(&out.ObjectMeta)
	p.Spec.DeepCopyInto(&out.Spec)
}

// DeepCopy returns a copy of p.
func (p *PodPreset) DeepCopy() *PodPreset {
	if p == nil {
		return nil
	}
	out := new(PodPreset)
	p.DeepCopyInto(out)
	return out
}

// DeepCopyObject implements runtime.Object.
func (p *PodPreset) DeepCopyObject() runtime.Object {
	if c := p.DeepCopy(); c != nil {
		return c
	}
	return nil
}

// DeepCopyInto copies s into out.
func (s *PodPresetSpec) DeepCopyInto(out *PodPresetSpec) {
	*out = *s
	s.Selector.DeepCopyInto(&out.Selector)
	out.Env = copyEach(s.Env, (*corev1.EnvVar).DeepCopyInto)
	out.EnvFrom = copyEach(s.EnvFrom, (*corev1.EnvFromSource).DeepCopyInto)
	out.Volumes = copyEach(s.Volumes, (*corev1.Volume).DeepCopyInto)
	out.VolumeMounts = copyEach(s.VolumeMounts, (*corev1.VolumeMount).DeepCopyInto)
}

// DeepCopy returns a copy of s.
func (s *PodPresetSpec) DeepCopy() *PodPresetSpec {
	if s == nil {
		return nil
	}
	out := new(PodPresetSpec)
	s.DeepCopyInto(out)
	return out
}

// DeepCopyInto copies l into out.
func (l *PodPresetList) DeepCopyInto(out *PodPresetList) {
	*out = *l
	out.TypeMeta = l.TypeMeta
	l.ListMeta.DeepCopyInto(&out.ListMeta)
	out.Items = copyEach(l.Items, (*PodPreset).DeepCopyInto)
}

// DeepCopy returns a copy of l.
func (l *PodPresetList) DeepCopy() *PodPresetList {
	if l == nil {
		return nil
	}
	out := new(PodPresetList)
	l.DeepCopyInto(out)
	return out
}

// DeepCopyObject implements runtime.Object.
func (l *PodPresetList) DeepCopyObject() runtime.Object {
	if c := l.DeepCopy(); c != nil {
		return c
	}
	return nil
}

// copyEach deep-copies a slice, keeping nil as nil (and empty as empty,
// which JSON tells apart from a missing list).
func copyEach[T any](in []T, deepCopyInto func(*T, *T)) []T {
	if in == nil {
		return nil
	}
	out := make([]T, len(in))
	for i := range in {
		deepCopyInto(&in[i], &out[i])
	}
	return out
}
