package prober

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestThresholdCounter(t *testing.T) {
	cases := []struct {
		name       string
		succ, fail int32
		outcomes   []bool
		decided    []bool // whether each outcome settles a result
	}{
		{"defaults of one", 1, 1, []bool{true, false, true}, []bool{true, true, true}},
		{"three failures", 1, 3, []bool{false, false, false, false}, []bool{false, false, true, true}},
		{"failure run broken by success", 1, 2, []bool{false, true, false, false}, []bool{false, true, false, true}},
		{"two successes", 2, 1, []bool{true, true, false, true, true}, []bool{false, true, true, false, true}},
		{"zero thresholds mean one", 0, 0, []bool{false, true}, []bool{true, true}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var cnt thresholdCounter
			for i, ok := range c.outcomes {
				res, decided := cnt.observe(ok, c.succ, c.fail)
				if res != ok || decided != c.decided[i] {
					t.Fatalf("outcome %d (%v): got (%v, %v), want decided %v", i, ok, res, decided, c.decided[i])
				}
			}
		})
	}
}

func TestResolvePort(t *testing.T) {
	c := &corev1.Container{Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}, {Name: "grpc", ContainerPort: 9000}}}
	cases := []struct {
		port intstr.IntOrString
		want int
		err  bool
	}{
		{intstr.FromInt32(80), 80, false},
		{intstr.FromString("http"), 8080, false},
		{intstr.FromString("grpc"), 9000, false},
		{intstr.FromString("8081"), 8081, false},
		{intstr.FromString("missing"), 0, true},
		{intstr.FromInt32(0), 0, true},
		{intstr.FromInt32(70000), 0, true},
	}
	for _, tc := range cases {
		got, err := resolvePort(tc.port, c)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("resolvePort(%v) = %d, %v; want %d, err %v", tc.port.String(), got, err, tc.want, tc.err)
		}
	}
}

func TestHTTPResult(t *testing.T) {
	for code, want := range map[int]bool{199: false, 200: true, 204: true, 301: true, 399: true, 400: false, 404: false, 500: false, 503: false} {
		if ok, msg := httpResult(code); ok != want || (!ok && msg == "") {
			t.Errorf("httpResult(%d) = %v, %q; want %v", code, ok, msg, want)
		}
	}
}

func TestProbeURL(t *testing.T) {
	cases := []struct {
		g    corev1.HTTPGetAction
		want string
	}{
		{corev1.HTTPGetAction{Path: "/healthz"}, "http://10.0.0.1:8080/healthz"},
		{corev1.HTTPGetAction{Path: "ready?x=1", Scheme: corev1.URISchemeHTTPS}, "https://10.0.0.1:8080/ready?x=1"},
		{corev1.HTTPGetAction{Host: "127.0.0.1"}, "http://127.0.0.1:8080/"},
	}
	for _, c := range cases {
		if got, err := probeURL(&c.g, "10.0.0.1", 8080); err != nil || got != c.want {
			t.Errorf("probeURL(%+v) = %q, %v; want %q", c.g, got, err, c.want)
		}
	}
}

func TestProbeApply(t *testing.T) {
	running := corev1.ContainerStatus{ContainerID: "containerd://abc", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}
	probe := &corev1.Probe{}
	cases := []struct {
		name           string
		c              corev1.Container
		results        map[probeKind]bool
		ready, started bool
	}{
		{"no probes", corev1.Container{}, nil, true, true},
		{"readiness not yet", corev1.Container{ReadinessProbe: probe}, nil, false, true},
		{"readiness passed", corev1.Container{ReadinessProbe: probe}, map[probeKind]bool{readiness: true}, true, true},
		{"startup gates readiness", corev1.Container{ReadinessProbe: probe, StartupProbe: probe}, map[probeKind]bool{readiness: true}, false, false},
		{"startup passed", corev1.Container{StartupProbe: probe}, map[probeKind]bool{startup: true}, true, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var p Manager
			p.results = map[probeKey]bool{}
			for k, v := range c.results {
				p.results[probeKey{"abc", k}] = v
			}
			cs := p.Apply(&c.c, running)
			if cs.Ready != c.ready || cs.Started == nil || *cs.Started != c.started {
				t.Fatalf("ready %v started %v; want %v %v", cs.Ready, cs.Started, c.ready, c.started)
			}
		})
	}
}
