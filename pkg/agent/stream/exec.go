package stream

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/flotilla-io/flotilla/pkg/agent/internal/podrun"
	"github.com/flotilla-io/flotilla/pkg/forward"
	"github.com/flotilla-io/flotilla/pkg/streaming"
)

// streamTransport reaches containerd's streaming server, which listens on
// loopback only; never through an environment proxy.
var streamTransport = &http.Transport{
	Proxy:             nil,
	DialContext:       (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
	DisableKeepAlives: true,
}

// serveStream serves exec, attach and portforward the kubelet's way: the
// CRI call returns a URL on containerd's streaming server and the client's
// SPDY upgrade request is proxied there. containerd 1.6 speaks SPDY only,
// so a WebSocket request (kubectl's first choice) is accepted here and
// translated to a SPDY session with containerd by pkg/streaming.
func (s *Server) serveStream(w http.ResponseWriter, r *http.Request, pod *corev1.Pod, subresource string) error {
	websocket := streaming.IsWebSocket(r)
	if websocket {
		// Before the CRI call, whose URL would go unused.
		if err := streaming.Check(r, subresource); err != nil {
			return err
		}
	} else if !strings.HasPrefix(strings.ToLower(r.Header.Get("Upgrade")), "spdy/") {
		return apierrors.NewBadRequest("Upgrade request required")
	}
	rt := s.runtime()
	if rt == nil {
		return apierrors.NewServiceUnavailable("the node agent's container runtime is not ready")
	}
	ctx := r.Context()
	var target string
	var opts streaming.Options
	switch subresource {
	case "exec", "attach":
		req, err := s.execRequest(ctx, rt, r, pod)
		if err != nil {
			return err
		}
		opts = streaming.Options{Stdin: req.Stdin, Stdout: req.Stdout, Stderr: req.Stderr, TTY: req.Tty}
		if subresource == "attach" {
			resp, err := rt.Attach(ctx, &runtimeapi.AttachRequest{ContainerId: req.ContainerId, Stdin: req.Stdin, Stdout: req.Stdout, Stderr: req.Stderr, Tty: req.Tty})
			if err != nil {
				return apierrors.NewInternalError(fmt.Errorf("attach: %w", err))
			}
			target = resp.Url
			break
		}
		if len(req.Cmd) == 0 {
			return apierrors.NewBadRequest("you must specify at least 1 command")
		}
		resp, err := rt.Exec(ctx, req)
		if err != nil {
			return apierrors.NewInternalError(fmt.Errorf("exec: %w", err))
		}
		target = resp.Url
	case "portforward":
		req, err := s.portForwardRequest(ctx, rt, r, pod)
		if err != nil {
			return err
		}
		resp, err := rt.PortForward(ctx, req)
		if err != nil {
			return apierrors.NewInternalError(fmt.Errorf("port forward: %w", err))
		}
		target = resp.Url
	default:
		return apierrors.NewServiceUnavailable(fmt.Sprintf("pods/%s is not served by the node agent", subresource))
	}
	u, err := url.Parse(target)
	if err != nil {
		return apierrors.NewInternalError(fmt.Errorf("streaming URL %q: %w", target, err))
	}
	if websocket {
		log := s.log.With("pod", pod.Namespace+"/"+pod.Name, "subresource", subresource)
		if subresource == "portforward" {
			return streaming.ServePortForward(w, r, u, streamTransport, log)
		}
		return streaming.ServeRemoteCommand(w, r, u, streamTransport, opts, log)
	}
	s.proxyStream(w, r, u, pod, subresource)
	return nil
}

// proxyStream hands the upgrade to containerd. ReverseProxy hijacks the
// client connection (via http.NewResponseController, so wrappers with
// Unwrap are fine) once containerd answers 101, then copies both ways.
func (s *Server) proxyStream(w http.ResponseWriter, r *http.Request, target *url.URL, pod *corev1.Pod, subresource string) {
	log := s.log.With("pod", pod.Namespace+"/"+pod.Name, "subresource", subresource)
	// The caller's credentials are not containerd's business.
	p := forward.To(target, forward.Options{
		Transport: streamTransport,
		OnError: func(w http.ResponseWriter, _ *http.Request, err error) {
			log.Warn("streaming proxy failed", "err", err)
			http.Error(w, fmt.Sprintf("error proxying to the container runtime: %v", err), http.StatusBadGateway)
		},
	})
	log.Debug("proxying stream", "target", target.Host)
	p.ServeHTTP(w, r)
}

// execRequest builds the CRI request of exec and attach from the query.
func (s *Server) execRequest(ctx context.Context, rt Runtime, r *http.Request, pod *corev1.Pod) (*runtimeapi.ExecRequest, error) {
	q := r.URL.Query()
	flag := func(name string) bool {
		v, err := strconv.ParseBool(q.Get(name))
		return err == nil && v
	}
	req := &runtimeapi.ExecRequest{Cmd: q["command"], Stdin: flag("stdin"), Stdout: flag("stdout"), Stderr: flag("stderr"), Tty: flag("tty")}
	if !req.Stdin && !req.Stdout && !req.Stderr {
		return nil, apierrors.NewBadRequest("you must specify at least one of stdin, stdout, stderr")
	}
	if req.Tty && req.Stderr {
		req.Stderr = false // a terminal merges stderr into stdout, as the kubelet does
	}
	name, err := podContainer(pod, q.Get("container"))
	if err != nil {
		return nil, err
	}
	if req.ContainerId, err = runningContainerID(ctx, rt, pod, name); err != nil {
		return nil, err
	}
	return req, nil
}

// podContainer resolves the container of a log, exec or attach request;
// without a name the pod must have exactly one (app) container.
func podContainer(pod *corev1.Pod, name string) (string, error) {
	var names []string
	for _, c := range pod.Spec.Containers {
		names = append(names, c.Name)
	}
	if name == "" {
		if len(names) != 1 {
			return "", apierrors.NewBadRequest(fmt.Sprintf("a container name must be specified for pod %s, choose one of: %v", pod.Name, names))
		}
		return names[0], nil
	}
	for _, c := range pod.Spec.InitContainers {
		names = append(names, c.Name)
	}
	for _, c := range pod.Spec.EphemeralContainers {
		names = append(names, c.Name)
	}
	if !slices.Contains(names, name) {
		return "", apierrors.NewBadRequest(fmt.Sprintf("container %s is not valid for pod %s", name, pod.Name))
	}
	return name, nil
}

// runningContainerID finds the CRI id of the container's newest attempt,
// which must be running.
func runningContainerID(ctx context.Context, rt Runtime, pod *corev1.Pod, name string) (string, error) {
	resp, err := rt.ListContainers(ctx, &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{
		LabelSelector: map[string]string{podrun.LabelPodUID: string(pod.UID), podrun.LabelContainerName: name},
	}})
	if err != nil {
		return "", apierrors.NewInternalError(fmt.Errorf("list containers: %w", err))
	}
	var newest *runtimeapi.Container
	for _, c := range resp.Containers {
		if newest == nil || c.Metadata.GetAttempt() > newest.Metadata.GetAttempt() {
			newest = c
		}
	}
	if newest == nil || newest.State != runtimeapi.ContainerState_CONTAINER_RUNNING {
		return "", apierrors.NewBadRequest(fmt.Sprintf("container %s is not running in pod %s", name, pod.Name))
	}
	return newest.Id, nil
}

