// Package podpreset is the PodPreset admission plugin (upstream's, removed
// in Kubernetes 1.20): when a pod is created, every settings.k8s.io
// PodPreset of its namespace whose selector matches the pod's labels adds
// its env, envFrom and volumeMounts to each container and init container
// and its volumes to the pod, and the pod is annotated
// podpreset.admission.kubernetes.io/podpreset-<name>: "<resourceVersion>".
//
// Presets never override the pod: when an injected env var, volume or
// mount clashes with one of the same name (or mount path) but different
// content, the pod is admitted unchanged and a Warning event with reason
// PodPreset says why. Mirror pods and pods annotated
// podpreset.admission.kubernetes.io/exclude: "true" are left alone.
package podpreset
