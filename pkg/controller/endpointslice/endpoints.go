package endpointslice

import (
	"maps"
	"net"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flotilla-io/flotilla/pkg/controller/internal/endpointutil"
	"github.com/flotilla-io/flotilla/pkg/podutil"
)

// podEndpoint is the slice endpoint of a pod: its addresses of the
// slice's type, and the conditions as upstream sets them: serving is the
// pod's readiness, terminating whether it is being deleted, and ready is
// serving and not terminating — or always, when the Service publishes
// addresses that are not ready.
func podEndpoint(pod *corev1.Pod, node *corev1.Node, svc *corev1.Service, addrType discoveryv1.AddressType) discoveryv1.Endpoint {
	serving := podutil.IsPodReady(pod)
	terminating := pod.DeletionTimestamp != nil
	ready := svc.Spec.PublishNotReadyAddresses || (serving && !terminating)
	ep := discoveryv1.Endpoint{
		Addresses:  podAddresses(pod, addrType),
		Conditions: discoveryv1.EndpointConditions{Ready: &ready, Serving: &serving, Terminating: &terminating},
		TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
	}
	if pod.Spec.NodeName != "" {
		n := pod.Spec.NodeName
		ep.NodeName = &n
	}
	if node != nil && node.Labels[corev1.LabelTopologyZone] != "" {
		z := node.Labels[corev1.LabelTopologyZone]
		ep.Zone = &z
	}
	if endpointutil.ShouldSetHostname(pod, svc) {
		h := pod.Spec.Hostname
		ep.Hostname = &h
	}
	return ep
}

// podAddresses are the pod's IPs of one family, in canonical form.
func podAddresses(pod *corev1.Pod, addrType discoveryv1.AddressType) []string {
	ips := pod.Status.PodIPs
	if len(ips) == 0 && pod.Status.PodIP != "" {
		ips = []corev1.PodIP{{IP: pod.Status.PodIP}}
	}
	var out []string
	for _, p := range ips {
		ip := net.ParseIP(p.IP)
		if ip == nil {
			continue
		}
		if (ip.To4() == nil) == (addrType == discoveryv1.AddressTypeIPv6) {
			out = append(out, ip.String())
		}
	}
	return out
}

// endpointPorts resolves the Service's ports on one pod; a port whose
// named targetPort the pod lacks is left out, so such pods land in
// slices of their own port set. A headless Service may have none.
func endpointPorts(svc *corev1.Service, pod *corev1.Pod) []discoveryv1.EndpointPort {
	out := []discoveryv1.EndpointPort{}
	for i := range svc.Spec.Ports {
		sp := &svc.Spec.Ports[i]
		port, ok := endpointutil.FindPort(pod, sp)
		if !ok {
			continue
		}
		name, proto := sp.Name, sp.Protocol
		out = append(out, discoveryv1.EndpointPort{Name: &name, Port: &port, Protocol: &proto, AppProtocol: sp.AppProtocol})
	}
	endpointutil.SortPorts(out)
	return out
}

// addressTypes are the slice address types a Service has: one per IP
// family. Without families (which the API sets on every Service with a
// cluster IP) the cluster IP's family decides; a headless Service
// without them gets IPv4 slices — upstream gets both families then,
// expecting an old API server, but this cluster is IPv4 only.
func addressTypes(svc *corev1.Service) []discoveryv1.AddressType {
	var out []discoveryv1.AddressType
	for _, f := range svc.Spec.IPFamilies {
		switch f {
		case corev1.IPv4Protocol:
			out = append(out, discoveryv1.AddressTypeIPv4)
		case corev1.IPv6Protocol:
			out = append(out, discoveryv1.AddressTypeIPv6)
		}
	}
	if len(out) > 0 {
		return out
	}
	if endpointutil.IsServiceIPSet(svc) {
		if ip := net.ParseIP(svc.Spec.ClusterIP); ip != nil && ip.To4() == nil {
			return []discoveryv1.AddressType{discoveryv1.AddressTypeIPv6}
		}
	}
	return []discoveryv1.AddressType{discoveryv1.AddressTypeIPv4}
}

// isReservedLabel: labels the controller sets itself, never copied from
// the Service.
func isReservedLabel(k string) bool {
	return k == discoveryv1.LabelServiceName || k == discoveryv1.LabelManagedBy || k == corev1.IsHeadlessService
}

// sliceLabels are a slice's labels: the Service's (less the reserved
// ones), the headless label for a Service without a cluster IP, the
// Service name and the manager. changed says whether the Service's
// labels differ from those on the slice.
func sliceLabels(s *discoveryv1.EndpointSlice, svc *corev1.Service) (map[string]string, bool) {
	have, want := map[string]string{}, map[string]string{}
	for k, v := range s.Labels {
		if !isReservedLabel(k) {
			have[k] = v
		}
	}
	for k, v := range svc.Labels {
		if !isReservedLabel(k) {
			want[k] = v
		}
	}
	changed := !maps.Equal(have, want)
	if !endpointutil.IsServiceIPSet(svc) {
		want[corev1.IsHeadlessService] = ""
	}
	want[discoveryv1.LabelServiceName] = svc.Name
	want[discoveryv1.LabelManagedBy] = ControllerName
	return want, changed
}

// newSlice is an empty slice of the Service for one port set, named by
// the server from generateName and owned by the Service.
func newSlice(svc *corev1.Service, ports []discoveryv1.EndpointPort, addrType discoveryv1.AddressType) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName:    endpointutil.SlicePrefix(svc.Name),
			Namespace:       svc.Namespace,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(svc, corev1.SchemeGroupVersion.WithKind("Service"))},
		},
		AddressType: addrType,
		Ports:       ports,
		Endpoints:   []discoveryv1.Endpoint{},
	}
	s.Labels, _ = sliceLabels(s, svc)
	return s
}

// ownedBy says whether the slice's owner is this very Service (not an
// earlier one of the same name).
func ownedBy(s *discoveryv1.EndpointSlice, svc *corev1.Service) bool {
	for _, o := range s.OwnerReferences {
		if o.UID == svc.UID && o.Kind == "Service" && o.APIVersion == "v1" {
			return true
		}
	}
	return false
}
