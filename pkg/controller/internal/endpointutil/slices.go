package endpointutil

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
)

// EndpointKey identifies an endpoint across syncs by its addresses,
// hostname and target (not its conditions, node or zone), so that a
// changed condition updates the endpoint in place in the slice holding it.
func EndpointKey(ep *discoveryv1.Endpoint) string {
	addrs := append([]string(nil), ep.Addresses...)
	sort.Strings(addrs)
	var b strings.Builder
	b.WriteString(strings.Join(addrs, ","))
	b.WriteByte('|')
	if ep.Hostname != nil {
		b.WriteString(*ep.Hostname)
	}
	if ep.TargetRef != nil {
		b.WriteByte('|')
		b.WriteString(ep.TargetRef.Namespace)
		b.WriteByte('/')
		b.WriteString(ep.TargetRef.Name)
	}
	return b.String()
}

// EndpointSet holds endpoints by EndpointKey.
type EndpointSet map[string]*discoveryv1.Endpoint

// Insert adds or replaces ep.
func (s EndpointSet) Insert(ep *discoveryv1.Endpoint) { s[EndpointKey(ep)] = ep }

// Get returns the endpoint with ep's identity, or nil.
func (s EndpointSet) Get(ep *discoveryv1.Endpoint) *discoveryv1.Endpoint { return s[EndpointKey(ep)] }

// Delete removes the endpoint with ep's identity.
func (s EndpointSet) Delete(ep *discoveryv1.Endpoint) { delete(s, EndpointKey(ep)) }

// Sorted lists the endpoints in key order, so that what goes into new
// slices does not depend on map order.
func (s EndpointSet) Sorted() []*discoveryv1.Endpoint {
	keys := make([]string, 0, len(s))
	for k := range s {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]*discoveryv1.Endpoint, len(keys))
	for i, k := range keys {
		out[i] = s[k]
	}
	return out
}

// EndpointsEqualBeyondKey compares what EndpointKey leaves out: node,
// zone, the three conditions and the target (its resourceVersion aside).
func EndpointsEqualBeyondKey(a, b *discoveryv1.Endpoint) bool {
	return ptrEqual(a.NodeName, b.NodeName) && ptrEqual(a.Zone, b.Zone) &&
		ptrEqual(a.Conditions.Ready, b.Conditions.Ready) &&
		ptrEqual(a.Conditions.Serving, b.Conditions.Serving) &&
		ptrEqual(a.Conditions.Terminating, b.Conditions.Terminating) &&
		refEqual(a.TargetRef, b.TargetRef)
}

func ptrEqual[T comparable](a, b *T) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return *a == *b
}

func refEqual(a, b *corev1.ObjectReference) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	x, y := *a, *b
	x.ResourceVersion, y.ResourceVersion = "", ""
	return x == y
}

// SortPorts puts slice ports in the one order they are written in.
func SortPorts(ports []discoveryv1.EndpointPort) {
	sort.Slice(ports, func(i, j int) bool { return portKey(&ports[i]) < portKey(&ports[j]) })
}

// PortsKey identifies a set of slice ports, in any order. An unset field
// differs from an empty one: the slice controllers always set the name
// and protocol.
func PortsKey(ports []discoveryv1.EndpointPort) string {
	parts := make([]string, len(ports))
	for i := range ports {
		parts[i] = portKey(&ports[i])
	}
	sort.Strings(parts)
	return strings.Join(parts, ";")
}

func portKey(p *discoveryv1.EndpointPort) string {
	s := func(v *string) string {
		if v == nil {
			return "<nil>"
		}
		return strconv.Quote(*v)
	}
	num := "<nil>"
	if p.Port != nil {
		num = strconv.Itoa(int(*p.Port))
	}
	proto := "<nil>"
	if p.Protocol != nil {
		proto = string(*p.Protocol)
	}
	return fmt.Sprintf("%s/%s/%s/%s", s(p.Name), proto, num, s(p.AppProtocol))
}

// SlicePrefix is the generateName of a Service's slices: "<name>-", or
// the bare name when the dash would make it too long.
func SlicePrefix(name string) string {
	if len(apivalidation.NameIsDNSSubdomain(name+"-", true)) != 0 {
		return name
	}
	return name + "-"
}

