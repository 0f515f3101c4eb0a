package stats

import (
	"io"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	statsapi "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
	"k8s.io/utils/ptr"
)

// ResourceMetricsContentType is the media type of /metrics/resource:
// Prometheus text format 0.0.4, as the kubelet answers a scraper that
// does not ask for OpenMetrics.
var ResourceMetricsContentType = string(expfmt.NewFormat(expfmt.TypeTextPlain))

// The kubelet's resource metrics (v1.32): names, help texts with their
// stability level, and types.
type family struct {
	name, help string
	typ        dto.MetricType
}

var (
	nodeCPU        = family{"node_cpu_usage_seconds_total", "[STABLE] Cumulative cpu time consumed by the node in core-seconds", dto.MetricType_COUNTER}
	nodeMemory     = family{"node_memory_working_set_bytes", "[STABLE] Current working set of the node in bytes", dto.MetricType_GAUGE}
	containerStart = family{"container_start_time_seconds", "[STABLE] Start time of the container since unix epoch in seconds", dto.MetricType_GAUGE}
	containerCPU   = family{"container_cpu_usage_seconds_total", "[STABLE] Cumulative cpu time consumed by the container in core-seconds", dto.MetricType_COUNTER}
	containerMem   = family{"container_memory_working_set_bytes", "[STABLE] Current working set of the container in bytes", dto.MetricType_GAUGE}
	podCPU         = family{"pod_cpu_usage_seconds_total", "[STABLE] Cumulative cpu time consumed by the pod in core-seconds", dto.MetricType_COUNTER}
	podMemory      = family{"pod_memory_working_set_bytes", "[STABLE] Current working set of the pod in bytes", dto.MetricType_GAUGE}
	scrapeError    = family{"resource_scrape_error", "[STABLE] 1 if there was an error while getting container metrics, 0 otherwise", dto.MetricType_GAUGE}
)

// families are written in the kubelet's (sorted) order.
var families = []family{containerCPU, containerMem, containerStart, nodeCPU, nodeMemory, podCPU, podMemory, scrapeError}

// WriteResourceMetrics writes s as the kubelet's /metrics/resource: one
// sample per node, container and pod measure, with the millisecond
// timestamp of its reading; resource_scrape_error is 1 when failed (s
// may then be partial or nil).
func WriteResourceMetrics(w io.Writer, s *statsapi.Summary, failed bool) error {
	samples := map[string][]*dto.Metric{}
	add := func(f family, value float64, at time.Time, labels ...string) {
		m := &dto.Metric{}
		for i := 0; i+1 < len(labels); i += 2 {
			m.Label = append(m.Label, &dto.LabelPair{Name: ptr.To(labels[i]), Value: ptr.To(labels[i+1])})
		}
		if f.typ == dto.MetricType_COUNTER {
			m.Counter = &dto.Counter{Value: ptr.To(value)}
		} else {
			m.Gauge = &dto.Gauge{Value: ptr.To(value)}
		}
		if !at.IsZero() {
			m.TimestampMs = ptr.To(at.UnixMilli())
		}
		samples[f.name] = append(samples[f.name], m)
	}
	if s != nil {
		if c := s.Node.CPU; c != nil && c.UsageCoreNanoSeconds != nil {
			add(nodeCPU, seconds(*c.UsageCoreNanoSeconds), c.Time.Time)
		}
		if m := s.Node.Memory; m != nil && m.WorkingSetBytes != nil {
			add(nodeMemory, float64(*m.WorkingSetBytes), m.Time.Time)
		}
		for _, p := range s.Pods {
			// Labels in name order, as the text format sorts them.
			for _, ctr := range p.Containers {
				if ctr.StartTime.Unix() > 0 {
					add(containerStart, float64(ctr.StartTime.UnixNano())/1e9, time.Time{}, "container", ctr.Name, "namespace", p.PodRef.Namespace, "pod", p.PodRef.Name)
				}
				if c := ctr.CPU; c != nil && c.UsageCoreNanoSeconds != nil {
					add(containerCPU, seconds(*c.UsageCoreNanoSeconds), c.Time.Time, "container", ctr.Name, "namespace", p.PodRef.Namespace, "pod", p.PodRef.Name)
				}
				if m := ctr.Memory; m != nil && m.WorkingSetBytes != nil {
					add(containerMem, float64(*m.WorkingSetBytes), m.Time.Time, "container", ctr.Name, "namespace", p.PodRef.Namespace, "pod", p.PodRef.Name)
				}
			}
			if c := p.CPU; c != nil && c.UsageCoreNanoSeconds != nil {
				add(podCPU, seconds(*c.UsageCoreNanoSeconds), c.Time.Time, "namespace", p.PodRef.Namespace, "pod", p.PodRef.Name)
			}
			if m := p.Memory; m != nil && m.WorkingSetBytes != nil {
				add(podMemory, float64(*m.WorkingSetBytes), m.Time.Time, "namespace", p.PodRef.Namespace, "pod", p.PodRef.Name)
			}
		}
	}
	errValue := 0.0
	if failed {
		errValue = 1
	}
	add(scrapeError, errValue, time.Time{})
	for _, f := range families {
		ms := samples[f.name]
		if len(ms) == 0 {
			// The kubelet's registry leaves out families without samples.
			continue
		}
		mf := &dto.MetricFamily{Name: ptr.To(f.name), Help: ptr.To(f.help), Type: f.typ.Enum(), Metric: ms}
		if _, err := expfmt.MetricFamilyToText(w, mf); err != nil {
			return err
		}
	}
	return nil
}

func seconds(nanos uint64) float64 { return float64(nanos) / 1e9 }
