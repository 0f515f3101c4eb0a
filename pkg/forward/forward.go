// Package forward builds the reverse proxies that hand a caller's request
// on to another endpoint (a pod, a node agent, the container runtime)
// without the caller's credentials: whoever answers there must never see
// the bearer token or impersonation headers the API server checked.
package forward

import (
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
)

// Options tunes a proxy made by To.
type Options struct {
	// Transport carries the request; nil means http.DefaultTransport.
	Transport http.RoundTripper
	// Header, when set, adds or replaces headers of the outgoing request
	// after the credentials are gone.
	Header func(http.Header)
	// OnError answers the caller when target cannot be reached.
	OnError func(w http.ResponseWriter, r *http.Request, err error)
}

// To returns a proxy that sends every request to target: its scheme,
// host, path and query replace the request's. Responses are flushed at
// once, so followed logs and upgraded streams are not held back.
func To(target *url.URL, opts Options) *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Transport:     opts.Transport,
		FlushInterval: -1,
		Rewrite: func(pr *httputil.ProxyRequest) {
			u := *target
			pr.Out.URL = &u
			pr.Out.Host = target.Host
			StripCredentials(pr.Out.Header)
			if opts.Header != nil {
				opts.Header(pr.Out.Header)
			}
		},
		ErrorHandler: opts.OnError,
	}
}

// StripCredentials removes what authenticated the caller to us:
// Authorization and every Impersonate-* header.
func StripCredentials(h http.Header) {
	h.Del("Authorization")
	for k := range h {
		if strings.HasPrefix(k, "Impersonate-") {
			delete(h, k)
		}
	}
}