// portForwardRequest finds the pod's ready sandbox; the ports travel in
// the stream headers, the query's are only a hint.
func (s *Server) portForwardRequest(ctx context.Context, rt Runtime, r *http.Request, pod *corev1.Pod) (*runtimeapi.PortForwardRequest, error) {
	var ports []int32
	for _, v := range r.URL.Query()["ports"] {
		for _, s := range strings.Split(v, ",") {
			p, err := strconv.ParseUint(strings.TrimSpace(s), 10, 16)
			if err != nil || p == 0 {
				return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid port %q", s))
			}
			ports = append(ports, int32(p))
		}
	}
	resp, err := rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{Filter: &runtimeapi.PodSandboxFilter{
		LabelSelector: map[string]string{podrun.LabelPodUID: string(pod.UID)},
		State:         &runtimeapi.PodSandboxStateValue{State: runtimeapi.PodSandboxState_SANDBOX_READY},
	}})
	if err != nil {
		return nil, apierrors.NewInternalError(fmt.Errorf("list sandboxes: %w", err))
	}
	var newest *runtimeapi.PodSandbox
	for _, sb := range resp.Items {
		if newest == nil || sb.CreatedAt > newest.CreatedAt {
			newest = sb
		}
	}
	if newest == nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("pod %s has no running sandbox", pod.Name))
	}
	return &runtimeapi.PortForwardRequest{PodSandboxId: newest.Id, Port: ports}, nil
}
