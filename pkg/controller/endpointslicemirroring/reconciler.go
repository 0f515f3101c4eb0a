package endpointslicemirroring

import (
	"context"
	"fmt"
	"maps"
	"net"
	"sort"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/flotilla-io/flotilla/pkg/controller/internal/endpointutil"
	"github.com/flotilla-io/flotilla/pkg/eventrecorder"
)

// Event reasons, as upstream's.
const (
	reasonInvalidIP   = "InvalidIPAddress"
	reasonTooManyAddr = "TooManyAddressesToMirror"
)

type reconciler struct {
	client   kubernetes.Interface
	max      int
	tracker  *endpointutil.SliceTracker
	recorder eventrecorder.Recorder
}

// group is what one (address type, port set) of the Endpoints becomes:
// one slice.
type group struct {
	addrType  discoveryv1.AddressType
	ports     []discoveryv1.EndpointPort
	endpoints endpointutil.EndpointSet
}

func groupKey(t discoveryv1.AddressType, ports []discoveryv1.EndpointPort) string {
	return string(t) + "-" + endpointutil.PortsKey(ports)
}

type changes struct {
	create, update, delete []*discoveryv1.EndpointSlice
}

func (r *reconciler) reconcile(ctx context.Context, ep *corev1.Endpoints, existing []*discoveryv1.EndpointSlice) error {
	desired := map[string]*group{}
	var keys []string
	invalid, skipped := 0, 0
	for _, ss := range endpointutil.Repack(ep.Subsets) {
		ports := slicePorts(ss.Ports)
		// Both families get a group, so that a family whose addresses
		// went loses its slice.
		byType := map[discoveryv1.AddressType]*group{}
		for _, t := range []discoveryv1.AddressType{discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6} {
			k := groupKey(t, ports)
			if desired[k] == nil {
				desired[k] = &group{addrType: t, ports: ports, endpoints: endpointutil.EndpointSet{}}
				keys = append(keys, k)
			}
			byType[t] = desired[k]
		}
		added := 0
		add := func(addrs []corev1.EndpointAddress, ready bool) {
			for i := range addrs {
				if added >= r.max {
					return
				}
				t, ok := addressType(addrs[i].IP)
				if !ok {
					invalid++
					continue
				}
				byType[t].endpoints.Insert(addressEndpoint(&addrs[i], ready))
				added++
			}
		}
		add(ss.Addresses, true)
		add(ss.NotReadyAddresses, false)
		skipped += len(ss.Addresses) + len(ss.NotReadyAddresses) - added
	}
	if invalid > 0 {
		r.recorder.Eventf(ep, corev1.EventTypeWarning, reasonInvalidIP, "Skipped %d invalid IP addresses when mirroring to EndpointSlices", invalid)
	}
	if skipped > invalid {
		r.recorder.Eventf(ep, corev1.EventTypeWarning, reasonTooManyAddr, "A max of %d addresses can be mirrored to EndpointSlices per Endpoints subset. %d addresses were skipped", r.max, skipped)
	}

	byKey := map[string][]*discoveryv1.EndpointSlice{}
	for _, s := range existing {
		k := groupKey(s.AddressType, s.Ports)
		byKey[k] = append(byKey[k], s)
	}
	ch := &changes{}
	for _, k := range keys {
		r.planGroup(ep, byKey[k], desired[k], ch)
	}
	existingKeys := make([]string, 0, len(byKey))
	for k := range byKey {
		existingKeys = append(existingKeys, k)
	}
	sort.Strings(existingKeys)
	for _, k := range existingKeys {
		if desired[k] == nil {
			ch.delete = append(ch.delete, byKey[k]...)
		}
	}
	return r.finalize(ctx, ep, ch)
}

// planGroup keeps one slice per group: the first existing one, rewritten
// when anything about it differs; the others go.
func (r *reconciler) planGroup(ep *corev1.Endpoints, existing []*discoveryv1.EndpointSlice, g *group, ch *changes) {
	if len(g.endpoints) == 0 {
		ch.delete = append(ch.delete, existing...)
		return
	}
	name := ""
	if len(existing) > 0 {
		ch.delete = append(ch.delete, existing[1:]...)
		first := existing[0]
		if upToDate(ep, first, g) {
			if !r.tracker.Has(first) {
				r.tracker.Update(first) // track every slice kept
			}
			return
		}
		name = first.Name
	}
	s := newSlice(ep, g.ports, g.addrType, name)
	for _, e := range g.endpoints.Sorted() {
		if len(s.Endpoints) >= r.max {
			break
		}
		s.Endpoints = append(s.Endpoints, *e)
	}
	if name != "" {
		ch.update = append(ch.update, s)
	} else {
		ch.create = append(ch.create, s)
	}
}

