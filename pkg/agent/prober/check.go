package prober

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

const probeUserAgent = "kube-probe/1.32"

// probeOnce runs one probe attempt and says whether it passed and, if
// not, why (the text of the Unhealthy event).
func (p *Manager) probeOnce(ctx context.Context, pr *corev1.Probe, t probeTarget) (bool, string) {
	timeout := seconds(pr.TimeoutSeconds, 1)
	switch {
	case pr.Exec != nil:
		return p.execCheck(ctx, t.id, pr.Exec.Command, timeout)
	case pr.HTTPGet != nil:
		code, err := httpGet(ctx, pr.HTTPGet, t.c, t.podIP, timeout)
		if err != nil {
			return false, err.Error()
		}
		return httpResult(code)
	case pr.TCPSocket != nil:
		port, err := resolvePort(pr.TCPSocket.Port, t.c)
		if err != nil {
			return false, err.Error()
		}
		host := pr.TCPSocket.Host
		if host == "" {
			host = t.podIP
		}
		d := net.Dialer{Timeout: timeout}
		conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			return false, err.Error()
		}
		_ = conn.Close()
		return true, ""
	case pr.GRPC != nil:
		svc := ""
		if pr.GRPC.Service != nil {
			svc = *pr.GRPC.Service
		}
		return grpcCheck(ctx, t.podIP, int(pr.GRPC.Port), svc, timeout)
	}
	return false, "probe has no handler"
}

// execCheck runs cmd in the container through the runtime, so nothing
// runs on the host; exit 0 passes.
func (p *Manager) execCheck(ctx context.Context, id string, cmd []string, timeout time.Duration) (bool, string) {
	cctx, cancel := context.WithTimeout(ctx, timeout+5*time.Second) // the runtime enforces timeout itself
	defer cancel()
	resp, err := p.rt.ExecSync(cctx, &runtimeapi.ExecSyncRequest{ContainerId: id, Cmd: cmd, Timeout: int64(timeout / time.Second)})
	if err != nil {
		return false, fmt.Sprintf("command %q failed: %v", strings.Join(cmd, " "), err)
	}
	if resp.ExitCode != 0 {
		out := strings.TrimSpace(string(resp.Stdout) + string(resp.Stderr))
		if out == "" {
			out = fmt.Sprintf("command %q exited with %d", strings.Join(cmd, " "), resp.ExitCode)
		}
		return false, out
	}
	return true, ""
}

// httpResult maps a response code as upstream: 2xx and 3xx pass.
func httpResult(code int) (bool, string) {
	if code >= http.StatusOK && code < http.StatusBadRequest {
		return true, ""
	}
	return false, fmt.Sprintf("HTTP probe failed with statuscode: %d", code)
}

// httpGet requests the action's URL (host defaulting to defHost, the pod
// IP) and returns the status code; redirects are not followed.
func httpGet(ctx context.Context, g *corev1.HTTPGetAction, c *corev1.Container, defHost string, timeout time.Duration) (int, error) {
	port, err := resolvePort(g.Port, c)
	if err != nil {
		return 0, err
	}
	u, err := probeURL(g, defHost, port)
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, fmt.Errorf("probe request: %w", err)
	}
	for _, h := range g.HTTPHeaders {
		if http.CanonicalHeaderKey(h.Name) == "Host" {
			req.Host = h.Value
			continue
		}
		req.Header.Add(h.Name, h.Value)
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", probeUserAgent)
	}
	if req.Header.Get("Accept") == "" {
		req.Header.Set("Accept", "*/*")
	}
	client := &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // probes do not verify, as upstream
			DisableKeepAlives: true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 10<<10))
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

func probeURL(g *corev1.HTTPGetAction, defHost string, port int) (string, error) {
	scheme := strings.ToLower(string(g.Scheme))
	if scheme == "" {
		scheme = "http"
	}
	host := g.Host
	if host == "" {
		host = defHost
	}
	path := g.Path
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	u, err := url.Parse(path)
	if err != nil {
		return "", fmt.Errorf("probe path %q: %w", g.Path, err)
	}
	u.Scheme, u.Host = scheme, net.JoinHostPort(host, strconv.Itoa(port))
	return u.String(), nil
}

// resolvePort turns a port number or the name of one of the container's
// ports into a number.
func resolvePort(p intstr.IntOrString, c *corev1.Container) (int, error) {
	n := p.IntValue()
	if p.Type == intstr.String {
		n = 0
		for _, cp := range c.Ports {
			if cp.Name == p.StrVal {
				n = int(cp.ContainerPort)
				break
			}
		}
		if n == 0 {
			v, err := strconv.Atoi(p.StrVal)
			if err != nil {
				return 0, fmt.Errorf("no container port named %q", p.StrVal)
			}
			n = v
		}
	}
	if n <= 0 || n > 65535 {
		return 0, fmt.Errorf("invalid port %d", n)
	}
	return n, nil
}

// grpcCheck asks the standard gRPC health service whether svc serves.
func grpcCheck(ctx context.Context, host string, port int, svc string, timeout time.Duration) (bool, string) {
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	conn, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithUserAgent(probeUserAgent))
	if err != nil {
		return false, fmt.Sprintf("grpc client for %s: %v", addr, err)
	}
	defer conn.Close()
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// Wait for the connection within the timeout, as the kubelet's
	// blocking dial does: a server still starting (refusing connections)
	// at the first probe is retried until the timeout, not failed at once
	// (with failureThreshold 1 that restarted healthy containers on a busy
	// node).
	resp, err := healthpb.NewHealthClient(conn).Check(cctx, &healthpb.HealthCheckRequest{Service: svc}, grpc.WaitForReady(true))
	if err != nil {
		switch {
		case status.Code(err) == codes.Unimplemented:
			return false, fmt.Sprintf("error: this server does not implement the grpc health protocol (grpc.health.v1.Health): %s", status.Convert(err).Message())
		case errors.Is(cctx.Err(), context.DeadlineExceeded):
			return false, fmt.Sprintf("timeout: failed to connect service %q within %v: %v", addr, timeout, err)
		}
		return false, fmt.Sprintf("error: health rpc probe failed: %v", err)
	}
	if resp.Status != healthpb.HealthCheckResponse_SERVING {
		return false, fmt.Sprintf("service unhealthy (responded with %q)", resp.Status.String())
	}
	return true, ""
}
