package server

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/flotilla-io/flotilla/pkg/agent"
	"github.com/flotilla-io/flotilla/pkg/extensions"
	"github.com/flotilla-io/flotilla/pkg/forward"
	"github.com/flotilla-io/flotilla/pkg/pki"
)

// podConnector hands pods' streaming subresources to the node agent that
// runs the pod: the in-process agent directly, an agent on another
// machine through its streaming endpoint.
type podConnector struct {
	agent     atomic.Pointer[agent.Agent]
	transport *http.Transport
	log       *slog.Logger

	clientOnce sync.Once
	newClient  func() (kubernetes.Interface, error)
	client     kubernetes.Interface
	clientErr  error
}

func newPodConnector(ca *pki.Authority, clientCert tls.Certificate, newClient func() (kubernetes.Interface, error), log *slog.Logger) *podConnector {
	return &podConnector{
		transport: &http.Transport{
			TLSClientConfig:     &tls.Config{RootCAs: ca.Pool(), Certificates: []tls.Certificate{clientCert}, MinVersion: tls.VersionTLS12},
			DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSHandshakeTimeout: 10 * time.Second,
			IdleConnTimeout:     90 * time.Second,
			MaxIdleConnsPerHost: 4,
		},
		newClient: newClient,
		log:       log,
	}
}

func (c *podConnector) ServePod(w http.ResponseWriter, r *http.Request, pod *corev1.Pod, subresource string) error {
	if a := c.agent.Load(); a != nil && a.NodeName() == pod.Spec.NodeName {
		return a.ServePod(w, r, pod, subresource)
	}
	target, err := c.endpoint(r.Context(), pod.Spec.NodeName)
	if err != nil {
		return err
	}
	target.Path = agent.StreamPath + pod.Namespace + "/" + pod.Name + "/" + subresource
	target.RawQuery = r.URL.RawQuery
	// The user's credentials stay here; the agent trusts the server's own
	// certificate.
	proxy := forward.To(target, forward.Options{
		Transport: c.transport,
		Header:    func(h http.Header) { h.Set(agent.StreamPodUIDHeader, string(pod.UID)) },
		OnError: func(w http.ResponseWriter, _ *http.Request, err error) {
			c.log.Warn("proxy to node agent", "node", pod.Spec.NodeName, "err", err)
			writeProxyError(w, pod.Spec.NodeName, err)
		},
	})
	proxy.ServeHTTP(w, r)
	return nil
}

// ServeNode forwards a request for the node's agent endpoint (PATH of
// nodes/NAME/proxy/PATH) to the agent: the in-process agent directly,
// another through its endpoint with the server's own certificate.
func (c *podConnector) ServeNode(w http.ResponseWriter, r *http.Request, node, path string) error {
	if a := c.agent.Load(); a != nil && a.NodeName() == node {
		a.ServeNode(w, r, path)
		return nil
	}
	target, err := c.endpoint(r.Context(), node)
	if err != nil {
		return err
	}
	target.Path = path
	target.RawQuery = r.URL.RawQuery
	forward.To(target, forward.Options{
		Transport: c.transport,
		OnError: func(w http.ResponseWriter, _ *http.Request, err error) {
			c.log.Warn("proxy to node agent", "node", node, "err", err)
			writeProxyError(w, node, err)
		},
	}).ServeHTTP(w, r)
	return nil
}

// endpoint is the URL of the streaming endpoint the node reports.
func (c *podConnector) endpoint(ctx context.Context, nodeName string) (*url.URL, error) {
	c.clientOnce.Do(func() { c.client, c.clientErr = c.newClient() })
	if c.clientErr != nil {
		return nil, apierrors.NewServiceUnavailable(fmt.Sprintf("no client for node lookups: %v", c.clientErr))
	}
	node, err := c.client.CoreV1().Nodes().Get(ctx, nodeName, metav1.GetOptions{})
	if err != nil {
		if apierrors.IsNotFound(err) {
			return nil, apierrors.NewServiceUnavailable(fmt.Sprintf("node %q of the pod does not exist", nodeName))
		}
		return nil, err
	}
	if node.Annotations[extensions.SimulatedNodeAnnotation] == "true" {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("node %q is simulated: its pods have no containers to stream from", nodeName))
	}
	port := node.Status.DaemonEndpoints.KubeletEndpoint.Port
	var ip string
	for _, a := range node.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			ip = a.Address
			break
		}
	}
	if ip == "" || port <= 0 {
		return nil, apierrors.NewServiceUnavailable(fmt.Sprintf("node %q does not report an agent endpoint", nodeName))
	}
	return &url.URL{Scheme: "https", Host: net.JoinHostPort(ip, strconv.Itoa(int(port)))}, nil
}

func writeProxyError(w http.ResponseWriter, node string, err error) {
	st := apierrors.NewServiceUnavailable(fmt.Sprintf("the node agent of node %q is not reachable: %v", node, err)).ErrStatus
	st.Kind, st.APIVersion = "Status", "v1"
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(int(st.Code))
	_ = json.NewEncoder(w).Encode(&st)
}
