package sim

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	statsapi "k8s.io/kubelet/pkg/apis/stats/v1alpha1"

	"github.com/flotilla-io/flotilla/pkg/extensions"
	"github.com/flotilla-io/flotilla/pkg/server/testserver"
)

// Simulated nodes serve their pods' annotated usage on the endpoint their
// Node announces, to the API server's client certificate and no other.
func TestSimServesUsage(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{})
	cs := srv.Clientset(t)
	token, err := os.ReadFile(filepath.Join(srv.Config.DataDir, "token"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := fastConfig("use", 2)
	cfg.Stats = &StatsConfig{Server: srv.LoopbackConfig().Host, Token: strings.TrimSpace(string(token)), Dir: t.TempDir()}
	runSim(t, cs, cfg)
	ctx := context.Background()

	var base string
	eventually(t, 20*time.Second, "node use-0 announces its usage endpoint", func() (bool, error) {
		n, err := cs.CoreV1().Nodes().Get(ctx, "use-0", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		base = n.Annotations[extensions.StatsEndpointAnnotation]
		return strings.HasPrefix(base, "https://127.0.0.1:") && strings.HasSuffix(base, "/nodes/use-0"), fmt.Errorf("annotation %q", base)
	})
	pod := simPod("busy", "use-0", "Always", map[string]string{AnnotationCPU: "500m", AnnotationMemory: "64Mi"})
	pod.Spec.InitContainers = nil
	createPod(t, cs, pod)
	idle := simPod("idle", "use-0", "Always", nil)
	idle.Spec.InitContainers = nil
	createPod(t, cs, idle)
	eventually(t, 20*time.Second, "pods Running", func() (bool, error) {
		for _, name := range []string{"busy", "idle"} {
			p, err := getPod(cs, name)
			if err != nil || p.Status.Phase != "Running" {
				return false, err
			}
		}
		return true, nil
	})

	tlsDir := filepath.Join(srv.Config.DataDir, "tls")
	pool := x509.NewCertPool()
	caPEM, err := os.ReadFile(filepath.Join(tlsDir, "ca.crt"))
	if err != nil || !pool.AppendCertsFromPEM(caPEM) {
		t.Fatalf("cluster CA: %v", err)
	}
	client := func(name string) *http.Client {
		tc := &tls.Config{RootCAs: pool}
		if name != "" {
			cert, err := tls.LoadX509KeyPair(filepath.Join(tlsDir, name+".crt"), filepath.Join(tlsDir, name+".key"))
			if err != nil {
				t.Fatal(err)
			}
			tc.Certificates = []tls.Certificate{cert}
		}
		return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: tc}}
	}
	server := client("agent-client") // the API server's client certificate
	get := func(url string) (int, string) {
		t.Helper()
		resp, err := server.Get(url)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	scrape := func() map[string]*dto.MetricFamily {
		t.Helper()
		code, body := get(base + "/metrics/resource")
		if code != 200 {
			t.Fatalf("metrics: %d %s", code, body)
		}
		parser := expfmt.NewTextParser(model.UTF8Validation)
		fams, err := parser.TextToMetricFamilies(strings.NewReader(body))
		if err != nil {
			t.Fatalf("parse: %v\n%s", err, body)
		}
		return fams
	}
	first := scrape()
	time.Sleep(1200 * time.Millisecond) // counters advance with time
	second := scrape()

	if v := sample(t, second, "container_memory_working_set_bytes", "app", "busy"); v.GetGauge().GetValue() != 32<<20 {
		t.Errorf("container memory = %v, want half of 64Mi", v.GetGauge().GetValue())
	}
	if v := sample(t, second, "pod_memory_working_set_bytes", "", "busy"); v.GetGauge().GetValue() != 64<<20 {
		t.Errorf("pod memory = %v, want 64Mi", v.GetGauge().GetValue())
	}
	if v := sample(t, second, "pod_memory_working_set_bytes", "", "idle"); v.GetGauge().GetValue() != 0 {
		t.Errorf("unannotated pod memory = %v, want 0", v.GetGauge().GetValue())
	}
	if got := sample(t, second, "node_memory_working_set_bytes", "", "").GetGauge().GetValue(); got != float64(NodeBaseMemory.Value()+64<<20) {
		t.Errorf("node memory = %v, want base + 64Mi", got)
	}
	rate := func(name, container, pod string) float64 {
		a, b := sample(t, first, name, container, pod), sample(t, second, name, container, pod)
		dt := float64(b.GetTimestampMs()-a.GetTimestampMs()) / 1000
		if b.GetCounter().GetValue() <= a.GetCounter().GetValue() || dt <= 0 {
			t.Fatalf("%s %s/%s does not increase: %v then %v", name, pod, container, a, b)
		}
		return (b.GetCounter().GetValue() - a.GetCounter().GetValue()) / dt
	}
	if r := rate("pod_cpu_usage_seconds_total", "", "busy"); math.Abs(r-0.5) > 0.05 {
		t.Errorf("pod CPU rate = %.3f cores, want 0.5", r)
	}
	if r := rate("container_cpu_usage_seconds_total", "helper", "busy"); math.Abs(r-0.25) > 0.03 {
		t.Errorf("container CPU rate = %.3f cores, want 0.25", r)
	}
	if r := rate("node_cpu_usage_seconds_total", "", ""); math.Abs(r-0.6) > 0.06 {
		t.Errorf("node CPU rate = %.3f cores, want base 0.1 + 0.5", r)
	}
	if v := sample(t, second, "resource_scrape_error", "", ""); v.GetGauge().GetValue() != 0 {
		t.Errorf("scrape error %v", v)
	}

	// The Summary lists the pods with their containers.
	code, body := get(base + "/stats/summary")
	var sum statsapi.Summary
	if code != 200 || json.Unmarshal([]byte(body), &sum) != nil || sum.Node.NodeName != "use-0" || len(sum.Pods) != 2 {
		t.Fatalf("summary: %d %s", code, body)
	}
	for _, p := range sum.Pods {
		if len(p.Containers) != 2 || p.CPU == nil || p.Memory == nil || p.StartTime.IsZero() {
			t.Errorf("summary pod %+v", p)
		}
	}
	// The other node has no pods, only its base usage.
	other := strings.TrimSuffix(base, "use-0") + "use-1"
	if code, body := get(other + "/stats/summary"); code != 200 || !strings.Contains(body, `"nodeName":"use-1"`) || strings.Contains(body, "podRef") {
		t.Errorf("use-1 summary: %d %s", code, body)
	}
	if code, body := get(strings.TrimSuffix(base, "use-0") + "nope/metrics/resource"); code != 404 || !strings.Contains(body, `"reason":"NotFound"`) {
		t.Errorf("unknown node: %d %s", code, body)
	}

	// Only the API server's certificate is served: not the cluster
	// admin's, not a client without one.
	for _, name := range []string{"admin", ""} {
		resp, err := client(name).Get(base + "/metrics/resource")
		if err == nil {
			resp.Body.Close()
			t.Errorf("client %q was served: %s", name, resp.Status)
		}
	}
}

// sample is the sample of family name with the given container and pod
// labels ("" = no such label).
func sample(t *testing.T, fams map[string]*dto.MetricFamily, name, container, pod string) *dto.Metric {
	t.Helper()
	for _, m := range fams[name].GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		if labels["container"] == container && labels["pod"] == pod {
			return m
		}
	}
	t.Fatalf("no sample %s{container=%q,pod=%q}", name, container, pod)
	return nil
}
