package apiserver

import (
	"crypto/tls"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	proxyutil "k8s.io/apimachinery/pkg/util/proxy"

	"github.com/flotilla-io/flotilla/pkg/forward"
	"github.com/flotilla-io/flotilla/pkg/storage"
)

// podProxyTransport reaches pods' own servers. Their certificates, when
// they serve TLS, are their business: upstream's API server does not check
// them either.
var podProxyTransport = &http.Transport{
	DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
	TLSClientConfig:       &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // see above
	TLSHandshakeTimeout:   10 * time.Second,
	ResponseHeaderTimeout: 2 * time.Minute,
	IdleConnTimeout:       90 * time.Second,
	MaxIdleConnsPerHost:   4,
}

// proxyName splits the name of a proxy request: NAME, NAME:PORT or
// SCHEME:NAME:PORT.
func proxyName(s string) (scheme, name, port string, err error) {
	parts := strings.Split(s, ":")
	switch len(parts) {
	case 1:
		name = parts[0]
	case 2:
		name, port = parts[0], parts[1]
	case 3:
		scheme, name, port = parts[0], parts[1], parts[2]
	default:
		return "", "", "", badRequest("invalid proxy name %q", s)
	}
	switch scheme {
	case "", "http", "https":
	default:
		return "", "", "", badRequest("invalid scheme %q in %q", scheme, s)
	}
	if name == "" {
		return "", "", "", badRequest("invalid proxy name %q", s)
	}
	return scheme, name, port, nil
}

// podProxyTarget is where pods/NAME[:PORT]/proxy/PATH goes: the pod's
// address and the port asked for, or its first declared container port.
func podProxyTarget(pod *corev1.Pod, scheme, port, path string) (*url.URL, error) {
	if pod.Status.PodIP == "" {
		return nil, apierrors.NewServiceUnavailable(fmt.Sprintf("pod %s has no IP address yet", pod.Name))
	}
	if port == "" {
		for _, c := range pod.Spec.Containers {
			if len(c.Ports) > 0 {
				port = strconv.Itoa(int(c.Ports[0].ContainerPort))
				break
			}
		}
	}
	host := pod.Status.PodIP
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return nil, badRequest("invalid port %q", port)
		}
		host = net.JoinHostPort(pod.Status.PodIP, port)
	}
	if scheme == "" {
		scheme = "http"
	}
	if path == "" {
		path = "/"
	}
	return &url.URL{Scheme: scheme, Host: host, Path: path}, nil
}

// proxyTo forwards r to target, without the caller's credentials. Links
// and redirects in HTML answers are rewritten to go through the proxy
// again (apimachinery's proxy transport, as upstream's API server).
func (s *Server) proxyTo(w http.ResponseWriter, r *http.Request, target *url.URL) {
	t := *target
	t.RawPath, t.RawQuery = "", r.URL.RawQuery
	suffix := target.Path
	if strings.HasSuffix(r.URL.Path, "/") && !strings.HasSuffix(suffix, "/") {
		suffix += "/"
	}
	p := forward.To(&t, forward.Options{
		Transport: &proxyutil.Transport{PathPrepend: strings.TrimSuffix(r.URL.Path, suffix), RoundTripper: podProxyTransport},
		OnError: func(w http.ResponseWriter, r *http.Request, err error) {
			s.log.Warn("proxy", "target", target.Host, "err", err)
			st := apierrors.NewServiceUnavailable(fmt.Sprintf("error trying to reach service: %v", err)).ErrStatus
			s.writeStatus(w, r, &st)
		},
	})
	p.ServeHTTP(w, r)
}

// serviceProxyTarget is where services/NAME[:PORT]/proxy/PATH goes, as
// upstream picks it: a ready address of the Service's Endpoints, chosen at
// random, on the endpoint port named PORT (a port number names the
// Service port with that number; no PORT, the unnamed one).
func (s *Server) serviceProxyTarget(r *http.Request, ns, scheme, name, port, path string) (*url.URL, error) {
	svcs := s.byGVK[corev1.SchemeGroupVersion.WithKind("Service")]
	eps := s.byGVK[corev1.SchemeGroupVersion.WithKind("Endpoints")]
	if svcs == nil || eps == nil {
		return nil, apierrors.NewServiceUnavailable("services are not served")
	}
	if n, err := strconv.Atoi(port); err == nil {
		obj, err := svcs.Store.Get(r.Context(), svcs.Store.Key(ns, name))
		if err != nil {
			return nil, err
		}
		found := false
		for _, sp := range obj.(*corev1.Service).Spec.Ports {
			if int(sp.Port) == n {
				port, found = sp.Name, true
				break
			}
		}
		if !found {
			return nil, apierrors.NewServiceUnavailable(fmt.Sprintf("no service port %d found for service %q", n, name))
		}
	}
	obj, err := eps.Store.Get(r.Context(), eps.Store.Key(ns, name))
	if storage.IsNotFound(err) {
		return nil, apierrors.NewServiceUnavailable(fmt.Sprintf("no endpoints available for service %q", name))
	}
	if err != nil {
		return nil, err
	}
	subsets := obj.(*corev1.Endpoints).Subsets
	if len(subsets) > 0 {
		first := rand.IntN(len(subsets))
		for i := range subsets {
			ss := subsets[(first+i)%len(subsets)]
			if len(ss.Addresses) == 0 {
				continue
			}
			for _, p := range ss.Ports {
				if p.Name != port {
					continue
				}
				addr := ss.Addresses[rand.IntN(len(ss.Addresses))]
				if scheme == "" {
					scheme = "http"
				}
				if path == "" {
					path = "/"
				}
				return &url.URL{Scheme: scheme, Host: net.JoinHostPort(addr.IP, strconv.Itoa(int(p.Port))), Path: path}, nil
			}
		}
	}
	return nil, apierrors.NewServiceUnavailable(fmt.Sprintf("no endpoints available for service %q", name))
}

// redirectProxyRoot answers a GET or HEAD of .../proxy (no path at all)
// with a permanent redirect to .../proxy/, as upstream's proxy handler
// does, so that relative links of the page resolve under the proxy.
func redirectProxyRoot(w http.ResponseWriter, r *http.Request, req *request) bool {
	if req.proxyPath != "" || strings.HasSuffix(r.URL.Path, "/") || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
		return false
	}
	loc := r.URL.Path + "/"
	if r.URL.RawQuery != "" {
		loc += "?" + r.URL.RawQuery
	}
	w.Header().Set("Location", loc)
	w.WriteHeader(http.StatusMovedPermanently)
	return true
}
