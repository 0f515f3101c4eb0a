// Package v1alpha1 is the settings.k8s.io/v1alpha1 API group: PodPreset,
// which injects environment, volumes and volume mounts into new pods.
//
// Upstream removed the group in Kubernetes 1.20 and k8s.io/api no longer
// carries it, so Flotilla defines the types here with upstream 1.19's field
// names, JSON names and protobuf field numbers, so objects written by
// clients of that API read the same. Everything generated code gave the
// upstream types is hand-written here instead: deep copies
// (zz_deepcopy.go), protobuf marshalling (protobuf.go) and OpenAPI
// descriptions (SwaggerDoc methods in types.go).
package v1alpha1
