// Package podutil answers the questions many parts of Flotilla ask of a
// pod's status, in one place and with upstream's meaning: is it ready
// (its Ready condition is True), has it been ready long enough to count
// as available, has it finished, is it still an active replica.
//
// Upstream keeps these in k8s.io/kubernetes/pkg/api/v1/pod and
// pkg/controller, which cannot be imported. The published copy in
// k8s.io/kubectl/pkg/util/podutils offers only IsPodReady and
// IsPodAvailable, not the condition lookup the controllers need, and
// would pull the kubectl module (kustomize, cli-runtime and more) into the
// module graph for two short functions, so they are written here.
package podutil
