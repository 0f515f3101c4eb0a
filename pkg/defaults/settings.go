package defaults

import (
	"k8s.io/utils/ptr"

	settingsv1alpha1 "github.com/flotilla-io/flotilla/pkg/apis/settings/v1alpha1"
)

// podPreset defaults what a preset injects as a pod's own env and
// volumes are defaulted, as upstream's generated defaulters did, so the
// injected entries compare equal to those a pod states itself.
func podPreset(p *settingsv1alpha1.PodPreset) {
	for i := range p.Spec.Env {
		if vf := p.Spec.Env[i].ValueFrom; vf != nil {
			fieldSelector(vf.FieldRef)
			if vf.FileKeyRef != nil && vf.FileKeyRef.Optional == nil {
				vf.FileKeyRef.Optional = ptr.To(false)
			}
		}
	}
	for i := range p.Spec.Volumes {
		volume(&p.Spec.Volumes[i])
	}
}
