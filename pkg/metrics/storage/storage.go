package storage

import (
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/types"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"

	"github.com/flotilla-io/flotilla/pkg/metrics/scrape"
)

// freshContainerMin is how long a container must have run before its
// start (with a counter of zero) stands in for a missing earlier sample;
// below it the rate is too noisy (metrics-server's value).
const freshContainerMin = 10 * time.Second

// pair is the last sample of a node or container and, once there is
// one, the one before.
type pair struct {
	last, prev scrape.Point
	hasPrev    bool
}

// Storage holds the samples of the last two rounds. It is safe for
// concurrent use.
type Storage struct {
	resolution time.Duration

	mu    sync.RWMutex
	nodes map[string]pair
	pods  map[types.NamespacedName]map[string]pair
}

// New is an empty Storage for scrapes every resolution.
func New(resolution time.Duration) *Storage {
	return &Storage{resolution: resolution, nodes: map[string]pair{}, pods: map[types.NamespacedName]map[string]pair{}}
}

// Store replaces the samples with one round's: batches by node name,
// holding only the nodes that answered.
func (s *Storage) Store(batches map[string]*scrape.Batch) {
	nodes := make(map[string]pair, len(batches))
	containers := 0
	for _, b := range batches {
		containers += len(b.Containers)
	}
	pods := make(map[types.NamespacedName]map[string]pair, containers)

	s.mu.RLock()
	for name, b := range batches {
		if b.Node != nil {
			nodes[name] = nodePair(s.nodes[name], *b.Node)
		}
		for k, p := range b.Containers {
			ref := types.NamespacedName{Namespace: k.Namespace, Name: k.Pod}
			cs := pods[ref]
			if cs == nil {
				cs = make(map[string]pair, 1)
				pods[ref] = cs
			}
			if _, dup := cs[k.Container]; dup {
				continue // a pod reported by two nodes: keep the first
			}
			old, had := s.pods[ref][k.Container]
			cs[k.Container] = s.containerPair(old, had, p)
		}
	}
	s.mu.RUnlock()

	s.mu.Lock()
	s.nodes, s.pods = nodes, pods
	s.mu.Unlock()
}

func nodePair(old pair, p scrape.Point) pair {
	next := pair{last: p}
	switch {
	case old.last.Time.IsZero():
	case p.Time.After(old.last.Time):
		next.prev, next.hasPrev = old.last, true
	case old.hasPrev && old.prev.Time.Before(p.Time):
		next.prev, next.hasPrev = old.prev, true
	}
	return next
}

func (s *Storage) containerPair(old pair, had bool, p scrape.Point) pair {
	next := pair{last: p}
	age := p.Time.Sub(p.StartTime)
	switch {
	case p.StartTime.Before(p.Time) && age < s.resolution && age >= freshContainerMin:
		// A container younger than one period: its start, with nothing
		// used yet, is the earlier sample.
		next.prev, next.hasPrev = scrape.Point{Time: p.StartTime, StartTime: p.StartTime, Memory: p.Memory}, true
	case !had || !p.StartTime.Before(old.last.Time):
		// New, or restarted since the last sample: its counter began
		// again.
	case p.Time.After(old.last.Time):
		next.prev, next.hasPrev = old.last, true
	case old.hasPrev && old.prev.Time.Before(p.Time):
		next.prev, next.hasPrev = old.prev, true
	}
	return next
}

// Usage is a node's usage over Window, ending at Timestamp.
type Usage struct {
	Timestamp time.Time
	Window    time.Duration
	Resources corev1.ResourceList
}

// Node is the usage of the node name, if two samples of it are known.
func (s *Storage) Node(name string) (Usage, bool) {
	s.mu.RLock()
	p, ok := s.nodes[name]
	s.mu.RUnlock()
	if !ok || !p.hasPrev {
		return Usage{}, false
	}
	return usage(p)
}

// PodUsage is a pod's containers' usage; Timestamp and Window are the
// earliest container's.
type PodUsage struct {
	Timestamp  time.Time
	Window     time.Duration
	Containers []metricsv1beta1.ContainerMetrics // by container name
}

// Pod is the usage of a pod, if two samples of each of its containers
// are known.
func (s *Storage) Pod(ref types.NamespacedName) (PodUsage, bool) {
	s.mu.RLock()
	cs, ok := s.pods[ref]
	s.mu.RUnlock()
	if !ok || len(cs) == 0 {
		return PodUsage{}, false
	}
	var out PodUsage
	for name, p := range cs {
		if !p.hasPrev {
			return PodUsage{}, false
		}
		u, ok := usage(p)
		if !ok {
			continue
		}
		out.Containers = append(out.Containers, metricsv1beta1.ContainerMetrics{Name: name, Usage: u.Resources})
		if out.Timestamp.IsZero() || u.Timestamp.Before(out.Timestamp) {
			out.Timestamp, out.Window = u.Timestamp, u.Window
		}
	}
	if len(out.Containers) == 0 {
		return PodUsage{}, false
	}
	sort.Slice(out.Containers, func(i, j int) bool { return out.Containers[i].Name < out.Containers[j].Name })
	return out, true
}

// Counts is how many nodes and containers hold samples.
func (s *Storage) Counts() (nodes, containers int) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, cs := range s.pods {
		containers += len(cs)
	}
	return len(s.nodes), containers
}

// usage computes a rate from a pair; a counter that went down or a start
// that went back (a sample mixed up with another) gives none.
func usage(p pair) (Usage, bool) {
	last, prev := p.last, p.prev
	window := last.Time.Sub(prev.Time)
	if window <= 0 || last.CPU < prev.CPU || last.StartTime.Before(prev.StartTime) {
		return Usage{}, false
	}
	rate := float64(last.CPU-prev.CPU) / window.Seconds()
	return Usage{
		Timestamp: last.Time,
		Window:    window,
		Resources: corev1.ResourceList{
			corev1.ResourceCPU:    quantity(uint64(rate), resource.DecimalSI, -9),
			corev1.ResourceMemory: quantity(last.Memory, resource.BinarySI, 0),
		},
	}, true
}

// quantity is v×10^scale; values past int64 lose a digit, as
// metrics-server's do.
func quantity(v uint64, format resource.Format, scale resource.Scale) resource.Quantity {
	const maxInt64 = 1<<63 - 1
	if v > maxInt64 {
		v, scale = v/10, scale+1
	}
	q := resource.NewScaledQuantity(int64(v), scale)
	q.Format = format
	return *q
}
