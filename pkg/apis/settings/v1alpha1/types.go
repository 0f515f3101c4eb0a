package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// PodPreset is a policy resource that defines additional runtime
// requirements for a Pod.
type PodPreset struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty" protobuf:"bytes,1,opt,name=metadata"`

	// +optional
	Spec PodPresetSpec `json:"spec,omitempty" protobuf:"bytes,2,opt,name=spec"`
}

// PodPresetSpec is a description of a pod preset.
type PodPresetSpec struct {
	// Selector is a label query over a set of resources, in this case pods.
	// Required.
	Selector metav1.LabelSelector `json:"selector,omitempty" protobuf:"bytes,1,opt,name=selector"`
	// Env defines the collection of EnvVar to inject into containers.
	// +optional
	Env []corev1.EnvVar `json:"env,omitempty" protobuf:"bytes,2,rep,name=env"`
	// EnvFrom defines the collection of EnvFromSource to inject into containers.
	// +optional
	EnvFrom []corev1.EnvFromSource `json:"envFrom,omitempty" protobuf:"bytes,3,rep,name=envFrom"`
	// Volumes defines the collection of Volume to inject into the pod.
	// +optional
	Volumes []corev1.Volume `json:"volumes,omitempty" protobuf:"bytes,4,rep,name=volumes"`
	// VolumeMounts defines the collection of VolumeMount to inject into containers.
	// +optional
	VolumeMounts []corev1.VolumeMount `json:"volumeMounts,omitempty" protobuf:"bytes,5,rep,name=volumeMounts"`
}

// PodPresetList is a list of PodPreset objects.
type PodPresetList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitempty" protobuf:"bytes,1,opt,name=metadata"`

	// Items is a list of schema objects.
	Items []PodPreset `json:"items" protobuf:"bytes,2,rep,name=items"`
}

// The OpenAPI definitions carry upstream's names, so that clients that
// knew the group find the same schema names.
const modelPrefix = "io.k8s.api.settings.v1alpha1."

// OpenAPIModelName is the name of PodPreset's OpenAPI definition.
func (PodPreset) OpenAPIModelName() string { return modelPrefix + "PodPreset" }

// OpenAPIModelName is the name of PodPresetSpec's OpenAPI definition.
func (PodPresetSpec) OpenAPIModelName() string { return modelPrefix + "PodPresetSpec" }

// OpenAPIModelName is the name of PodPresetList's OpenAPI definition.
func (PodPresetList) OpenAPIModelName() string { return modelPrefix + "PodPresetList" }

// SwaggerDoc describes PodPreset's fields for `kubectl explain`.
func (PodPreset) SwaggerDoc() map[string]string {
	return map[string]string{
		"":         "PodPreset is a policy resource that defines additional runtime requirements for a Pod.",
		"metadata": "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata",
	}
}

// SwaggerDoc describes PodPresetSpec's fields for `kubectl explain`.
func (PodPresetSpec) SwaggerDoc() map[string]string {
	return map[string]string{
		"":             "PodPresetSpec is a description of a pod preset.",
		"selector":     "Selector is a label query over a set of resources, in this case pods. Required.",
		"env":          "Env defines the collection of EnvVar to inject into containers.",
		"envFrom":      "EnvFrom defines the collection of EnvFromSource to inject into containers.",
		"volumes":      "Volumes defines the collection of Volume to inject into the pod.",
		"volumeMounts": "VolumeMounts defines the collection of VolumeMount to inject into containers.",
	}
}

// SwaggerDoc describes PodPresetList's fields for `kubectl explain`.
func (PodPresetList) SwaggerDoc() map[string]string {
	return map[string]string{
		"":         "PodPresetList is a list of PodPreset objects.",
		"metadata": "Standard list metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata",
		"items":    "Items is a list of schema objects.",
	}
}
