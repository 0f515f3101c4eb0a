package ingress

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"
)

// targetKey carries the chosen endpoint from ServeHTTP to the proxy's
// Rewrite.
type targetKey struct{}

// newReverseProxy is the one proxy all requests go through; the endpoint
// of each comes in its context.
func newReverseProxy(cfg Config, log *slog.Logger) *httputil.ReverseProxy {
	transport := &http.Transport{
		// Never the environment's proxy: endpoints are pod addresses.
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: cfg.DialTimeout, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          512,
		MaxIdleConnsPerHost:   32,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(&url.URL{Scheme: "http", Host: pr.In.Context().Value(targetKey{}).(string)})
			// The backend sees the host the client asked for, as behind
			// nginx or traefik, not the pod's address.
			pr.Out.Host = pr.In.Host
			pr.SetXForwarded()
		},
		Transport: transport,
		ErrorLog:  slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			log.Debug("proxy", "host", r.Host, "path", r.URL.Path, "endpoint", r.Context().Value(targetKey{}), "err", err)
			if errors.Is(err, context.Canceled) {
				return // the client went away
			}
			http.Error(w, "bad gateway", http.StatusBadGateway)
		},
	}
}

// ServeHTTP routes one request by the current table: 404 when nothing
// matches, 503 when the matched backend has no ready endpoint, else the
// response of one endpoint.
func (c *Controller) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	t := c.table.Load()
	if p := cleanPath(r.URL.Path); p != r.URL.Path {
		r.URL.Path, r.URL.RawPath = p, ""
	}
	b := t.route(normalizeHost(r.Host), r.URL.Path)
	if b == nil {
		http.Error(w, "404 page not found", http.StatusNotFound)
		return
	}
	ep, ok := b.pick()
	if !ok {
		c.log.Debug("no endpoint", "host", r.Host, "path", r.URL.Path, "backend", b.name, "reason", b.unavailable)
		http.Error(w, "503 service unavailable: "+b.unavailable, http.StatusServiceUnavailable)
		return
	}
	c.proxy.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), targetKey{}, ep)))
}

// serve listens on both addresses until ctx ends or no IngressClass of
// ours is left, then shuts the servers down. Only a failed bind or a
// failed server is an error.
func (c *Controller) serve(ctx context.Context) error {
	httpLn, err := net.Listen("tcp", c.cfg.HTTPAddress)
	if err != nil {
		return fmt.Errorf("ingress: listen for HTTP on %s: %w", c.cfg.HTTPAddress, err)
	}
	httpsLn, err := net.Listen("tcp", c.cfg.HTTPSAddress)
	if err != nil {
		httpLn.Close()
		return fmt.Errorf("ingress: listen for HTTPS on %s: %w", c.cfg.HTTPSAddress, err)
	}
	errLog := slog.NewLogLogger(c.log.Handler(), slog.LevelDebug)
	// Requests' contexts end with connCtx, after Shutdown: that closes
	// the upgraded (websocket) connections, which Shutdown does not
	// track, since the proxy closes an upgrade's both ends when its
	// request's context ends.
	connCtx, endConns := context.WithCancel(context.WithoutCancel(ctx))
	defer endConns()
	base := func(net.Listener) context.Context { return connCtx }
	plain := &http.Server{Handler: c, ReadHeaderTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute, ErrorLog: errLog, BaseContext: base}
	secure := &http.Server{
		Handler: c, ReadHeaderTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute, ErrorLog: errLog, BaseContext: base,
		TLSConfig: &tls.Config{
			MinVersion: tls.VersionTLS12,
			NextProtos: []string{"h2", "http/1.1"},
			GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
				return c.table.Load().certificate(hello.ServerName, c.defCert), nil
			},
		},
	}
	addrs := [2]string{httpLn.Addr().String(), httpsLn.Addr().String()}
	c.addrs.Store(&addrs)
	c.log.Info("listening", "http", addrs[0], "https", addrs[1])
	failed := make(chan error, 2)
	go func() { failed <- plain.Serve(httpLn) }()
	go func() { failed <- secure.ServeTLS(httpsLn, "", "") }()
	var serveErr error
wait:
	for {
		select {
		case <-ctx.Done():
			break wait
		case <-c.servingChanged:
			if !c.table.Load().serving {
				break wait
			}
		case err := <-failed:
			serveErr = fmt.Errorf("ingress: serve: %w", err)
			break wait
		}
	}
	c.addrs.Store(nil)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.ShutdownTimeout)
	defer cancel()
	// Requests still running at the timeout are cut.
	if err := plain.Shutdown(sctx); err != nil {
		plain.Close()
	}
	if err := secure.Shutdown(sctx); err != nil {
		secure.Close()
	}
	endConns()
	// Both Serve calls have returned ErrServerClosed or the failure.
	for range 2 - boolInt(serveErr != nil) {
		<-failed
	}
	c.log.Info("stopped listening", "http", addrs[0], "https", addrs[1])
	return serveErr
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
