package endpointslice

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	listersv1 "k8s.io/client-go/listers/core/v1"

	"github.com/flotilla-io/flotilla/pkg/controller/internal/endpointutil"
)

// reconciler turns a Service's pods and its current slices into slice
// writes, changing as few slices as it can, as upstream's reconciler.
type reconciler struct {
	client  kubernetes.Interface
	nodes   listersv1.NodeLister
	max     int
	tracker *endpointutil.SliceTracker
}

// changes are the slice writes one reconcile decided on.
type changes struct {
	create, update, delete []*discoveryv1.EndpointSlice
}

func (r *reconciler) reconcile(ctx context.Context, svc *corev1.Service, pods []*corev1.Pod, existing []*discoveryv1.EndpointSlice, trigger time.Time) error {
	types := addressTypes(svc)
	byType := map[discoveryv1.AddressType][]*discoveryv1.EndpointSlice{}
	var gone []*discoveryv1.EndpointSlice // of an address type the Service no longer has
	for _, s := range existing {
		if containsType(types, s.AddressType) {
			byType[s.AddressType] = append(byType[s.AddressType], s)
		} else {
			gone = append(gone, s)
		}
	}
	var errs []error
	for _, t := range types {
		ch, err := r.plan(svc, pods, byType[t], t)
		if err != nil {
			errs = append(errs, err)
			if ch == nil {
				continue
			}
		}
		if err := r.finalize(ctx, svc, ch, trigger); err != nil {
			errs = append(errs, err)
		}
	}
	for _, s := range gone {
		if err := r.delete(ctx, s); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func containsType(types []discoveryv1.AddressType, t discoveryv1.AddressType) bool {
	for _, x := range types {
		if x == t {
			return true
		}
	}
	return false
}

// plan decides the writes for one address type. Pods on nodes the cache
// does not know are left out (unless the Service publishes all
// addresses) and reported in the error, so that the Service is synced
// again; the other changes are still made.
func (r *reconciler) plan(svc *corev1.Service, pods []*corev1.Pod, existing []*discoveryv1.EndpointSlice, addrType discoveryv1.AddressType) (*changes, error) {
	ch := &changes{}
	owned := map[string][]*discoveryv1.EndpointSlice{}
	for _, s := range existing {
		if ownedBy(s, svc) {
			k := endpointutil.PortsKey(s.Ports)
			owned[k] = append(owned[k], s)
		} else {
			ch.delete = append(ch.delete, s) // an earlier Service's
		}
	}
	desired := map[string]endpointutil.EndpointSet{}
	desiredPorts := map[string][]discoveryv1.EndpointPort{}
	var keys []string // in first-seen order, for stable results
	var errs []error
	for _, pod := range pods {
		if !endpointutil.ShouldPodBeInEndpoints(pod, true) {
			continue
		}
		ports := endpointPorts(svc, pod)
		k := endpointutil.PortsKey(ports)
		if desired[k] == nil {
			desired[k], desiredPorts[k] = endpointutil.EndpointSet{}, ports
			keys = append(keys, k)
		}
		node, err := r.nodes.Get(pod.Spec.NodeName)
		if err != nil {
			if !apierrors.IsNotFound(err) {
				return nil, err
			}
			if !svc.Spec.PublishNotReadyAddresses {
				errs = append(errs, fmt.Errorf("skipping pod %s for service %s/%s: node %s not found", pod.Name, svc.Namespace, svc.Name, pod.Spec.NodeName))
				continue
			}
			node = nil
		}
		ep := podEndpoint(pod, node, svc, addrType)
		if len(ep.Addresses) > 0 {
			desired[k].Insert(&ep)
		}
	}
	for _, k := range keys {
		c, u, d := r.planPorts(svc, owned[k], desired[k], desiredPorts[k], addrType)
		ch.create, ch.update, ch.delete = append(ch.create, c...), append(ch.update, u...), append(ch.delete, d...)
	}
	ownedKeys := make([]string, 0, len(owned))
	for k := range owned {
		ownedKeys = append(ownedKeys, k)
	}
	sort.Strings(ownedKeys)
	for _, k := range ownedKeys {
		if desired[k] == nil {
			ch.delete = append(ch.delete, owned[k]...)
		}
	}
	// A Service without endpoints keeps one empty slice, so that its
	// consumers can tell "no endpoints" from "not processed yet".
	if len(existing) == len(ch.delete) && len(ch.create) == 0 {
		placeholder := newSlice(svc, []discoveryv1.EndpointPort{}, addrType)
		if len(ch.delete) == 1 && samePlaceholder(ch.delete[0], placeholder) {
			ch.delete = nil
		} else {
			ch.create = append(ch.create, placeholder)
		}
	}
	return ch, errors.Join(errs...)
}

// samePlaceholder says whether an existing slice already is the
// placeholder the Service needs.
func samePlaceholder(s, placeholder *discoveryv1.EndpointSlice) bool {
	return s.Namespace == placeholder.Namespace && maps.Equal(s.Labels, placeholder.Labels) &&
		s.AddressType == placeholder.AddressType && len(s.Endpoints) == 0 && len(s.Ports) == 0
}

// planPorts fits the desired endpoints of one port set into the existing
// slices of that set: first the endpoints already in a slice stay there
// (updated in place when their conditions changed, dropped when no
// longer desired), then the new ones fill the slices being updated
// anyway, fullest first, then the one unchanged slice they fit best, and
// only then new slices.
func (r *reconciler) planPorts(svc *corev1.Service, existing []*discoveryv1.EndpointSlice, desired endpointutil.EndpointSet, ports []discoveryv1.EndpointPort, addrType discoveryv1.AddressType) (create, update, remove []*discoveryv1.EndpointSlice) {
	var toUpdate, unchanged []*discoveryv1.EndpointSlice
	for _, s := range existing {
		kept := []discoveryv1.Endpoint{}
		changed := false
		for i := range s.Endpoints {
			ep := &s.Endpoints[i]
			want := desired.Get(ep)
			if want == nil {
				continue
			}
			kept = append(kept, *want)
			if !endpointutil.EndpointsEqualBeyondKey(want, ep) {
				changed = true
			}
			desired.Delete(ep)
		}
		labels, labelsChanged := sliceLabels(s, svc)
		switch {
		case changed || len(kept) != len(s.Endpoints):
			if len(kept) == 0 {
				remove = append(remove, s)
				continue
			}
			c := s.DeepCopy()
			c.Endpoints, c.Labels = kept, labels
			toUpdate = append(toUpdate, c)
		case labelsChanged:
			c := s.DeepCopy()
			c.Labels = labels
			toUpdate = append(toUpdate, c)
		default:
			unchanged = append(unchanged, s)
		}
	}
	rest := desired.Sorted()
	take := func(s *discoveryv1.EndpointSlice) {
		for len(rest) > 0 && len(s.Endpoints) < r.max {
			s.Endpoints = append(s.Endpoints, *rest[0])
			rest = rest[1:]
		}
	}
	if len(rest) > 0 && len(toUpdate) > 0 {
		sort.SliceStable(toUpdate, func(i, j int) bool { return len(toUpdate[i].Endpoints) > len(toUpdate[j].Endpoints) })
		for _, s := range toUpdate {
			take(s)
		}
	}
	for len(rest) > 0 {
		var fill *discoveryv1.EndpointSlice
		if len(rest) < r.max && len(unchanged) > 0 {
			if i := closestFit(unchanged, len(rest), r.max); i >= 0 {
				fill = unchanged[i].DeepCopy()
				unchanged = append(unchanged[:i], unchanged[i+1:]...)
				toUpdate = append(toUpdate, fill)
			}
		}
		if fill == nil {
			fill = newSlice(svc, ports, addrType)
			create = append(create, fill)
		}
		take(fill)
	}
	return create, toUpdate, remove
}

// closestFit is the slice that n more endpoints fill most, or -1 if none
// has room for them all.
func closestFit(slices []*discoveryv1.EndpointSlice, n, max int) int {
	best, bestDiff := -1, max
	for i, s := range slices {
		diff := max - (n + len(s.Endpoints))
		if diff >= 0 && diff < bestDiff {
			best, bestDiff = i, diff
			if diff == 0 {
				break
			}
		}
	}
	return best
}

// finalize writes a plan, recycling slices to delete for those to create.
// Nothing is created for a Service being deleted, which would race the
// garbage collector.
func (r *reconciler) finalize(ctx context.Context, svc *corev1.Service, ch *changes, trigger time.Time) error {
	recycle(svc, ch)
	api := r.client.DiscoveryV1().EndpointSlices(svc.Namespace)
	if svc.DeletionTimestamp == nil {
		for _, s := range ch.create {
			setTriggerTime(s, trigger)
			created, err := api.Create(ctx, s, metav1.CreateOptions{})
			if err != nil {
				if apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
					return nil
				}
				return fmt.Errorf("create endpoint slice for service %s/%s: %w", svc.Namespace, svc.Name, err)
			}
			r.tracker.Update(created)
		}
	}
	for _, s := range ch.update {
		setTriggerTime(s, trigger)
		updated, err := api.Update(ctx, s, metav1.UpdateOptions{})
		if err != nil {
			return fmt.Errorf("update endpoint slice %s for service %s/%s: %w", s.Name, svc.Namespace, svc.Name, err)
		}
		r.tracker.Update(updated)
	}
	for _, s := range ch.delete {
		if err := r.delete(ctx, s); err != nil {
			return err
		}
	}
	return nil
}

// recycle turns pairs of a slice to create and one of the Service's to
// delete (of the same address type; a slice of an earlier Service of the
// same name may be on its way out through the garbage collector) into an
// update of the latter.
func recycle(svc *corev1.Service, ch *changes) {
	for i := 0; i < len(ch.delete) && len(ch.create) > 0; {
		old, s := ch.delete[i], ch.create[len(ch.create)-1]
		if old.AddressType == s.AddressType && ownedBy(old, svc) {
			s.Name, s.GenerateName = old.Name, ""
			ch.create = ch.create[:len(ch.create)-1]
			ch.update = append(ch.update, s)
			ch.delete = append(ch.delete[:i], ch.delete[i+1:]...)
		} else {
			i++
		}
	}
}

func (r *reconciler) delete(ctx context.Context, s *discoveryv1.EndpointSlice) error {
	err := r.client.DiscoveryV1().EndpointSlices(s.Namespace).Delete(ctx, s.Name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete endpoint slice %s/%s: %w", s.Namespace, s.Name, err)
	}
	r.tracker.ExpectDeletion(s)
	return nil
}

func setTriggerTime(s *discoveryv1.EndpointSlice, trigger time.Time) {
	if s.Annotations == nil {
		s.Annotations = map[string]string{}
	}
	if trigger.IsZero() {
		delete(s.Annotations, corev1.EndpointsLastChangeTriggerTime)
	} else {
		s.Annotations[corev1.EndpointsLastChangeTriggerTime] = trigger.UTC().Format(time.RFC3339Nano)
	}
}
