package stats

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	statsapi "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
	"k8s.io/utils/ptr"
)

func TestWriteResourceMetrics(t *testing.T) {
	at := metav1.NewTime(time.UnixMilli(1700000000123))
	start := metav1.NewTime(time.Unix(1699999000, 500000000))
	s := &statsapi.Summary{
		Node: statsapi.NodeStats{NodeName: "n1",
			CPU:    &statsapi.CPUStats{Time: at, UsageCoreNanoSeconds: ptr.To[uint64](12_500_000_000)},
			Memory: &statsapi.MemoryStats{Time: at, WorkingSetBytes: ptr.To[uint64](1 << 30)}},
		Pods: []statsapi.PodStats{{
			PodRef:    statsapi.PodReference{Name: "web-1", Namespace: "prod", UID: "u1"},
			StartTime: start,
			Containers: []statsapi.ContainerStats{{
				Name: "app", StartTime: start,
				CPU:    &statsapi.CPUStats{Time: at, UsageCoreNanoSeconds: ptr.To[uint64](1_000_000)},
				Memory: &statsapi.MemoryStats{Time: at, WorkingSetBytes: ptr.To[uint64](4096)},
			}},
			CPU:    &statsapi.CPUStats{Time: at, UsageCoreNanoSeconds: ptr.To[uint64](3_000_000)},
			Memory: &statsapi.MemoryStats{Time: at, WorkingSetBytes: ptr.To[uint64](8192)},
		}},
	}
	var buf bytes.Buffer
	if err := WriteResourceMetrics(&buf, s, false); err != nil {
		t.Fatal(err)
	}
	want := `# HELP container_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the container in core-seconds
# TYPE container_cpu_usage_seconds_total counter
container_cpu_usage_seconds_total{container="app",namespace="prod",pod="web-1"} 0.001 1700000000123
# HELP container_memory_working_set_bytes [STABLE] Current working set of the container in bytes
# TYPE container_memory_working_set_bytes gauge
container_memory_working_set_bytes{container="app",namespace="prod",pod="web-1"} 4096 1700000000123
# HELP container_start_time_seconds [STABLE] Start time of the container since unix epoch in seconds
# TYPE container_start_time_seconds gauge
container_start_time_seconds{container="app",namespace="prod",pod="web-1"} 1.6999990005e+09
# HELP node_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the node in core-seconds
# TYPE node_cpu_usage_seconds_total counter
node_cpu_usage_seconds_total 12.5 1700000000123
# HELP node_memory_working_set_bytes [STABLE] Current working set of the node in bytes
# TYPE node_memory_working_set_bytes gauge
node_memory_working_set_bytes 1.073741824e+09 1700000000123
# HELP pod_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the pod in core-seconds
# TYPE pod_cpu_usage_seconds_total counter
pod_cpu_usage_seconds_total{namespace="prod",pod="web-1"} 0.003 1700000000123
# HELP pod_memory_working_set_bytes [STABLE] Current working set of the pod in bytes
# TYPE pod_memory_working_set_bytes gauge
pod_memory_working_set_bytes{namespace="prod",pod="web-1"} 8192 1700000000123
# HELP resource_scrape_error [STABLE] 1 if there was an error while getting container metrics, 0 otherwise
# TYPE resource_scrape_error gauge
resource_scrape_error 0
`
	if got := buf.String(); got != want {
		t.Fatalf("exposition:\n%s\nwant:\n%s", got, want)
	}
	// A Prometheus parser reads it back.
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(buf.String()))
	if err != nil {
		t.Fatal(err)
	}
	if len(fams) != 8 || fams["pod_cpu_usage_seconds_total"].GetMetric()[0].GetTimestampMs() != 1700000000123 {
		t.Fatalf("parsed families: %v", fams)
	}
}

func TestWriteResourceMetricsFailed(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteResourceMetrics(&buf, nil, true); err != nil {
		t.Fatal(err)
	}
	want := "# HELP resource_scrape_error [STABLE] 1 if there was an error while getting container metrics, 0 otherwise\n# TYPE resource_scrape_error gauge\nresource_scrape_error 1\n"
	if buf.String() != want {
		t.Fatalf("got %q", buf.String())
	}
}
