package forward

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
)

func TestToDropsCredentials(t *testing.T) {
	var got *http.Request
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r
		io.WriteString(w, "ok")
	}))
	defer backend.Close()
	target, _ := url.Parse(backend.URL + "/there")
	target.RawQuery = "a=1"
	p := To(target, Options{Header: func(h http.Header) { h.Set("X-Pod-Uid", "u1") }})
	front := httptest.NewServer(p)
	defer front.Close()

	req, _ := http.NewRequest(http.MethodGet, front.URL+"/here?b=2", nil)
	req.Header.Set("Authorization", "Bearer secret")
	req.Header.Set("Impersonate-User", "admin")
	req.Header.Set("Impersonate-Extra-Scopes", "x")
	req.Header.Set("Accept", "text/plain")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "ok" {
		t.Fatalf("body %q", body)
	}
	if got.URL.Path != "/there" || got.URL.RawQuery != "a=1" {
		t.Errorf("forwarded to %s, want /there?a=1", got.URL)
	}
	for _, h := range []string{"Authorization", "Impersonate-User", "Impersonate-Extra-Scopes"} {
		if v := got.Header.Get(h); v != "" {
			t.Errorf("%s reached the backend: %q", h, v)
		}
	}
	if got.Header.Get("Accept") != "text/plain" || got.Header.Get("X-Pod-Uid") != "u1" {
		t.Errorf("headers lost or not added: %v", got.Header)
	}
}

func TestToReportsUnreachableTarget(t *testing.T) {
	target, _ := url.Parse("http://127.0.0.1:1/")
	var reported error
	p := To(target, Options{OnError: func(w http.ResponseWriter, _ *http.Request, err error) {
		reported = err
		w.WriteHeader(http.StatusServiceUnavailable)
	}})
	rec := httptest.NewRecorder()
	p.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if reported == nil || rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("code %d, err %v", rec.Code, reported)
	}
}