// ServiceKeyOfSlice is the namespace/name key of the Service a slice's
// kubernetes.io/service-name label names ("" if none).
func ServiceKeyOfSlice(s *discoveryv1.EndpointSlice) string {
	name := s.Labels[discoveryv1.LabelServiceName]
	if name == "" {
		return ""
	}
	return s.Namespace + "/" + name
}

// SliceFromObject unwraps an informer event's slice, tombstones included.
func SliceFromObject(obj any) *discoveryv1.EndpointSlice {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	s, _ := obj.(*discoveryv1.EndpointSlice)
	return s
}

// deletionExpected marks a slice the controller deleted.
const deletionExpected = -1

// SliceTracker remembers the generation of every slice a controller wrote
// and the slices it deleted, per Service, as upstream's
// EndpointSliceTracker: the controller's own writes then do not trigger
// another sync, and a sync that sees older slices than it wrote (a
// lagging cache) waits instead of acting on them.
type SliceTracker struct {
	mu          sync.Mutex
	generations map[types.NamespacedName]map[types.UID]int64
	serviceUIDs map[types.NamespacedName]types.UID
}

func serviceOf(s *discoveryv1.EndpointSlice) types.NamespacedName {
	return types.NamespacedName{Namespace: s.Namespace, Name: s.Labels[discoveryv1.LabelServiceName]}
}

func (t *SliceTracker) init() {
	if t.generations == nil {
		t.generations = map[types.NamespacedName]map[types.UID]int64{}
		t.serviceUIDs = map[types.NamespacedName]types.UID{}
	}
}

// Has says whether the slice is tracked.
func (t *SliceTracker) Has(s *discoveryv1.EndpointSlice) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, ok := t.generations[serviceOf(s)][s.UID]
	return ok
}

// ShouldSync says whether a slice event is news: a slice not written by
// the controller, or a generation past the one it wrote.
func (t *SliceTracker) ShouldSync(s *discoveryv1.EndpointSlice) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	g, ok := t.generations[serviceOf(s)][s.UID]
	return !ok || s.Generation > g
}

// Stale says whether slices (from the cache) lag behind the controller's
// writes for svc: an older generation than written, a slice it deleted,
// or a slice it wrote missing. Tracked writes for an earlier Service of
// the same name are dropped.
func (t *SliceTracker) Stale(svc *corev1.Service, slices []*discoveryv1.EndpointSlice) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.init()
	nn := types.NamespacedName{Namespace: svc.Namespace, Name: svc.Name}
	if uid, ok := t.serviceUIDs[nn]; ok && uid != "" && svc.UID != "" && uid != svc.UID {
		delete(t.generations, nn)
	}
	t.serviceUIDs[nn] = svc.UID
	gens, ok := t.generations[nn]
	if !ok {
		return false
	}
	seen := make(map[types.UID]bool, len(slices))
	for _, s := range slices {
		seen[s.UID] = true
		if g, ok := gens[s.UID]; ok && (g == deletionExpected || g > s.Generation) {
			return true
		}
	}
	for uid, g := range gens {
		if g != deletionExpected && !seen[uid] {
			return true
		}
	}
	return false
}

// Update records a slice the controller created or updated.
func (t *SliceTracker) Update(s *discoveryv1.EndpointSlice) { t.set(s, s.Generation) }

// ExpectDeletion records a slice the controller deleted.
func (t *SliceTracker) ExpectDeletion(s *discoveryv1.EndpointSlice) { t.set(s, deletionExpected) }

func (t *SliceTracker) set(s *discoveryv1.EndpointSlice, g int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.init()
	nn := serviceOf(s)
	if t.generations[nn] == nil {
		t.generations[nn] = map[types.UID]int64{}
	}
	t.generations[nn][s.UID] = g
}

// HandleDeletion forgets a deleted slice and says whether the controller
// expected that deletion (its own).
func (t *SliceTracker) HandleDeletion(s *discoveryv1.EndpointSlice) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	gens, ok := t.generations[serviceOf(s)]
	if !ok {
		return true
	}
	g, ok := gens[s.UID]
	delete(gens, s.UID)
	return !ok || g == deletionExpected
}

// DeleteService forgets a Service.
func (t *SliceTracker) DeleteService(namespace, name string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	nn := types.NamespacedName{Namespace: namespace, Name: name}
	delete(t.generations, nn)
	delete(t.serviceUIDs, nn)
}
