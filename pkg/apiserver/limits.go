package apiserver

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/authentication/user"

	"github.com/flotilla-io/flotilla/pkg/registry"
)

// Limits bound what requests may take from the server, as upstream's
// --request-timeout, --max-requests-inflight and
// --max-mutating-requests-inflight do. Long-running requests (watches,
// exec, attach, port-forward, proxy, logs) are bound by none of them.
// Zero values mean no limit.
type Limits struct {
	// RequestTimeout is the deadline of a non-long-running request; a
	// request's ?timeout= may shorten it. Upstream's default is 60 s.
	RequestTimeout time.Duration
	// MaxRequestsInFlight bounds concurrent read-only requests (get,
	// list), MaxMutatingRequestsInFlight every other verb. Upstream's
	// defaults are 400 and 200.
	MaxRequestsInFlight         int
	MaxMutatingRequestsInFlight int
}

// DefaultLimits are upstream's defaults.
var DefaultLimits = Limits{RequestTimeout: 60 * time.Second, MaxRequestsInFlight: 400, MaxMutatingRequestsInFlight: 200}

// WriteGrace is how much longer than RequestTimeout the HTTP server lets
// a non-long-running request read and write, so the handler's own 504
// still reaches the client before the connection's deadline cuts it.
const WriteGrace = 15 * time.Second

// longRunningSubresources are upstream's: their requests stream for as
// long as the client wants.
var longRunningSubresources = []string{"attach", "exec", "log", "portforward", "proxy"}

// inflight holds one slot per request being served; nil is unlimited.
type inflight struct {
	readOnly, mutating chan struct{}
}

func newInflight(l Limits) *inflight {
	in := &inflight{}
	if l.MaxRequestsInFlight > 0 {
		in.readOnly = make(chan struct{}, l.MaxRequestsInFlight)
	}
	if l.MaxMutatingRequestsInFlight > 0 {
		in.mutating = make(chan struct{}, l.MaxMutatingRequestsInFlight)
	}
	return in
}

// requestInfo is what is known of a request before routing: enough for
// the limits and the audit policy.
type requestInfo struct {
	verb        string // resource verb, or the lower-case method of anything else
	resource    *request
	longRunning bool
}

// mutating reports whether the verb changes state (upstream's in-flight
// split: get, list and watch read; everything else writes).
func (i requestInfo) mutating() bool {
	return i.verb != "get" && i.verb != "list" && i.verb != "watch"
}

// classify parses a request as the resource handlers will (discovery,
// non-resource paths and handler groups are not resource requests).
func (s *Server) classify(r *http.Request) requestInfo {
	segs := splitPath(r.URL.Path)
	var gv schema.GroupVersion
	var rest []string
	switch {
	case len(segs) >= 3 && segs[0] == "api":
		gv.Version, rest = segs[1], segs[2:]
	case len(segs) >= 4 && segs[0] == "apis":
		gv.Group, gv.Version, rest = segs[1], segs[2], segs[3:]
	}
	if rest != nil {
		w := r.URL.Query().Get("watch")
		if req, ok := s.parseResourcePath(gv, rest, r.Method, w == "true" || w == "1"); ok {
			long := req.verb == "watch" || req.verb == "connect" || slices.Contains(longRunningSubresources, req.subresource)
			return requestInfo{verb: req.verb, resource: req, longRunning: long}
		}
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return requestInfo{verb: "get"}
	}
	return requestInfo{verb: strings.ToLower(r.Method)}
}

// limit applies the in-flight bounds and the request deadline to an
// authenticated request (the caller's groups decide the exemption).
func (s *Server) limit(w http.ResponseWriter, r *http.Request, info requestInfo, u registry.User, next http.Handler) {
	rc := http.NewResponseController(w)
	if info.longRunning {
		// The HTTP server's read and write timeouts are for requests
		// that end; a watch or an exec session must outlive them.
		_ = rc.SetReadDeadline(time.Time{})
		_ = rc.SetWriteDeadline(time.Time{})
		next.ServeHTTP(w, r)
		return
	}
	slots := s.inflight.readOnly
	if info.mutating() {
		slots = s.inflight.mutating
	}
	if slots != nil {
		select {
		case slots <- struct{}{}:
			defer func() { <-slots }()
		default:
			// As upstream, system:masters (the admin and the server's
			// own loopback clients) always get an answer.
			if !slices.Contains(u.Groups, user.SystemPrivilegedGroup) {
				w.Header().Set("Retry-After", "1")
				http.Error(w, "Too many requests, please try again later.", http.StatusTooManyRequests)
				return
			}
		}
	}
	timeout := s.cfg.Limits.RequestTimeout
	if t, err := time.ParseDuration(r.URL.Query().Get("timeout")); err == nil && t > 0 && (timeout == 0 || t < timeout) {
		timeout = t
	}
	if timeout <= 0 {
		next.ServeHTTP(w, r)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	rec, _ := w.(interface{ wroteHeader() bool })
	next.ServeHTTP(w, r.WithContext(ctx))
	if rec != nil && !rec.wroteHeader() && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		st := errTimeout().ErrStatus
		s.writeStatus(w, r, &st)
	}
}

// errTimeout is upstream's answer to a request that outlived its
// deadline.
func errTimeout() *apierrors.StatusError {
	return apierrors.NewTimeoutError("request did not complete within the allotted timeout", 0)
}
