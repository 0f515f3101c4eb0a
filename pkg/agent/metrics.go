package agent

import (
	"net/http"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/flotilla-io/flotilla/pkg/agent/podworker"
	"github.com/flotilla-io/flotilla/pkg/agent/volumes"
)

// agentMetrics are the agent's own series, served on GET /metrics of its
// endpoint (and through the API server's nodes/NAME/proxy/metrics): what
// it keeps per pod, in memory and on disk, and what its housekeeping
// removes. An operator watches these level off; a pod that went and left
// something behind shows as a count that never falls back.
type agentMetrics struct {
	reg     *prometheus.Registry
	worker  atomic.Pointer[podworker.Worker] // of the current run
	volumes *volumes.Manager

	podState     *prometheus.Desc
	podsOnDisk   *prometheus.Desc
	housekeeping prometheus.Histogram
	removed      *prometheus.CounterVec
}

func newAgentMetrics(vols *volumes.Manager) *agentMetrics {
	m := &agentMetrics{
		reg:     prometheus.NewRegistry(),
		volumes: vols,
		podState: prometheus.NewDesc("flotilla_agent_pods_with_state",
			"Pods the node agent keeps in-memory state for, by state: restart_backoff, image_pull_backoff, volumes (refresh times and tokens), probe_workers, admission (decisions).",
			[]string{"state"}, nil),
		podsOnDisk: prometheus.NewDesc("flotilla_agent_pods_on_disk",
			"Pods with a directory or container logs under the node agent's data directory.", nil, nil),
		housekeeping: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "flotilla_agent_housekeeping_duration_seconds",
			Help:    "Duration of the node agent's housekeeping rounds, which remove what pods that are gone left behind.",
			Buckets: []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10},
		}),
		removed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flotilla_agent_housekeeping_removed_total",
			Help: "What the node agent's housekeeping removed of pods that are gone, by kind: sandboxes, pod_directories, finished_pod_volumes, address_leases, or the in-memory state's name (pods dropped).",
		}, []string{"kind"}),
	}
	m.reg.MustRegister(m, m.housekeeping, m.removed)
	return m
}

func (m *agentMetrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// housekept records one housekeeping round.
func (m *agentMetrics) housekept(h podworker.Housekeeping) {
	m.housekeeping.Observe(h.Took.Seconds())
	for kind, n := range h.Removed {
		m.removed.WithLabelValues(kind).Add(float64(n))
	}
}

// Describe sends the descriptions of the series read at scrape time.
func (m *agentMetrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.podState
	ch <- m.podsOnDisk
}

// Collect reads the per-pod state counts now.
func (m *agentMetrics) Collect(ch chan<- prometheus.Metric) {
	if w := m.worker.Load(); w != nil {
		for name, st := range w.States() {
			ch <- prometheus.MustNewConstMetric(m.podState, prometheus.GaugeValue, float64(st.PodCount()), name)
		}
	}
	if uids, err := m.volumes.PodsOnDisk(); err == nil {
		ch <- prometheus.MustNewConstMetric(m.podsOnDisk, prometheus.GaugeValue, float64(len(uids)))
	}
}