// upToDate says whether a mirrored slice already shows the group, the
// Endpoints' labels and annotations, and the Endpoints as its owner.
func upToDate(ep *corev1.Endpoints, s *discoveryv1.EndpointSlice, g *group) bool {
	if len(s.Endpoints) != len(g.endpoints) {
		return false
	}
	for i := range s.Endpoints {
		want := g.endpoints.Get(&s.Endpoints[i])
		if want == nil || !endpointutil.EndpointsEqualBeyondKey(want, &s.Endpoints[i]) {
			return false
		}
	}
	for _, o := range s.OwnerReferences {
		if o.Kind == "Endpoints" && o.Name == ep.Name && o.UID != ep.UID {
			return false // an earlier Endpoints of the same name
		}
	}
	haveLabels := maps.Clone(s.Labels)
	delete(haveLabels, discoveryv1.LabelManagedBy)
	delete(haveLabels, discoveryv1.LabelServiceName)
	return apiequality.Semantic.DeepEqual(ep.Labels, haveLabels) &&
		apiequality.Semantic.DeepEqual(mirroredAnnotations(ep), s.Annotations)
}

// mirroredAnnotations are the Endpoints' annotations a slice carries.
func mirroredAnnotations(ep *corev1.Endpoints) map[string]string {
	out := maps.Clone(ep.Annotations)
	delete(out, corev1.EndpointsLastChangeTriggerTime)
	delete(out, corev1.LastAppliedConfigAnnotation)
	return out
}

func newSlice(ep *corev1.Endpoints, ports []discoveryv1.EndpointPort, t discoveryv1.AddressType, name string) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Name:            name,
			Namespace:       ep.Namespace,
			Labels:          map[string]string{},
			Annotations:     mirroredAnnotations(ep),
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(ep, corev1.SchemeGroupVersion.WithKind("Endpoints"))},
		},
		AddressType: t,
		Ports:       ports,
		Endpoints:   []discoveryv1.Endpoint{},
	}
	if s.Annotations == nil {
		s.Annotations = map[string]string{}
	}
	maps.Copy(s.Labels, ep.Labels)
	s.Labels[discoveryv1.LabelServiceName] = ep.Name
	s.Labels[discoveryv1.LabelManagedBy] = ControllerName
	if name == "" {
		s.GenerateName = endpointutil.SlicePrefix(ep.Name)
	}
	return s
}

func slicePorts(ports []corev1.EndpointPort) []discoveryv1.EndpointPort {
	out := make([]discoveryv1.EndpointPort, 0, len(ports))
	for _, p := range ports {
		name, port, proto := p.Name, p.Port, p.Protocol
		out = append(out, discoveryv1.EndpointPort{Name: &name, Port: &port, Protocol: &proto, AppProtocol: p.AppProtocol})
	}
	endpointutil.SortPorts(out)
	return out
}

func addressType(ip string) (discoveryv1.AddressType, bool) {
	parsed := net.ParseIP(ip)
	switch {
	case parsed == nil:
		return "", false
	case parsed.To4() == nil:
		return discoveryv1.AddressTypeIPv6, true
	default:
		return discoveryv1.AddressTypeIPv4, true
	}
}

func addressEndpoint(a *corev1.EndpointAddress, ready bool) *discoveryv1.Endpoint {
	e := &discoveryv1.Endpoint{
		Addresses:  []string{a.IP},
		Conditions: discoveryv1.EndpointConditions{Ready: &ready},
		TargetRef:  a.TargetRef,
		NodeName:   a.NodeName,
	}
	if a.Hostname != "" {
		h := a.Hostname
		e.Hostname = &h
	}
	return e
}

// finalize writes the plan; a create and a delete of the same address
// type become one update.
func (r *reconciler) finalize(ctx context.Context, ep *corev1.Endpoints, ch *changes) error {
	for i := 0; i < len(ch.create); {
		j := -1
		for k, d := range ch.delete {
			if d.AddressType == ch.create[i].AddressType {
				j = k
				break
			}
		}
		if j < 0 {
			i++
			continue
		}
		s := ch.create[i]
		s.Name, s.GenerateName = ch.delete[j].Name, ""
		ch.update = append(ch.update, s)
		ch.create = append(ch.create[:i], ch.create[i+1:]...)
		ch.delete = append(ch.delete[:j], ch.delete[j+1:]...)
	}
	api := r.client.DiscoveryV1().EndpointSlices(ep.Namespace)
	if ep.DeletionTimestamp == nil {
		for _, s := range ch.create {
			created, err := api.Create(ctx, s, metav1.CreateOptions{})
			if err != nil {
				if apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
					return nil
				}
				return fmt.Errorf("create mirrored slice for endpoints %s/%s: %w", ep.Namespace, ep.Name, err)
			}
			r.tracker.Update(created)
		}
	}
	for _, s := range ch.update {
		updated, err := api.Update(ctx, s, metav1.UpdateOptions{})
		if err != nil {
			return fmt.Errorf("update mirrored slice %s for endpoints %s/%s: %w", s.Name, ep.Namespace, ep.Name, err)
		}
		r.tracker.Update(updated)
	}
	for _, s := range ch.delete {
		if err := api.Delete(ctx, s.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete mirrored slice %s for endpoints %s/%s: %w", s.Name, ep.Namespace, ep.Name, err)
		}
		r.tracker.ExpectDeletion(s)
	}
	return nil
}
