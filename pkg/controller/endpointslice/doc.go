// Package endpointslice implements upstream's EndpointSlice controller
// (v1.32): the pods a Service with a selector selects are listed in
// discovery.k8s.io/v1 EndpointSlices of at most MaxEndpointsPerSlice
// (100) endpoints each.
//
// Slices are named by the server from generateName "<service>-", carry
// the Service's labels plus kubernetes.io/service-name,
// endpointslice.kubernetes.io/managed-by: endpointslice-controller.k8s.io
// and, for a Service without a cluster IP, service.kubernetes.io/headless,
// and are owned by the Service (controller and blockOwnerDeletion), so
// the garbage collector deletes them with it. There is one group of
// slices per address type (IP family) and per set of ports: a named
// targetPort is resolved per pod, and pods that resolve the Service's
// ports differently land in different slices.
//
// Every pod with an address that has not finished is an endpoint, pods
// being deleted too: serving is the pod's readiness, terminating whether
// it is being deleted, and ready is serving and not terminating (always
// true for a Service that publishes addresses that are not ready).
// Endpoints name their pod (targetRef), node, the node's
// topology.kubernetes.io/zone and, when the pod's subdomain is the
// Service, the pod's hostname. Pods on nodes not (yet) known are left
// out and the Service is synced again later.
//
// The reconciler changes as few slices as it can, as upstream's: an
// endpoint stays in the slice it is in (updated in place when its
// conditions change), new endpoints fill slices that are written anyway,
// then the unchanged slice they fit best, and only then new slices; a
// slice to create and one to delete become one update. A Service without
// endpoints keeps one empty slice. The slices a sync wrote are tracked by
// generation: the controller's own writes do not trigger another sync, and
// a cache that has not caught up with them makes the sync wait.
package endpointslice
