// Package clusterdns keeps the cluster DNS reachable at its well-known
// address: the `kube-dns` Service in `kube-system` (the address pods get
// as their nameserver, by default the tenth of the service range, as in
// k3s) and its Endpoints.
//
// The DNS servers are not pods: every node agent serves DNS on its pod
// bridge's gateway address and says so in the Node annotation
// AnnotationDNSAddress once it answers. The controller lists those
// addresses as the Service's endpoints (with their node's name; ready
// while the Node is Ready), and the endpointslicemirroring controller
// turns them into EndpointSlices the Service proxies read. The Service's
// internalTrafficPolicy is Local, so a pod's queries go to the server on
// its own node and never cross the pod network.
//
// The Service is the controller's: it is recreated when deleted and its
// ports, address and policy are put back when edited, as k3s's addon
// manager does for its CoreDNS Service.
package clusterdns
