package registry

import (
	"k8s.io/apimachinery/pkg/runtime"

	settingsv1alpha1 "github.com/flotilla-io/flotilla/pkg/apis/settings/v1alpha1"
)

// settingsResources serves settings.k8s.io/v1alpha1 PodPresets, which
// upstream served until 1.19: namespaced, no status, no generation; the
// PodPreset admission plugin reads them when pods are created.
func settingsResources(add func(*Resource, string) *Resource) {
	pp := &Resource{
		Group: settingsv1alpha1.GroupName, Version: "v1alpha1",
		Plural: "podpresets", Singular: "podpreset", Kind: "PodPreset", Namespaced: true,
		New:     func() runtime.Object { return &settingsv1alpha1.PodPreset{} },
		NewList: func() runtime.Object { return &settingsv1alpha1.PodPresetList{} },
	}
	add(pp, "podpresets")
}

// AddKinds registers with s the kinds served here that k8s.io/api no
// longer defines (settings.k8s.io/v1alpha1), so the server decodes,
// encodes and converts them like every other kind.
func AddKinds(s *runtime.Scheme) error { return settingsv1alpha1.AddToScheme(s) }
