package podautoscaler

import (
	"slices"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// selectorIndex remembers which pods each HPA selected at its last sync,
// so that an HPA whose pods another HPA also controls is refused
// (AmbiguousSelector), as upstream's controller does. Looking up the
// other HPAs by pod keeps a sync's cost independent of the number of
// HPAs.
type selectorIndex struct {
	mu        sync.Mutex
	selectors map[string]labels.Selector     // HPA key → its selector
	byPod     map[string]map[string]struct{} // "ns/pod" → HPA keys that selected it
	byHPA     map[string][]string            // HPA key → the pods it selected
}

func newSelectorIndex() *selectorIndex {
	return &selectorIndex{selectors: map[string]labels.Selector{}, byPod: map[string]map[string]struct{}{}, byHPA: map[string][]string{}}
}

// update records what the HPA key selects now and returns every HPA
// (itself included, sorted) whose selector matches one of these pods.
func (x *selectorIndex) update(key string, sel labels.Selector, pods []*corev1.Pod) []string {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.dropLocked(key)
	x.selectors[key] = sel
	controlling := []string{key}
	keys := make([]string, 0, len(pods))
	for _, p := range pods {
		pk := p.Namespace + "/" + p.Name
		keys = append(keys, pk)
		set := x.byPod[pk]
		if set == nil {
			set = map[string]struct{}{}
			x.byPod[pk] = set
		}
		for other := range set {
			if s, ok := x.selectors[other]; ok && !slices.Contains(controlling, other) && s.Matches(labels.Set(p.Labels)) {
				controlling = append(controlling, other)
			}
		}
		set[key] = struct{}{}
	}
	x.byHPA[key] = keys
	slices.Sort(controlling)
	return controlling
}

// forget drops a deleted HPA.
func (x *selectorIndex) forget(key string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.dropLocked(key)
	delete(x.selectors, key)
}

func (x *selectorIndex) dropLocked(key string) {
	for _, pk := range x.byHPA[key] {
		if set := x.byPod[pk]; set != nil {
			delete(set, key)
			if len(set) == 0 {
				delete(x.byPod, pk)
			}
		}
	}
	delete(x.byHPA, key)
}
