package validation

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	settingsv1alpha1 "github.com/flotilla-io/flotilla/pkg/apis/settings/v1alpha1"
)

func validPodPreset() *settingsv1alpha1.PodPreset {
	return &settingsv1alpha1.PodPreset{
		ObjectMeta: metav1.ObjectMeta{Name: "allow-database", Namespace: "default"},
		Spec: settingsv1alpha1.PodPresetSpec{
			Selector:     metav1.LabelSelector{MatchLabels: map[string]string{"role": "frontend"}},
			Env:          []corev1.EnvVar{{Name: "DB_PORT", Value: "6379"}},
			EnvFrom:      []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cm"}}}},
			Volumes:      []corev1.Volume{{Name: "cache-volume", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
			VolumeMounts: []corev1.VolumeMount{{Name: "cache-volume", MountPath: "/cache"}},
		},
	}
}

// Upstream 1.19's PodPreset rules, with its field paths.
func TestPodPreset(t *testing.T) {
	t.Parallel()
	if errs := ValidateCreate(validPodPreset()); len(errs) > 0 {
		t.Fatalf("valid preset: %v", errs)
	}
	// Only a selector and env is enough.
	envOnly := validPodPreset()
	envOnly.Spec.EnvFrom, envOnly.Spec.Volumes, envOnly.Spec.VolumeMounts = nil, nil, nil
	if errs := ValidateCreate(envOnly); len(errs) > 0 {
		t.Fatalf("env-only preset: %v", errs)
	}
	tests := []struct {
		name string
		edit func(*settingsv1alpha1.PodPreset)
		want string
	}{
		{"name", func(p *settingsv1alpha1.PodPreset) { p.Name = "Bad_Name" }, `metadata.name: Invalid value: "Bad_Name"`},
		{"namespace", func(p *settingsv1alpha1.PodPreset) { p.Namespace = "" }, "metadata.namespace: Required value"},
		{"nothing to inject", func(p *settingsv1alpha1.PodPreset) {
			p.Spec.Env, p.Spec.EnvFrom, p.Spec.Volumes, p.Spec.VolumeMounts = nil, nil, nil, nil
		}, "spec.volumes.env.envFrom.volumeMounts: Required value: must specify at least one"},
		{"selector", func(p *settingsv1alpha1.PodPreset) { p.Spec.Selector.MatchLabels = map[string]string{"a b": "c"} }, `spec.selector.matchLabels: Invalid value: "a b"`},
		{"env name", func(p *settingsv1alpha1.PodPreset) { p.Spec.Env[0].Name = "" }, "spec.env[0].name: Required value"},
		{"env source", func(p *settingsv1alpha1.PodPreset) { p.Spec.Env[0].ValueFrom = &corev1.EnvVarSource{} }, "spec.env[0].valueFrom: Invalid value"},
		{"envFrom", func(p *settingsv1alpha1.PodPreset) { p.Spec.EnvFrom[0].ConfigMapRef = nil }, "spec.envFrom[0]: Invalid value: \"\": must specify one of: `configMapRef` or `secretRef`"},
		{"volume name", func(p *settingsv1alpha1.PodPreset) { p.Spec.Volumes[0].Name = "" }, "spec.volumes[0].name: Required value"},
		{"volume source", func(p *settingsv1alpha1.PodPreset) { p.Spec.Volumes[0].EmptyDir = nil }, "spec.volumes[0]"},
		{"mount of another volume", func(p *settingsv1alpha1.PodPreset) { p.Spec.VolumeMounts[0].Name = "other" }, `spec.volumeMounts[0].name: Not found: "other"`},
		{"mount path", func(p *settingsv1alpha1.PodPreset) { p.Spec.VolumeMounts[0].MountPath = "" }, "spec.volumeMounts[0].mountPath: Required value"},
	}
	for _, tc := range tests {
		p := validPodPreset()
		tc.edit(p)
		errs := ValidateCreate(p)
		if !strings.Contains(errs.ToAggregate().Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.name, errs, tc.want)
		}
		// An update is held to the same spec rules.
		if tc.name == "name" || tc.name == "namespace" {
			continue
		}
		old := validPodPreset()
		old.ResourceVersion, p.ResourceVersion = "1", "1"
		if errs := ValidateUpdate(p, old); !strings.Contains(errs.ToAggregate().Error(), tc.want) {
			t.Errorf("%s update: got %v, want %q", tc.name, errs, tc.want)
		}
	}
}
