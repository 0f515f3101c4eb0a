package stats

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	statsapi "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
)

type fixedSource struct {
	s   *statsapi.Summary
	err error
}

func (f fixedSource) Summary(context.Context) (*statsapi.Summary, error) { return f.s, f.err }

func TestHandler(t *testing.T) {
	t.Parallel()
	ok := Handler(fixedSource{s: &statsapi.Summary{Node: statsapi.NodeStats{NodeName: "n1"}}}, nil)
	failing := Handler(fixedSource{err: errors.New("runtime down")}, nil)
	for _, tc := range []struct {
		h          http.Handler
		method     string
		path       string
		code       int
		ctype      string
		bodyPrefix string
	}{
		{ok, "GET", "/metrics/resource", 200, "text/plain; version=0.0.4; charset=utf-8", "# HELP resource_scrape_error"},
		{ok, "GET", "/stats/summary", 200, "application/json", `{"node":{"nodeName":"n1"`},
		{ok, "POST", "/stats/summary", 405, "", ""},
		{ok, "GET", "/stats/other", 404, "", ""},
		// A failed reading is a scrape error in the metrics, as the
		// kubelet reports it, and a Status on the summary.
		{failing, "GET", "/metrics/resource", 200, "text/plain; version=0.0.4; charset=utf-8", "# HELP resource_scrape_error"},
		{failing, "GET", "/stats/summary", 500, "application/json", `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Internal error occurred: runtime down"`},
	} {
		rec := httptest.NewRecorder()
		tc.h.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, nil))
		if rec.Code != tc.code || (tc.ctype != "" && rec.Header().Get("Content-Type") != tc.ctype) || !strings.HasPrefix(rec.Body.String(), tc.bodyPrefix) {
			t.Errorf("%s %s: %d %q %q", tc.method, tc.path, rec.Code, rec.Header().Get("Content-Type"), rec.Body.String())
		}
	}
	rec := httptest.NewRecorder()
	failing.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics/resource", nil))
	if !strings.Contains(rec.Body.String(), "\nresource_scrape_error 1\n") {
		t.Errorf("failed reading: %s", rec.Body.String())
	}
}
