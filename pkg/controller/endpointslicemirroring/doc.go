// Package endpointslicemirroring implements upstream's EndpointSlice
// mirroring controller (v1.32): the Endpoints of a Service without a
// selector, written by hand, are mirrored into EndpointSlices so that
// consumers of slices (the service proxy, DNS, kubectl describe) see
// them too.
//
// An Endpoints object is mirrored while a Service of the same name exists
// and has no selector, unless it is labelled
// endpointslice.kubernetes.io/skip-mirror: "true" (the API server's own
// `kubernetes` Endpoints are) or holds a leader-election record. Its
// subsets are repacked, then every group of ports gets one slice per
// address type, holding at most MaxEndpointsPerSubset (1000) addresses;
// invalid IPs and addresses past that cap are skipped with a warning
// event on the Endpoints. Slices are named from generateName
// "<service>-", owned by the Endpoints, labelled with its labels plus
// kubernetes.io/service-name and endpointslice.kubernetes.io/managed-by:
// endpointslicemirroring-controller.k8s.io, and carry its annotations
// except the trigger time and kubectl's last-applied configuration.
// Mirrored endpoints are ready as the Endpoints say and name the
// address's target, node and hostname.
//
// When the Endpoints or the Service go, the Service gains a selector, or
// mirroring is switched off for the Endpoints, the mirrored slices are
// deleted.
package endpointslicemirroring
