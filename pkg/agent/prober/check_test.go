package prober

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Probes against servers on loopback, standing in for the pod IP.
func TestProbeHandlers(t *testing.T) {
	var got http.Header
	var host string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, host = r.Header.Clone(), r.Host
		switch r.URL.Path {
		case "/bad":
			w.WriteHeader(http.StatusServiceUnavailable)
		case "/moved":
			http.Redirect(w, r, "http://192.0.2.1/elsewhere", http.StatusFound)
		}
	}))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	port, _ := strconv.Atoi(u.Port())

	gs := grpc.NewServer()
	hs := health.NewServer()
	hs.SetServingStatus("up", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus("down", healthpb.HealthCheckResponse_NOT_SERVING)
	healthpb.RegisterHealthServer(gs, hs)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = gs.Serve(lis) }()
	defer gs.Stop()
	gport := int32(lis.Addr().(*net.TCPAddr).Port)

	c := &corev1.Container{Ports: []corev1.ContainerPort{{Name: "web", ContainerPort: int32(port)}}}
	tgt := probeTarget{pod: &corev1.Pod{}, c: c, podIP: "127.0.0.1"}
	str := func(s string) *string { return &s }
	httpProbe := func(path string, hdr ...corev1.HTTPHeader) *corev1.Probe {
		return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromString("web"), HTTPHeaders: hdr}}}
	}
	cases := []struct {
		name  string
		probe *corev1.Probe
		want  bool
	}{
		{"http ok", httpProbe("/", corev1.HTTPHeader{Name: "X-Probe", Value: "1"}, corev1.HTTPHeader{Name: "Host", Value: "example.test"}), true},
		{"http 503", httpProbe("/bad"), false},
		{"http redirect elsewhere is not followed", httpProbe("/moved"), true},
		{"tcp open", &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt(port)}}}, true},
		{"tcp closed", &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt(closedPort(t))}}}, false},
		{"grpc serving", &corev1.Probe{ProbeHandler: corev1.ProbeHandler{GRPC: &corev1.GRPCAction{Port: gport, Service: str("up")}}}, true},
		{"grpc not serving", &corev1.Probe{ProbeHandler: corev1.ProbeHandler{GRPC: &corev1.GRPCAction{Port: gport, Service: str("down")}}}, false},
		{"grpc unknown service", &corev1.Probe{ProbeHandler: corev1.ProbeHandler{GRPC: &corev1.GRPCAction{Port: gport, Service: str("nope")}}}, false},
	}
	p := &Manager{}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if ok, msg := p.probeOnce(ctx, tc.probe, tgt); ok != tc.want {
				t.Fatalf("probe = %v (%s), want %v", ok, msg, tc.want)
			}
		})
		if tc.name == "http ok" {
			if got.Get("User-Agent") != probeUserAgent || got.Get("X-Probe") != "1" || host != "example.test" {
				t.Fatalf("headers %v, host %q", got, host)
			}
		}
	}
}

func closedPort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return p
}

// TestGRPCProbeWaitsForAStartingServer: a gRPC server that starts
// listening during the probe's timeout passes it, as with the kubelet's
// blocking dial; a port nobody opens fails once the timeout is spent.
func TestGRPCProbeWaitsForAStartingServer(t *testing.T) {
	port := closedPort(t)
	gs := grpc.NewServer()
	hs := health.NewServer()
	healthpb.RegisterHealthServer(gs, hs)
	defer gs.Stop()
	done := make(chan bool, 1)
	go func() {
		ok, msg := grpcCheck(context.Background(), "127.0.0.1", port, "", 10*time.Second)
		if !ok {
			t.Log(msg)
		}
		done <- ok
	}()
	// The probe is dialling a closed port now; the server comes up on
	// it a little later (the probe's first attempt was refused).
	time.Sleep(300 * time.Millisecond)
	lis, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = gs.Serve(lis) }()
	if !<-done {
		t.Fatal("the probe of a server that started within its timeout failed")
	}

	start := time.Now()
	ok, msg := grpcCheck(context.Background(), "127.0.0.1", closedPort(t), "", time.Second)
	if ok || !strings.HasPrefix(msg, "timeout: failed to connect service") || time.Since(start) < 900*time.Millisecond {
		t.Fatalf("closed port: ok=%v after %v: %s", ok, time.Since(start), msg)
	}
}
