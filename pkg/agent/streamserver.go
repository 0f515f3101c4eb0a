package agent

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// APIServerClientName is the common name of the certificate the API server
// presents to node agents; it is the only client an agent's streaming
// endpoint serves.
const APIServerClientName = "system:flotilla:apiserver-agent-client"

// StreamPath is where an agent serves a pod's streaming subresource:
// StreamPath + NAMESPACE/NAME/SUBRESOURCE, with the API request's query.
const StreamPath = "/flotilla/v1/pods/"

// StreamServing is the endpoint of an agent on another machine than the
// server.
type StreamServing struct {
	Address  string // IP to listen on; "" = all
	Port     int
	CertFile string // the node's certificate, which also serves NodeIP
	KeyFile  string
	ClientCA *x509.CertPool // the cluster CA, which signs the API server's client certificate
}

// streamServer builds the TLS server before Run goes on, so a port in use
// fails the start.
func (a *Agent) streamServer() (*http.Server, error) {
	st := a.cfg.Stream
	cert, err := tls.LoadX509KeyPair(st.CertFile, st.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("agent streaming certificate: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+StreamPath+"{namespace}/{name}/{subresource}", a.serveStreamRequest)
	mux.HandleFunc("POST "+StreamPath+"{namespace}/{name}/{subresource}", a.serveStreamRequest)
	return &http.Server{
		Addr:    net.JoinHostPort(st.Address, strconv.Itoa(st.Port)),
		Handler: mux,
		TLSConfig: &tls.Config{
			Certificates: []tls.Certificate{cert},
			ClientAuth:   tls.RequireAndVerifyClientCert,
			ClientCAs:    st.ClientCA,
			MinVersion:   tls.VersionTLS12,
			VerifyPeerCertificate: func(_ [][]byte, chains [][]*x509.Certificate) error {
				if len(chains) == 0 || chains[0][0].Subject.CommonName != APIServerClientName {
					return errors.New("only the API server may use this endpoint")
				}
				return nil
			},
		},
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          nil,
	}, nil
}

// serveStreams runs srv until ctx ends.
func (a *Agent) serveStreams(ctx context.Context, srv *http.Server) {
	ln, err := net.Listen("tcp", srv.Addr)
	if err != nil {
		a.log.Error("agent streaming endpoint", "addr", srv.Addr, "err", err)
		return
	}
	a.log.Info("serving pod streams", "addr", ln.Addr().String())
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
		a.log.Error("agent streaming endpoint", "err", err)
	}
	<-done
}

// serveStreamRequest serves one pod's logs, exec, attach or port-forward
// for the API server, which has authorised the user already. The pod is
// read again so a stale or foreign request cannot reach another pod's
// containers.
func (a *Agent) serveStreamRequest(w http.ResponseWriter, r *http.Request) {
	ns, name, sub := r.PathValue("namespace"), r.PathValue("name"), r.PathValue("subresource")
	err := func() error {
		switch sub {
		case "log", "exec", "attach", "portforward":
		default:
			return apierrors.NewNotFound(corev1.Resource("pods/"+sub), name)
		}
		pod, err := a.cs.CoreV1().Pods(ns).Get(r.Context(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if uid := r.Header.Get(StreamPodUIDHeader); uid != "" && types.UID(uid) != pod.UID {
			return apierrors.NewConflict(corev1.Resource("pods"), name, errors.New("the pod was replaced"))
		}
		return a.ServePod(w, r, pod, sub)
	}()
	if err != nil {
		writeStreamError(w, err)
	}
}

// StreamPodUIDHeader carries the UID of the pod the API server resolved,
// so the agent serves that pod and not a namesake created since.
const StreamPodUIDHeader = "X-Flotilla-Pod-Uid"

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
