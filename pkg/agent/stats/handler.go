package stats

import (
	"bufio"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	statsapi "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
)

// Paths where a node serves its usage.
const (
	ResourceMetricsPath = "/metrics/resource"
	SummaryPath         = "/stats/summary"
)

// Source is a node's usage: a Collector, or a simulated node's.
type Source interface {
	// Summary is the node's usage; with an error it may be partial
	// (node only) or nil.
	Summary(ctx context.Context) (*statsapi.Summary, error)
}

// Handler serves GET ResourceMetricsPath and GET SummaryPath of src. Who
// may read them is the caller's business (the agent's TLS server admits
// only the API server).
func Handler(src Source, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+ResourceMetricsPath, func(w http.ResponseWriter, r *http.Request) {
		ServeResourceMetrics(w, r, src, log)
	})
	mux.HandleFunc("GET "+SummaryPath, func(w http.ResponseWriter, r *http.Request) {
		ServeSummary(w, r, src)
	})
	return mux
}

// ServeResourceMetrics answers one /metrics/resource request from src. A
// failed measurement is reported in the body (resource_scrape_error 1),
// as the kubelet does, with whatever was measured.
func ServeResourceMetrics(w http.ResponseWriter, r *http.Request, src Source, log *slog.Logger) {
	s, err := src.Summary(r.Context())
	if err != nil && log != nil {
		log.Warn("resource metrics", "err", err)
	}
	w.Header().Set("Content-Type", ResourceMetricsContentType)
	bw := bufio.NewWriterSize(w, 32<<10)
	if err := WriteResourceMetrics(bw, s, err != nil); err != nil {
		return // the client went away
	}
	_ = bw.Flush()
}

// ServeSummary answers one /stats/summary request from src: CPU and
// memory only, whatever only_cpu_and_memory says.
func ServeSummary(w http.ResponseWriter, r *http.Request, src Source) {
	s, err := src.Summary(r.Context())
	if err != nil {
		st := apierrors.NewInternalError(err).ErrStatus
		st.Kind, st.APIVersion = "Status", "v1"
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(int(st.Code))
		_ = json.NewEncoder(w).Encode(&st)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(s)
}
