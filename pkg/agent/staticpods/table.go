package staticpods

import (
	"sync"

	corev1 "k8s.io/api/core/v1"
)

// Table holds the pods of the manifest sources, by namespace/name. The
// pod worker runs them instead of whatever the API says. Its zero value is
// empty and ready.
type Table struct {
	mu       sync.Mutex
	bySource map[string]map[string]*corev1.Pod
}

// Get is the static pod of that namespace/name key, nil if none.
func (s *Table) Get(key string) *corev1.Pod {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, pods := range s.bySource {
		if p := pods[key]; p != nil {
			return p
		}
	}
	return nil
}

// Keys are the keys of every static pod.
func (s *Table) Keys() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var keys []string
	for _, pods := range s.bySource {
		for k := range pods {
			keys = append(keys, k)
		}
	}
	return keys
}

// set replaces one source's pods and returns the keys that were added,
// removed or changed. A pod whose UID (its content hash) is unchanged is
// kept as it was, config.seen included.
func (s *Table) set(source string, pods map[string]*corev1.Pod) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.bySource == nil {
		s.bySource = map[string]map[string]*corev1.Pod{}
	}
	old := s.bySource[source]
	var changed []string
	for k, p := range pods {
		if o := old[k]; o != nil && o.UID == p.UID {
			pods[k] = o
			continue
		}
		changed = append(changed, k)
	}
	for k := range old {
		if pods[k] == nil {
			changed = append(changed, k)
		}
	}
	s.bySource[source] = pods
	return changed
}

// other says whether another source has a pod of that key.
func (s *Table) other(source, key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for src, pods := range s.bySource {
		if src != source && pods[key] != nil {
			return true
		}
	}
	return false
}

// StaticOf is the static pod a mirror stands for, else pod itself: the
// runtime knows the static pod's UID, not the mirror's.
func (s *Table) StaticOf(pod *corev1.Pod) *corev1.Pod {
	if !IsMirror(pod) {
		return pod
	}
	if sp := s.Get(pod.Namespace + "/" + pod.Name); sp != nil && pod.Annotations[corev1.MirrorPodAnnotationKey] == string(sp.UID) {
		return sp
	}
	return pod
}
