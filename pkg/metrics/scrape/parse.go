package scrape

import (
	"fmt"
	"io"
	"math"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// The kubelet's resource metrics (v1.32) this package reads.
const (
	nodeCPU            = "node_cpu_usage_seconds_total"
	nodeMemory         = "node_memory_working_set_bytes"
	containerCPU       = "container_cpu_usage_seconds_total"
	containerMemory    = "container_memory_working_set_bytes"
	containerStartTime = "container_start_time_seconds"
)

// Point is one sample of a node or a container.
type Point struct {
	// Time is when the CPU counter was read (the sample's timestamp, or
	// the scrape's time when the exposition carries none).
	Time time.Time
	// StartTime is when the container started (zero for a node); the
	// CPU counter counts from there.
	StartTime time.Time
	// CPU is the cumulative CPU time used, in nanocore-seconds.
	CPU uint64
	// Memory is the working set in bytes.
	Memory uint64
}

// ContainerKey names a container of a pod.
type ContainerKey struct {
	Namespace, Pod, Container string
}

// Batch is what one scrape of one node yields.
type Batch struct {
	// Node is the node's own sample; nil when it was missing or
	// incomplete.
	Node *Point
	// Containers holds the complete samples of the node's containers; a
	// pod any of whose containers had an incomplete sample is left out
	// whole, as metrics-server leaves it out.
	Containers map[ContainerKey]Point
}

// Pods counts the distinct pods of b.
func (b *Batch) Pods() int {
	seen := map[[2]string]struct{}{}
	for k := range b.Containers {
		seen[[2]string{k.Namespace, k.Pod}] = struct{}{}
	}
	return len(seen)
}

// Parse reads the text exposition of /metrics/resource; now stands in
// for samples without a timestamp.
func Parse(r io.Reader, now time.Time) (*Batch, error) {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("parse resource metrics: %w", err)
	}
	var node Point
	containers := map[ContainerKey]*Point{}
	container := func(m *dto.Metric) *Point {
		var k ContainerKey
		for _, l := range m.GetLabel() {
			switch l.GetName() {
			case "namespace":
				k.Namespace = l.GetValue()
			case "pod":
				k.Pod = l.GetValue()
			case "container":
				k.Container = l.GetValue()
			}
		}
		if k.Namespace == "" || k.Pod == "" || k.Container == "" {
			return nil
		}
		p := containers[k]
		if p == nil {
			p = &Point{}
			containers[k] = p
		}
		return p
	}
	for _, m := range families[nodeCPU].GetMetric() {
		if v, ok := value(m); ok {
			node.CPU, node.Time = nanos(v), stamp(m, now)
		}
	}
	for _, m := range families[nodeMemory].GetMetric() {
		if v, ok := value(m); ok {
			node.Memory = toBytes(v)
		}
	}
	for _, m := range families[containerCPU].GetMetric() {
		if v, ok := value(m); ok {
			if p := container(m); p != nil {
				p.CPU, p.Time = nanos(v), stamp(m, now)
			}
		}
	}
	for _, m := range families[containerMemory].GetMetric() {
		if v, ok := value(m); ok {
			if p := container(m); p != nil {
				p.Memory = toBytes(v)
			}
		}
	}
	for _, m := range families[containerStartTime].GetMetric() {
		if v, ok := value(m); ok {
			if p := container(m); p != nil {
				p.StartTime = time.Unix(0, int64(nanos(v)))
			}
		}
	}
	b := &Batch{Containers: make(map[ContainerKey]Point, len(containers))}
	if !node.Time.IsZero() && node.CPU != 0 && node.Memory != 0 {
		b.Node = &node
	}
	// A pod counts only when every container of it has a CPU and a
	// memory sample, as metrics-server's decoder has it.
	incomplete := map[[2]string]bool{}
	for k, p := range containers {
		if p.Time.IsZero() || p.CPU == 0 || p.Memory == 0 {
			incomplete[[2]string{k.Namespace, k.Pod}] = true
		}
	}
	for k, p := range containers {
		if !incomplete[[2]string{k.Namespace, k.Pod}] {
			b.Containers[k] = *p
		}
	}
	return b, nil
}

// value is a sample's value if it is a finite, non-negative number.
func value(m *dto.Metric) (float64, bool) {
	var v float64
	switch {
	case m.Counter != nil:
		v = m.Counter.GetValue()
	case m.Gauge != nil:
		v = m.Gauge.GetValue()
	case m.Untyped != nil:
		v = m.Untyped.GetValue()
	default:
		return 0, false
	}
	if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
		return 0, false
	}
	return v, true
}

// maxSeconds keeps nanosecond conversions inside int64 (about 292 years).
const maxSeconds = float64(math.MaxInt64 / 1e9)

// nanos converts seconds to nanoseconds, saturating.
func nanos(seconds float64) uint64 {
	if seconds > maxSeconds {
		seconds = maxSeconds
	}
	return uint64(seconds * 1e9)
}

func toBytes(v float64) uint64 {
	if v >= math.MaxUint64 {
		return math.MaxUint64
	}
	return uint64(v)
}

func stamp(m *dto.Metric, now time.Time) time.Time {
	if m.TimestampMs == nil {
		return now
	}
	return time.UnixMilli(m.GetTimestampMs())
}
