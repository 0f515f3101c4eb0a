// Package lagtest lets a controller test hold back one resource's watch
// events from the controller's informers, as a lagging cache would, and
// see what the controller then asks of the API server.
//
// The garbage collector deletes the dependents of a deleted owner right
// after the owner; a controller whose cache still shows the owner then
// sees its pods (or ReplicaSets) go and must not replace them.
package lagtest

import (
	"io"
	"net/http"
	"strings"
	"sync"
)

// Lag wraps a controller's transport (rest.Config.Wrap).
type Lag struct {
	held     sync.RWMutex // write-locked while the watch is held back
	holding  bool
	mu       sync.Mutex
	requests []Request
}

// Request is one request the controller made and its response status.
type Request struct {
	Method, Path string
	Status       int
}

// Wrap holds back the watch responses whose path ends in /resource
// (e.g. "replicasets": the informer watches across namespaces) while
// Hold is in force, and records every request.
func (l *Lag) Wrap(resource string) func(http.RoundTripper) http.RoundTripper {
	return func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			resp, err := rt.RoundTrip(r)
			if err != nil {
				return resp, err
			}
			l.mu.Lock()
			l.requests = append(l.requests, Request{Method: r.Method, Path: r.URL.Path, Status: resp.StatusCode})
			l.mu.Unlock()
			if r.URL.Query().Get("watch") == "true" && strings.HasSuffix(r.URL.Path, "/"+resource) {
				resp.Body = heldBody{resp.Body, &l.held}
			}
			return resp, nil
		})
	}
}

// Hold stops handing on watch events (those already read go through).
func (l *Lag) Hold() {
	l.held.Lock()
	l.mu.Lock()
	l.holding = true
	l.mu.Unlock()
}

// Release hands on the held events and the ones after; a no-op unless
// held, so a test may defer it.
func (l *Lag) Release() {
	l.mu.Lock()
	holding := l.holding
	l.holding = false
	l.mu.Unlock()
	if holding {
		l.held.Unlock()
	}
}

// Requests are the requests with that method whose path is path, in order.
func (l *Lag) Requests(method, path string) []Request {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []Request
	for _, r := range l.requests {
		if r.Method == method && r.Path == path {
			out = append(out, r)
		}
	}
	return out
}

// Answered reports whether a request with that method and path got status.
func (l *Lag) Answered(method, path string, status int) bool {
	for _, r := range l.Requests(method, path) {
		if r.Status == status {
			return true
		}
	}
	return false
}

type heldBody struct {
	io.ReadCloser
	held *sync.RWMutex
}

// Read hands on what it read only once no hold is in force.
func (b heldBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.held.RLock()
	b.held.RUnlock() // only waits out a hold
	return n, err
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
