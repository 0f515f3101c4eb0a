package sim

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/flotilla-io/flotilla/pkg/agent/stats"
	"github.com/flotilla-io/flotilla/pkg/agent/stream"
	"github.com/flotilla-io/flotilla/pkg/extensions"
	"github.com/flotilla-io/flotilla/pkg/join"
)

// StatsConfig lets a Sim serve its nodes' resource usage as agents do:
// GET BASE/metrics/resource and BASE/stats/summary over HTTPS, to the API
// server's client certificate only, with BASE =
// https://ADDRESS/nodes/NODE announced in each Node's
// extensions.StatsEndpointAnnotation. The serving certificate is a node
// certificate the server issues for the join token, as an agent gets its.
type StatsConfig struct {
	Server string // the API server's URL, whose join endpoints issue the certificate
	Token  string // the server's join token (DATA-DIR/token)
	// Address is where the endpoints listen, an IP literal and a port
	// ("" = 127.0.0.1:0, a free loopback port).
	Address string
	// Dir keeps the certificate ("" = a temporary directory removed when
	// Run returns).
	Dir string
}

// What a simulated node uses besides its pods' annotated usage.
var (
	NodeBaseCPU    = resource.MustParse("100m")
	NodeBaseMemory = resource.MustParse("256Mi")
)

// statsServer serves the usage of a Sim's nodes.
type statsServer struct {
	ln   net.Listener
	srv  *http.Server
	base string // https://IP:PORT/nodes/
	dir  string // removed on close, when temporary
}

// openStats obtains the serving certificate and opens the listener; Run
// serves on it once the pods are known.
func (s *Sim) openStats(ctx context.Context) (*statsServer, error) {
	cfg := s.cfg.Stats
	addr := cfg.Address
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("stats address %q: %w", addr, err)
	}
	ip := net.ParseIP(host)
	if ip == nil || ip.IsUnspecified() {
		return nil, fmt.Errorf("stats address %q: want an IP address the server can reach, e.g. 127.0.0.1:0", addr)
	}
	ss := &statsServer{dir: cfg.Dir}
	dir := cfg.Dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "flotilla-sim-stats-"); err != nil {
			return nil, err
		}
		ss.dir = dir
		defer func() {
			if ss.ln == nil {
				_ = os.RemoveAll(dir)
			}
		}()
	}
	// An identity of its own, which no simulated node has.
	creds, err := join.Bootstrap(ctx, cfg.Server, cfg.Token, s.cfg.NamePrefix+"-stats", []net.IP{ip}, dir)
	if err != nil {
		return nil, fmt.Errorf("stats serving certificate: %w", err)
	}
	rc := creds.Client
	cert, err := tls.LoadX509KeyPair(creds.ServingCertFile, creds.ServingKeyFile)
	if err != nil {
		return nil, fmt.Errorf("stats serving certificate: %w", err)
	}
	caPEM, err := os.ReadFile(rc.CAFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("stats: the cluster CA is unreadable")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("stats listener: %w", err)
	}
	ss.ln = ln
	port := ln.Addr().(*net.TCPAddr).Port
	ss.base = "https://" + net.JoinHostPort(ip.String(), strconv.Itoa(port)) + "/nodes/"
	mux := http.NewServeMux()
	mux.HandleFunc("GET /nodes/{node}"+stats.ResourceMetricsPath, func(w http.ResponseWriter, r *http.Request) {
		if src := s.nodeSource(w, r); src != nil {
			stats.ServeResourceMetrics(w, r, src, s.log)
		}
	})
	mux.HandleFunc("GET /nodes/{node}"+stats.SummaryPath, func(w http.ResponseWriter, r *http.Request) {
		if src := s.nodeSource(w, r); src != nil {
			stats.ServeSummary(w, r, src)
		}
	})
	ss.srv = &http.Server{Handler: mux, TLSConfig: stream.APIServerOnly(cert, pool), ReadHeaderTimeout: 10 * time.Second}
	return ss, nil
}

// serve answers requests until ctx ends.
func (ss *statsServer) serve(ctx context.Context) error {
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = ss.srv.Shutdown(sctx)
	}()
	err := ss.srv.ServeTLS(ss.ln, "", "")
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	} else {
		_ = ss.srv.Close() // a failed Serve: release the shutdown goroutine's server too
	}
	<-stopped
	return err
}

// close releases the listener (if serve never ran) and a temporary
// certificate directory.
func (ss *statsServer) close(temporary bool) {
	_ = ss.ln.Close()
	if temporary {
		_ = os.RemoveAll(ss.dir)
	}
}

// nodeSource is the usage of the request's node, or nil after answering
// 404 for a node this sim does not run.
func (s *Sim) nodeSource(w http.ResponseWriter, r *http.Request) stats.Source {
	name := r.PathValue("node")
	if n := s.byName[name]; n != nil {
		return nodeUsage{s: s, n: n}
	}
	st := apierrors.NewNotFound(corev1.Resource("nodes"), name).ErrStatus
	st.Kind, st.APIVersion = "Status", "v1"
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(int(st.Code))
	_ = json.NewEncoder(w).Encode(&st)
	return nil
}

// statsEndpoint is the base URL a node's annotation announces, "" when
// the sim serves no usage.
func (s *Sim) statsEndpoint(n *simNode) string {
	if s.stats == nil {
		return ""
	}
	return s.stats.base + n.name
}

// nodeAnnotations are the annotations the sim sets on n's Node.
func (s *Sim) nodeAnnotations(n *simNode) map[string]string {
	a := map[string]string{AnnotationSimulated: "true"}
	if ep := s.statsEndpoint(n); ep != "" {
		a[extensions.StatsEndpointAnnotation] = ep
	}
	return a
}
