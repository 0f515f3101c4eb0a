package dns

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/client-go/informers"
	listersv1 "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
)

// Indexer names, distinct from other components' so that they can add
// their own to the same shared informers.
const (
	indexSliceService = "flotilla-dns/service" // "<ns>/<service>" of a slice
	indexSliceAddress = "flotilla-dns/address" // each endpoint address of a slice
	indexServiceIP    = "flotilla-dns/cluster-ip"
)

// store is the server's read-only view of the caches.
type store struct {
	services  listersv1.ServiceLister
	svcIndex  cache.Indexer
	sliceIdx  cache.Indexer
	hasSynced []cache.InformerSynced
}

func newStore(f informers.SharedInformerFactory) (*store, error) {
	svcInf := f.Core().V1().Services()
	sliceInf := f.Discovery().V1().EndpointSlices()
	// AddIndexers fails once an informer runs: the caller must build the
	// server before starting the factory.
	if err := svcInf.Informer().AddIndexers(cache.Indexers{indexServiceIP: serviceIPs}); err != nil {
		return nil, fmt.Errorf("dns: index Services by cluster IP: %w", err)
	}
	if err := sliceInf.Informer().AddIndexers(cache.Indexers{
		indexSliceService: sliceService,
		indexSliceAddress: sliceAddresses,
	}); err != nil {
		return nil, fmt.Errorf("dns: index EndpointSlices: %w", err)
	}
	return &store{
		services:  svcInf.Lister(),
		svcIndex:  svcInf.Informer().GetIndexer(),
		sliceIdx:  sliceInf.Informer().GetIndexer(),
		hasSynced: []cache.InformerSynced{svcInf.Informer().HasSynced, sliceInf.Informer().HasSynced},
	}, nil
}

func serviceIPs(obj any) ([]string, error) {
	svc, ok := obj.(*corev1.Service)
	if !ok {
		return nil, nil
	}
	var out []string
	for _, s := range clusterIPs(svc) {
		if a, err := netip.ParseAddr(s); err == nil {
			out = append(out, a.Unmap().String())
		}
	}
	return out, nil
}

func clusterIPs(svc *corev1.Service) []string {
	if len(svc.Spec.ClusterIPs) > 0 {
		return svc.Spec.ClusterIPs
	}
	if svc.Spec.ClusterIP != "" {
		return []string{svc.Spec.ClusterIP}
	}
	return nil
}

func sliceService(obj any) ([]string, error) {
	s, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok {
		return nil, nil
	}
	name := s.Labels[discoveryv1.LabelServiceName]
	if name == "" {
		return nil, nil
	}
	return []string{s.Namespace + "/" + name}, nil
}

func sliceAddresses(obj any) ([]string, error) {
	s, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok || s.Labels[discoveryv1.LabelServiceName] == "" {
		return nil, nil
	}
	var out []string
	for _, ep := range s.Endpoints {
		for _, a := range ep.Addresses {
			if ip, err := netip.ParseAddr(a); err == nil {
				out = append(out, ip.Unmap().String())
			}
		}
	}
	return out, nil
}

// service returns the Service ns/name, nil when there is none.
func (s *store) service(ns, name string) *corev1.Service {
	svc, err := s.services.Services(ns).Get(name)
	if err != nil {
		return nil
	}
	return svc
}

// namespaceHasServices tells whether <ns>.svc.<zone> has names below it.
func (s *store) namespaceHasServices(ns string) bool {
	objs, err := s.svcIndex.ByIndex(cache.NamespaceIndex, ns)
	return err == nil && len(objs) > 0
}

// servicesByIP returns the Services with addr among their cluster IPs.
func (s *store) servicesByIP(addr netip.Addr) []*corev1.Service {
	objs, _ := s.svcIndex.ByIndex(indexServiceIP, addr.String())
	out := make([]*corev1.Service, 0, len(objs))
	for _, o := range objs {
		if svc, ok := o.(*corev1.Service); ok {
			out = append(out, svc)
		}
	}
	return out
}

// slicesOf returns the EndpointSlices of a Service, in a stable order so
// that answers do not reshuffle between queries for no reason.
func (s *store) slicesOf(svc *corev1.Service) []*discoveryv1.EndpointSlice {
	objs, _ := s.sliceIdx.ByIndex(indexSliceService, svc.Namespace+"/"+svc.Name)
	return toSlices(objs)
}

// slicesByIP returns the EndpointSlices holding addr.
func (s *store) slicesByIP(addr netip.Addr) []*discoveryv1.EndpointSlice {
	objs, _ := s.sliceIdx.ByIndex(indexSliceAddress, addr.String())
	return toSlices(objs)
}

func toSlices(objs []any) []*discoveryv1.EndpointSlice {
	out := make([]*discoveryv1.EndpointSlice, 0, len(objs))
	for _, o := range objs {
		if sl, ok := o.(*discoveryv1.EndpointSlice); ok {
			out = append(out, sl)
		}
	}
	slices.SortFunc(out, func(a, b *discoveryv1.EndpointSlice) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// endpoint is one address of a Service's endpoints as DNS sees it.
type endpoint struct {
	addr netip.Addr
	// label names the endpoint under its Service: its hostname, or its
	// address with dashes when it has none (as CoreDNS).
	label string
	slice *discoveryv1.EndpointSlice
}

// serves tells whether an endpoint is published: ready (an unknown
// condition counts as ready, as the API documents), or any endpoint when
// the Service publishes not-ready addresses.
func serves(svc *corev1.Service, ep *discoveryv1.Endpoint) bool {
	return svc.Spec.PublishNotReadyAddresses || ep.Conditions.Ready == nil || *ep.Conditions.Ready
}

// endpoints returns the published addresses of svc, each address once
// (a controller moving endpoints between slices may briefly list it twice).
func (s *store) endpoints(svc *corev1.Service) []endpoint {
	var out []endpoint
	seen := map[netip.Addr]bool{}
	for _, sl := range s.slicesOf(svc) {
		if sl.AddressType != discoveryv1.AddressTypeIPv4 && sl.AddressType != discoveryv1.AddressTypeIPv6 {
			continue
		}
		for i := range sl.Endpoints {
			ep := &sl.Endpoints[i]
			if !serves(svc, ep) {
				continue
			}
			for _, a := range ep.Addresses {
				ip, err := netip.ParseAddr(a)
				if err != nil || seen[ip.Unmap()] {
					continue
				}
				ip = ip.Unmap()
				seen[ip] = true
				out = append(out, endpoint{addr: ip, label: endpointLabel(ep, ip), slice: sl})
			}
		}
	}
	return out
}

func endpointLabel(ep *discoveryv1.Endpoint, ip netip.Addr) string {
	if ep.Hostname != nil && *ep.Hostname != "" {
		return strings.ToLower(*ep.Hostname)
	}
	return dashed(ip)
}

// dashed writes an address as one DNS label: dots (IPv4) or colons
// (IPv6) replaced by dashes.
func dashed(ip netip.Addr) string {
	if ip.Is4() {
		return strings.ReplaceAll(ip.String(), ".", "-")
	}
	return strings.ReplaceAll(ip.String(), ":", "-")
}

func isHeadless(svc *corev1.Service) bool {
	return svc.Spec.Type != corev1.ServiceTypeExternalName && svc.Spec.ClusterIP == corev1.ClusterIPNone
}
