package apiserver

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"k8s.io/apiserver/pkg/admission"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the server's Prometheus series, on a registry of its own so
// several servers can live in one test process.
type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	// admission is the time each phase of the admission chain took, as
	// upstream's stable series; authorization the time each decision
	// took (upstream has no such series: ours carries our prefix).
	admission       *prometheus.HistogramVec
	admissionPlugin *prometheus.HistogramVec
	authorization   *prometheus.HistogramVec
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "apiserver_request_total",
			Help: "Requests served, by verb, group, version, resource, subresource and HTTP code.",
		}, []string{"verb", "group", "version", "resource", "subresource", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "apiserver_request_duration_seconds",
			Help:    "Request latency by verb and resource (watches excluded).",
			Buckets: []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
		}, []string{"verb", "group", "version", "resource", "subresource"}),
		admission: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "apiserver_admission_step_admission_duration_seconds",
			Help:    "Admission sub-step latency histogram in seconds, broken out for each operation and step type (validate or admit).",
			Buckets: []float64{0.005, 0.025, 0.1, 0.5, 1.0, 2.5},
		}, []string{"type", "operation", "rejected"}),
		admissionPlugin: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "apiserver_admission_controller_admission_duration_seconds",
			Help:    "Admission controller latency histogram in seconds, identified by name and broken out for each operation and type (validate or admit).",
			Buckets: []float64{0.005, 0.025, 0.1, 0.5, 1.0, 2.5},
		}, []string{"name", "type", "operation", "rejected"}),
		authorization: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "flotilla_apiserver_authorization_duration_seconds",
			Help:    "Time the authorizers took to decide a request, by decision (allowed or denied).",
			Buckets: []float64{0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.001, 0.005, 0.025, 0.1},
		}, []string{"decision"}),
	}
	m.reg.MustRegister(m.requests, m.latency, m.admission, m.admissionPlugin, m.authorization, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

type labelsKey struct{}

// requestLabels is filled in once the request is routed to a resource.
type requestLabels struct {
	verb, group, version, resource, subresource string
}

func withLabels(r *http.Request) (*http.Request, *requestLabels) {
	l := &requestLabels{}
	return r.WithContext(context.WithValue(r.Context(), labelsKey{}, l)), l
}

func setRequestLabels(r *http.Request, req *request) {
	if l, ok := r.Context().Value(labelsKey{}).(*requestLabels); ok {
		*l = requestLabels{verb: req.verb, group: req.gv.Group, version: req.gv.Version, resource: req.res.Plural, subresource: req.subresource}
	}
}

func (m *metrics) observe(r *http.Request, code int, d time.Duration) {
	l, ok := r.Context().Value(labelsKey{}).(*requestLabels)
	if !ok || l.verb == "" {
		// Only routed requests name a resource; anything else (unknown
		// paths, non-resource URLs, methods no handler knows) shares one
		// bucket per known method, so a client cannot create series.
		l = &requestLabels{verb: nonResourceVerb(r.Method), resource: "nonresource"}
	}
	m.requests.WithLabelValues(l.verb, l.group, l.version, l.resource, l.subresource, codeLabel(code)).Inc()
	if l.verb != "watch" && l.verb != "connect" {
		m.latency.WithLabelValues(l.verb, l.group, l.version, l.resource, l.subresource).Observe(d.Seconds())
	}
}

// nonResourceVerb is the label of a request that was not routed to a
// resource: its method when HTTP knows it, "other" otherwise.
func nonResourceVerb(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return method
	}
	return "other"
}

// codeLabel bounds the code label to real HTTP status codes.
func codeLabel(code int) string {
	if code < 100 || code > 599 {
		return "other"
	}
	return strconv.Itoa(code)
}

// observeAdmission records one phase ("admit" or "validate") of the
// admission chain for op; err is its refusal, if any.
func (m *metrics) observeAdmission(phase string, op admission.Operation, err error, d time.Duration) {
	m.admission.WithLabelValues(phase, string(op), strconv.FormatBool(err != nil)).Observe(d.Seconds())
}

// observeAdmissionPlugin records one plugin's part of a phase
// (admission.Observer).
func (m *metrics) observeAdmissionPlugin(plugin, phase string, op admission.Operation, rejected bool, d time.Duration) {
	m.admissionPlugin.WithLabelValues(plugin, phase, string(op), strconv.FormatBool(rejected)).Observe(d.Seconds())
}

// observeAuthorization records one decision of the authorizers.
func (m *metrics) observeAuthorization(allowed bool, d time.Duration) {
	decision := "denied"
	if allowed {
		decision = "allowed"
	}
	m.authorization.WithLabelValues(decision).Observe(d.Seconds())
}
