package stream

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"google.golang.org/grpc"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/flotilla-io/flotilla/pkg/agent/stats"
)

// APIServerClientName is the common name of the certificate the API server
// presents to node agents; it is the only client an agent's streaming
// endpoint serves.
const APIServerClientName = "system:flotilla:apiserver-agent-client"

// Path is where an agent serves a pod's streaming subresource:
// Path + NAMESPACE/NAME/SUBRESOURCE, with the API request's query.
const Path = "/flotilla/v1/pods/"

// Serving is the endpoint of an agent on another machine than the
// server.
type Serving struct {
	Address  string // IP to listen on; "" = all
	Port     int
	CertFile string // the node's certificate, which also serves NodeIP
	KeyFile  string
	ClientCA *x509.CertPool // the cluster CA, which signs the API server's client certificate
}

// Runtime is the CRI calls the streaming endpoints make.
type Runtime interface {
	Exec(ctx context.Context, in *runtimeapi.ExecRequest, opts ...grpc.CallOption) (*runtimeapi.ExecResponse, error)
	Attach(ctx context.Context, in *runtimeapi.AttachRequest, opts ...grpc.CallOption) (*runtimeapi.AttachResponse, error)
	PortForward(ctx context.Context, in *runtimeapi.PortForwardRequest, opts ...grpc.CallOption) (*runtimeapi.PortForwardResponse, error)
	ListContainers(ctx context.Context, in *runtimeapi.ListContainersRequest, opts ...grpc.CallOption) (*runtimeapi.ListContainersResponse, error)
	ListPodSandbox(ctx context.Context, in *runtimeapi.ListPodSandboxRequest, opts ...grpc.CallOption) (*runtimeapi.ListPodSandboxResponse, error)
}

// StaticPods maps a mirror pod to the static pod it stands for (whose UID
// the runtime knows); any other pod to itself.
type StaticPods interface {
	StaticOf(pod *corev1.Pod) *corev1.Pod
}

// Config is what a Server needs.
type Config struct {
	NodeName string
	DataDir  string                  // the agent's data directory, which holds the pods' logs
	Pods     corev1client.PodsGetter // reads a pod again for a request from the endpoint
	Runtime  func() Runtime          // the current runtime; nil before the agent runs
	Static   StaticPods
	// Stats, when set, serves the node's usage (package stats) beside
	// the streams, to the same single client.
	Stats http.Handler
	// Metrics, when set, serves the agent's own series on MetricsPath.
	Metrics http.Handler
	Log     *slog.Logger
}

// MetricsPath is where the endpoint serves the agent's own series, as
// the kubelet's /metrics.
const MetricsPath = "/metrics"

// Server serves one node's pods' streaming subresources.
type Server struct {
	node    string
	dataDir string
	pods    corev1client.PodsGetter
	runtime func() Runtime
	static  StaticPods
	stats   http.Handler
	metrics http.Handler
	log     *slog.Logger
}

// New is a Server of cfg.
func New(cfg Config) *Server {
	return &Server{node: cfg.NodeName, dataDir: cfg.DataDir, pods: cfg.Pods, runtime: cfg.Runtime, static: cfg.Static, stats: cfg.Stats, metrics: cfg.Metrics, log: cfg.Log}
}

// TLSServer builds the TLS server of the endpoint st; the agent builds it
// before its Run goes on, so a certificate problem fails the start.
func (s *Server) TLSServer(st *Serving) (*http.Server, error) {
	cert, err := tls.LoadX509KeyPair(st.CertFile, st.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("agent streaming certificate: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+Path+"{namespace}/{name}/{subresource}", s.serveStreamRequest)
	mux.HandleFunc("POST "+Path+"{namespace}/{name}/{subresource}", s.serveStreamRequest)
	if s.stats != nil {
		mux.Handle("GET "+stats.ResourceMetricsPath, s.stats)
		mux.Handle("GET "+stats.SummaryPath, s.stats)
	}
	if s.metrics != nil {
		mux.Handle("GET "+MetricsPath, s.metrics)
	}
	return &http.Server{
		Addr:              net.JoinHostPort(st.Address, strconv.Itoa(st.Port)),
		Handler:           mux,
		TLSConfig:         APIServerOnly(cert, st.ClientCA),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          nil,
	}, nil
}

// APIServerOnly is the TLS configuration of an endpoint serving cert to
// the API server alone: a client certificate of clientCA whose common
// name is APIServerClientName. Simulated nodes' endpoints use it too.
func APIServerOnly(cert tls.Certificate, clientCA *x509.CertPool) *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    clientCA,
		MinVersion:   tls.VersionTLS12,
		VerifyPeerCertificate: func(_ [][]byte, chains [][]*x509.Certificate) error {
			if len(chains) == 0 || chains[0][0].Subject.CommonName != APIServerClientName {
				return errors.New("only the API server may use this endpoint")
			}
			return nil
		},
	}
}

// Serve runs srv until ctx ends.
func (s *Server) Serve(ctx context.Context, srv *http.Server) {
	ln, err := net.Listen("tcp", srv.Addr)
	if err != nil {
		s.log.Error("agent streaming endpoint", "addr", srv.Addr, "err", err)
		return
	}
	s.log.Info("serving pod streams", "addr", ln.Addr().String())
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		_ = srv.Close() // hijacked streams end with the agent
	}()
	if err := srv.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
		s.log.Error("agent streaming endpoint", "err", err)
	}
	<-done
}

// serveStreamRequest serves one pod's logs, exec, attach or port-forward
// for the API server, which has authorised the user already. The pod is
// read again so a stale or foreign request cannot reach another pod's
// containers.
func (s *Server) serveStreamRequest(w http.ResponseWriter, r *http.Request) {
	ns, name, sub := r.PathValue("namespace"), r.PathValue("name"), r.PathValue("subresource")
	err := func() error {
		switch sub {
		case "log", "exec", "attach", "portforward":
		default:
			return apierrors.NewNotFound(corev1.Resource("pods/"+sub), name)
		}
		pod, err := s.pods.Pods(ns).Get(r.Context(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if uid := r.Header.Get(PodUIDHeader); uid != "" && types.UID(uid) != pod.UID {
			return apierrors.NewConflict(corev1.Resource("pods"), name, errors.New("the pod was replaced"))
		}
		return s.ServePod(w, r, pod, sub)
	}()
	if err != nil {
		writeStreamError(w, err)
	}
}

// PodUIDHeader carries the UID of the pod the API server resolved, so
// the agent serves that pod and not a namesake created since.
const PodUIDHeader = "X-Flotilla-Pod-Uid"

// writeStreamError answers with a Status the API server passes through to
// the client unchanged.
func writeStreamError(w http.ResponseWriter, err error) {
	var st metav1.Status
	if se, ok := err.(apierrors.APIStatus); ok {
		st = se.Status()
	} else {
		st = apierrors.NewInternalError(err).ErrStatus
	}
	st.Kind, st.APIVersion = "Status", "v1"
	body, mErr := json.Marshal(&st)
	if mErr != nil {
		http.Error(w, st.Message, int(st.Code))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(int(st.Code))
	_, _ = w.Write(body)
}
