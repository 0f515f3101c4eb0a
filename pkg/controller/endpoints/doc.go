// Package endpoints implements upstream's Endpoints controller (v1.32):
// every Service with a selector gets an Endpoints object of the same name
// listing the pods it selects.
//
// A pod is listed when it has an address and has not finished (Succeeded
// or Failed); a pod being deleted is left out unless the Service sets
// publishNotReadyAddresses. Ready pods go to addresses, others to
// notReadyAddresses (publishNotReadyAddresses lists every pod as ready).
// Each address names its pod (targetRef), node, and, when the pod's
// subdomain is the Service, its hostname. Service ports are resolved per
// pod: a named targetPort is looked up in that pod's container ports, and
// a pod without it is not listed for that port. The subsets are then
// repacked, one per group of ports with the same addresses. A headless
// Service without ports lists addresses without ports.
//
// The object carries the Service's labels plus service.kubernetes.io/headless
// for a Service without a cluster IP, the
// endpoints.kubernetes.io/last-change-trigger-time annotation, and, past
// 1000 addresses, is cut down and annotated
// endpoints.kubernetes.io/over-capacity: truncated.
//
// Services without a selector are left alone: their Endpoints are written
// by hand (and mirrored to EndpointSlices by the mirroring controller).
// ExternalName Services get none. When a Service is deleted its Endpoints
// are deleted by the next sync, which finds the Service gone; at start the
// controller looks at every Endpoints object once, so those of Services
// deleted while it did not run go too. Endpoints carry no owner
// reference, as upstream's do not.
package endpoints
