package scrape

import (
	"strings"
	"testing"
	"time"
)

// exposition is what a kubelet v1.32 serves on /metrics/resource (two
// pods, one of them with two containers, one incomplete pod).
const exposition = `# HELP container_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the container in core-seconds
# TYPE container_cpu_usage_seconds_total counter
container_cpu_usage_seconds_total{container="app",namespace="default",pod="web"} 12.5 1700000010000
container_cpu_usage_seconds_total{container="sidecar",namespace="default",pod="web"} 0.25 1700000010000
container_cpu_usage_seconds_total{container="c",namespace="kube-system",pod="dns"} 3 1700000011000
container_cpu_usage_seconds_total{container="c",namespace="default",pod="half"} 3 1700000011000
# HELP container_memory_working_set_bytes [STABLE] Current working set of the container in bytes
# TYPE container_memory_working_set_bytes gauge
container_memory_working_set_bytes{container="app",namespace="default",pod="web"} 1.048576e+07 1700000010000
container_memory_working_set_bytes{container="sidecar",namespace="default",pod="web"} 2.097152e+06 1700000010000
container_memory_working_set_bytes{container="c",namespace="kube-system",pod="dns"} 4096 1700000011000
# HELP container_start_time_seconds [STABLE] Start time of the container since unix epoch in seconds
# TYPE container_start_time_seconds gauge
container_start_time_seconds{container="app",namespace="default",pod="web"} 1.6999e+09 1699900000000
# HELP node_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the node in core-seconds
# TYPE node_cpu_usage_seconds_total counter
node_cpu_usage_seconds_total 1234.5 1700000012000
# HELP node_memory_working_set_bytes [STABLE] Current working set of the node in bytes
# TYPE node_memory_working_set_bytes gauge
node_memory_working_set_bytes 1.073741824e+09 1700000012000
# HELP pod_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the pod in core-seconds
# TYPE pod_cpu_usage_seconds_total counter
pod_cpu_usage_seconds_total{namespace="default",pod="web"} 12.75 1700000010000
# HELP resource_scrape_error [STABLE] 1 if there was an error while getting container metrics, 0 otherwise
# TYPE resource_scrape_error gauge
resource_scrape_error 0
`

func TestParse(t *testing.T) {
	t.Parallel()
	now := time.Unix(1800000000, 0)
	b, err := Parse(strings.NewReader(exposition), now)
	if err != nil {
		t.Fatal(err)
	}
	if b.Node == nil || b.Node.CPU != 1234500000000 || b.Node.Memory != 1<<30 || !b.Node.Time.Equal(time.UnixMilli(1700000012000)) {
		t.Fatalf("node = %+v", b.Node)
	}
	want := map[ContainerKey]Point{
		{"default", "web", "app"}:     {Time: time.UnixMilli(1700000010000), StartTime: time.Unix(1699900000, 0), CPU: 12500000000, Memory: 10485760},
		{"default", "web", "sidecar"}: {Time: time.UnixMilli(1700000010000), CPU: 250000000, Memory: 2097152},
		{"kube-system", "dns", "c"}:   {Time: time.UnixMilli(1700000011000), CPU: 3000000000, Memory: 4096},
	}
	if len(b.Containers) != len(want) {
		t.Fatalf("containers = %+v, want %d (the pod without memory left out)", b.Containers, len(want))
	}
	for k, w := range want {
		got := b.Containers[k]
		if !got.Time.Equal(w.Time) || !got.StartTime.Equal(w.StartTime) || got.CPU != w.CPU || got.Memory != w.Memory {
			t.Errorf("%v = %+v, want %+v", k, got, w)
		}
	}
	if b.Pods() != 2 {
		t.Errorf("Pods() = %d, want 2", b.Pods())
	}
}

func TestParseDefaultsAndRejects(t *testing.T) {
	t.Parallel()
	now := time.Unix(1800000000, 0)
	// No timestamps: the scrape's time; a zero CPU counter: left out as
	// metrics-server leaves it out.
	b, err := Parse(strings.NewReader("node_cpu_usage_seconds_total 1\nnode_memory_working_set_bytes 2\n"+
		`container_cpu_usage_seconds_total{container="c",namespace="n",pod="p"} 0`+"\n"+
		`container_memory_working_set_bytes{container="c",namespace="n",pod="p"} 5`+"\n"), now)
	if err != nil {
		t.Fatal(err)
	}
	if b.Node == nil || !b.Node.Time.Equal(now) {
		t.Fatalf("node = %+v, want the scrape's time", b.Node)
	}
	if len(b.Containers) != 0 {
		t.Fatalf("containers = %+v, want none", b.Containers)
	}
	for _, bad := range []string{"node_cpu_usage_seconds_total{", "x 1 2 3", "# TYPE a counter\n# TYPE a gauge\n"} {
		if _, err := Parse(strings.NewReader(bad), now); err == nil {
			t.Errorf("Parse(%q) succeeded", bad)
		}
	}
	// Negative, NaN and infinite values are no samples.
	b, err = Parse(strings.NewReader("node_cpu_usage_seconds_total NaN\nnode_memory_working_set_bytes -1\n"), now)
	if err != nil || b.Node != nil {
		t.Fatalf("node = %+v, err %v; want none", b.Node, err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(exposition)
	f.Add("node_cpu_usage_seconds_total 1e400 -9223372036854775808\n")
	f.Add(`container_start_time_seconds{container="c",namespace="n",pod="p"} 1e300` + "\n")
	f.Fuzz(func(t *testing.T, in string) {
		b, err := Parse(strings.NewReader(in), time.Unix(0, 0))
		if err != nil {
			return
		}
		for k, p := range b.Containers {
			if k.Namespace == "" || k.Pod == "" || k.Container == "" || p.CPU == 0 || p.Memory == 0 {
				t.Fatalf("incomplete container kept: %+v %+v", k, p)
			}
		}
	})
}
