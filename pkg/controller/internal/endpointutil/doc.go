// Package endpointutil holds what the Endpoints, EndpointSlice and
// EndpointSlice mirroring controllers share, as upstream's
// k8s.io/endpointslice/util does for its controllers: which pods belong in
// a Service's endpoints, how a Service port resolves on a pod, which
// Services a pod change concerns, the last-change trigger time, a set of
// slice endpoints keyed by identity, and the tracker of the slice
// generations a controller wrote (to tell a lagging cache from a change).
package endpointutil
