package storage

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/flotilla-io/flotilla/pkg/metrics/scrape"
)

var t0 = time.Unix(1700000000, 0)

func batch(node *scrape.Point, containers map[string]scrape.Point) *scrape.Batch {
	b := &scrape.Batch{Node: node, Containers: map[scrape.ContainerKey]scrape.Point{}}
	for c, p := range containers {
		b.Containers[scrape.ContainerKey{Namespace: "ns", Pod: "p", Container: c}] = p
	}
	return b
}

func at(sec int, cpuSec float64, start time.Time) scrape.Point {
	return scrape.Point{Time: t0.Add(time.Duration(sec) * time.Second), StartTime: start, CPU: uint64(cpuSec * 1e9), Memory: 100}
}

var ref = types.NamespacedName{Namespace: "ns", Name: "p"}

func TestRates(t *testing.T) {
	t.Parallel()
	s := New(15 * time.Second)
	started := t0.Add(-time.Hour)
	s.Store(map[string]*scrape.Batch{"n": batch(ptr(at(0, 10, time.Time{})), map[string]scrape.Point{"a": at(0, 1, started), "b": at(1, 1, started)})})
	if _, ok := s.Pod(ref); ok {
		t.Fatal("pod usage from one sample")
	}
	s.Store(map[string]*scrape.Batch{"n": batch(ptr(at(15, 25, time.Time{})), map[string]scrape.Point{"a": at(15, 4, started), "b": at(16, 2.5, started)})})
	n, ok := s.Node("n")
	if !ok || n.Resources.Cpu().MilliValue() != 1000 || n.Window != 15*time.Second || !n.Timestamp.Equal(t0.Add(15*time.Second)) {
		t.Fatalf("node = %+v %v", n, ok)
	}
	p, ok := s.Pod(ref)
	if !ok || len(p.Containers) != 2 || p.Containers[0].Name != "a" || p.Containers[0].Usage.Cpu().MilliValue() != 200 || p.Containers[1].Usage.Cpu().MilliValue() != 100 {
		t.Fatalf("pod = %+v %v", p, ok)
	}
	if !p.Timestamp.Equal(t0.Add(15*time.Second)) || p.Window != 15*time.Second {
		t.Fatalf("pod time = %v/%v, want the earliest container's", p.Timestamp, p.Window)
	}
	// A repeated sample (same timestamp) keeps the earlier pair.
	s.Store(map[string]*scrape.Batch{"n": batch(ptr(at(15, 25, time.Time{})), map[string]scrape.Point{"a": at(15, 4, started), "b": at(16, 2.5, started)})})
	if _, ok := s.Node("n"); !ok {
		t.Fatal("node lost on a repeated sample")
	}
	// A restarted container has no rate until its next sample; the pod
	// is then missing, as metrics-server needs every container.
	s.Store(map[string]*scrape.Batch{"n": batch(ptr(at(30, 40, time.Time{})), map[string]scrape.Point{"a": at(30, 0.5, t0.Add(25*time.Second)), "b": at(31, 4, started)})})
	if _, ok := s.Pod(ref); ok {
		t.Fatal("usage across a restart")
	}
	// A node that did not answer is dropped with its pods.
	s.Store(map[string]*scrape.Batch{})
	if _, ok := s.Node("n"); ok {
		t.Fatal("node kept after a round without it")
	}
	if nodes, containers := s.Counts(); nodes != 0 || containers != 0 {
		t.Fatalf("counts = %d, %d", nodes, containers)
	}
}

func TestFreshContainer(t *testing.T) {
	t.Parallel()
	s := New(15 * time.Second)
	// Started 12 s before its first sample, with 1.2 core-seconds used:
	// its start stands in for the earlier sample (100m).
	s.Store(map[string]*scrape.Batch{"n": batch(nil, map[string]scrape.Point{"a": at(12, 1.2, t0)})})
	p, ok := s.Pod(ref)
	if !ok || p.Containers[0].Usage.Cpu().MilliValue() != 100 || p.Window != 12*time.Second {
		t.Fatalf("pod = %+v %v", p, ok)
	}
	// Younger than 10 s: too noisy, no usage yet.
	s = New(15 * time.Second)
	s.Store(map[string]*scrape.Batch{"n": batch(nil, map[string]scrape.Point{"a": at(5, 1, t0)})})
	if _, ok := s.Pod(ref); ok {
		t.Fatal("usage of a container younger than 10s")
	}
}

func TestCounterDecreaseGivesNothing(t *testing.T) {
	t.Parallel()
	s := New(15 * time.Second)
	s.Store(map[string]*scrape.Batch{"n": batch(ptr(at(0, 10, time.Time{})), nil)})
	s.Store(map[string]*scrape.Batch{"n": batch(ptr(at(15, 5, time.Time{})), nil)})
	if u, ok := s.Node("n"); ok {
		t.Fatalf("usage from a counter that went down: %+v", u)
	}
}

func ptr(p scrape.Point) *scrape.Point { return &p }
