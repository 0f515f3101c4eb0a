package apiserver

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	auditinternal "k8s.io/apiserver/pkg/apis/audit"
	"k8s.io/apiserver/pkg/audit"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/client-go/kubernetes/scheme"
)

// blockingServer serves a handler group whose requests wait until
// release is closed (or their context ends), and tells entered of each.
func blockingServer(t *testing.T, l Limits) (srv *httptest.Server, entered chan struct{}, release chan struct{}) {
	t.Helper()
	entered, release = make(chan struct{}, 100), make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		select {
		case <-release:
			w.WriteHeader(http.StatusOK)
		case <-r.Context().Done():
		}
	})
	s, err := New(Config{
		Scheme: scheme.Scheme,
		Groups: []HandlerGroup{{GroupVersion: schema.GroupVersion{Group: "block.test", Version: "v1"}, Handler: h}},
		Limits: l,
		Authenticate: func(r *http.Request) (User, bool) {
			return User{Name: "u", Groups: r.Header.Values("X-Group")}, true
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv = httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return srv, entered, release
}

func do(t *testing.T, method, url string, groups ...string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	for _, g := range groups {
		req.Header.Add("X-Group", g)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func TestMaxInFlight(t *testing.T) {
	srv, entered, release := blockingServer(t, Limits{MaxRequestsInFlight: 2, MaxMutatingRequestsInFlight: 1})
	url := srv.URL + "/apis/block.test/v1/things"
	done := make(chan int, 10)
	for _, m := range []string{"GET", "GET", "POST"} {
		go func() {
			resp := do(t, m, url)
			resp.Body.Close()
			done <- resp.StatusCode
		}()
		<-entered
	}
	// Every slot is taken: the next read and the next write are refused
	// as upstream refuses them.
	for _, m := range []string{"GET", "PUT"} {
		resp := do(t, m, url)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "1" || !strings.Contains(string(body), "Too many requests") {
			t.Errorf("%s over the limit: %d Retry-After=%q %q, want 429 Retry-After=1", m, resp.StatusCode, resp.Header.Get("Retry-After"), body)
		}
	}
	// system:masters always gets an answer.
	go func() {
		resp := do(t, "GET", url, "system:masters")
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	<-entered
	close(release)
	for range 4 {
		if code := <-done; code != http.StatusOK {
			t.Errorf("admitted request answered %d", code)
		}
	}
	// Slots are given back.
	resp := do(t, "GET", url)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("after release: %d", resp.StatusCode)
	}
}

func TestRequestTimeout(t *testing.T) {
	srv, _, _ := blockingServer(t, Limits{RequestTimeout: 300 * time.Millisecond})
	for _, url := range []string{srv.URL + "/apis/block.test/v1/things", srv.URL + "/apis/block.test/v1/things?timeout=100ms"} {
		start := time.Now()
		resp := do(t, "GET", url)
		var st metav1.Status
		_ = json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		if resp.StatusCode != http.StatusGatewayTimeout || st.Reason != metav1.StatusReasonTimeout ||
			st.Message != "Timeout: request did not complete within the allotted timeout" {
			t.Errorf("%s: %d %q %q, want upstream's 504", url, resp.StatusCode, st.Reason, st.Message)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%s: answered after %v", url, d)
		}
	}
}

func TestClassifyLongRunning(t *testing.T) {
	s, err := New(Config{Scheme: scheme.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		method, url, verb string
	}{
		{"GET", "/api/v1/pods", "get"},
		{"POST", "/apis/apps/v1/deployments", "post"},
		{"DELETE", "/healthz", "delete"},
	} {
		r := httptest.NewRequest(tc.method, tc.url, nil)
		info := s.classify(r)
		if info.verb != tc.verb || info.longRunning || !info.mutating() != (tc.verb == "get") {
			t.Errorf("%s %s: %+v", tc.method, tc.url, info)
		}
	}
}

// recordingAuditor audits everything at Metadata and keeps the events.
type recordingAuditor struct {
	mu     sync.Mutex
	events []*auditinternal.Event
}

func (a *recordingAuditor) EvaluatePolicyRule(authorizer.Attributes) audit.RequestAuditConfig {
	return audit.RequestAuditConfig{Level: auditinternal.LevelMetadata}
}

func (a *recordingAuditor) ProcessEvents(evs ...*auditinternal.Event) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.events = append(a.events, evs...)
	return true
}

// TestAuditPanicStage: a handler that panics is recorded at the Panic
// stage with a 500, after RequestReceived, and the client gets a 500.
func TestAuditPanicStage(t *testing.T) {
	rec := &recordingAuditor{}
	s, err := New(Config{
		Scheme: scheme.Scheme,
		Groups: []HandlerGroup{{GroupVersion: schema.GroupVersion{Group: "panic.test", Version: "v1"}, Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
			panic("boom")
		})}},
		Audit:        rec,
		Authenticate: func(*http.Request) (User, bool) { return User{Name: "u"}, true },
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	defer srv.Close()
	resp := do(t, "GET", srv.URL+"/apis/panic.test/v1/things")
	resp.Body.Close()
	if resp.StatusCode != http.StatusInternalServerError {
		t.Fatalf("panicking handler answered %d", resp.StatusCode)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.events) != 2 || rec.events[0].Stage != auditinternal.StageRequestReceived || rec.events[1].Stage != auditinternal.StagePanic ||
		rec.events[1].ResponseStatus == nil || rec.events[1].ResponseStatus.Code != 500 || rec.events[0].AuditID != rec.events[1].AuditID {
		t.Fatalf("events: %+v", rec.events)
	}
}
