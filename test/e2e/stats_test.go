package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	statsapi "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
)

// An agent on another "machine" serves its node's usage on its port, as
// the kubelet's /metrics/resource and /stats/summary, to the API server's
// certificate only: a busy-looping container's CPU counter rises, its
// memory working set is above 0, and the summary lists its pod.
func TestAgentServesResourceUsage(t *testing.T) {
	t.Parallel()
	// A /30 of 10.253.0.0/24 (see TestAgentJoinsWithToken) for this test only.
	const statsHostIP, statsNodeIP = "10.253.0.5", "10.253.0.6"
	if _, err := exec.LookPath("containerd"); err != nil {
		t.Fatalf("containerd is not installed (hack/install-deps.sh installs it): %v", err)
	}
	dir, err := os.MkdirTemp("/tmp", "fl-stats-") // short: containerd's socket path
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	const node = "stats-node"
	// The agent runs as another machine, in a network namespace of its
	// own: its pod bridge and podCIDR never meet this machine's agent's.
	host := newNSHost(t, "flstat", statsHostIP, statsNodeIP)
	host.relayLoopback(cluster.port)
	const agentPort = 10250
	logf, err := os.Create(filepath.Join(dir, "agent.log"))
	if err != nil {
		t.Fatal(err)
	}
	// Tainted, so that other tests' pods never land on it.
	agent := host.command(cluster.bin, "agent", "--eviction-hard", testEvictionHard, "--server", cluster.url, "--token-file", filepath.Join(cluster.dataDir, "token"),
		"--data-dir", filepath.Join(dir, "data"), "--node-name", node, "--node-ip", statsNodeIP, "--agent-port", strconv.Itoa(agentPort),
		"--node-taint", "flotilla.io/stats=yes:NoSchedule",
		"--disable-kube-proxy", "--disable-cluster-dns", "--disable-network-policy", "--disable-ingress", "--flannel-backend", "none")
	agent.Stdout, agent.Stderr = logf, logf
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	ns := namespace(t)
	defer func() {
		kubectl(t, "", "delete", "pods", "--all", "-n", ns, "--grace-period=1", "--timeout=60s")
		interruptAndWait(agent, 30*time.Second)
		_ = exec.Command("umount", "-R", filepath.Join(dir, "data", "agent", "containerd")).Run()
		kubectl(t, "", "delete", "node", node, "--ignore-not-found")
		reviewLog(t, "agent", filepath.Join(dir, "agent.log"), 40)
	}()
	statsEventually(t, 60*time.Second, "node "+node+" Ready", func() (bool, string) {
		r := kubectl(t, "", "get", "node", node)
		return r.code == 0 && regexp.MustCompile(node+`\s+Ready\s`).MatchString(r.stdout), r.String()
	})
	// The loop is held to a fifth of a core: the machine is shared.
	pod := "apiVersion: v1\nkind: Pod\nmetadata:\n  name: burner\nspec:\n  nodeName: " + node + "\n  tolerations:\n  - {key: flotilla.io/stats, operator: Equal, value: \"yes\", effect: NoSchedule}\n  terminationGracePeriodSeconds: 1\n  containers:\n  - name: loop\n    image: busybox\n    command: [\"sh\", \"-c\", \"trap 'exit 0' TERM; while true; do :; done\"]\n    resources:\n      limits:\n        cpu: 200m\n"
	statsEventually(t, 20*time.Second, "pod burner created", func() (bool, string) {
		r := kubectl(t, pod, "apply", "-n", ns, "-f", "-") // the namespace's ServiceAccount may lag
		return r.code == 0, r.String()
	})
	statsEventually(t, 60*time.Second, "pod burner Running", func() (bool, string) {
		phase := ok(t, "", "get", "pod", "burner", "-n", ns, "-o", "jsonpath={.status.phase}")
		return phase == "Running", phase
	})

	tlsDir := filepath.Join(cluster.dataDir, "tls")
	client := func(name string) *http.Client {
		caPEM, err := os.ReadFile(filepath.Join(tlsDir, "ca.crt"))
		if err != nil {
			t.Fatal(err)
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(caPEM)
		cert, err := tls.LoadX509KeyPair(filepath.Join(tlsDir, name+".crt"), filepath.Join(tlsDir, name+".key"))
		if err != nil {
			t.Fatal(err)
		}
		return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}}}}
	}
	server := client("agent-client") // the API server's client certificate
	base := fmt.Sprintf("https://%s:%d", statsNodeIP, agentPort)
	get := func(path string) string {
		t.Helper()
		resp, err := server.Get(base + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %s %s", path, resp.Status, b)
		}
		return string(b)
	}
	type reading struct{ cpu, mem, at float64 }
	// read is the burner's reading, or what is missing from the page.
	read := func() (reading, string) {
		t.Helper()
		body := get("/metrics/resource")
		parser := expfmt.NewTextParser(model.UTF8Validation)
		fams, err := parser.TextToMetricFamilies(strings.NewReader(body))
		if err != nil {
			t.Fatalf("parse /metrics/resource: %v\n%s", err, body)
		}
		cpu := statsSample(fams["container_cpu_usage_seconds_total"], ns, "burner", "loop")
		mem := statsSample(fams["container_memory_working_set_bytes"], ns, "burner", "loop")
		start := statsSample(fams["container_start_time_seconds"], ns, "burner", "loop")
		pod := statsSample(fams["pod_cpu_usage_seconds_total"], ns, "burner", "")
		node := fams["node_cpu_usage_seconds_total"]
		if cpu == nil || mem == nil || start == nil || pod == nil || node == nil || len(node.GetMetric()) != 1 {
			return reading{}, "samples of the burner pod or the node missing:\n" + body
		}
		if e := fams["resource_scrape_error"].GetMetric(); len(e) != 1 || e[0].GetGauge().GetValue() != 0 {
			t.Fatalf("scrape error:\n%s", body)
		}
		if pod.GetCounter().GetValue() < cpu.GetCounter().GetValue() {
			t.Errorf("pod CPU %v below its container's %v", pod.GetCounter().GetValue(), cpu.GetCounter().GetValue())
		}
		return reading{cpu: cpu.GetCounter().GetValue(), mem: mem.GetGauge().GetValue(), at: float64(cpu.GetTimestampMs()) / 1000}, ""
	}
	// The agent serves a reading up to a second old (as the kubelet
	// serves its cached one), and another caller's reading can predate
	// the container's start, though the pod is Running by now (make test
	// at 038464c): the container's samples appear with the next reading.
	var first reading
	statsEventually(t, 30*time.Second, "the burner's samples", func() (bool, string) {
		r, missing := read()
		first = r
		return missing == "", missing
	})
	time.Sleep(3 * time.Second)
	second, missing := read()
	if missing != "" {
		t.Fatal(missing)
	}
	if second.cpu <= first.cpu || second.at <= first.at {
		t.Fatalf("the busy container's CPU counter did not rise: %+v then %+v", first, second)
	}
	rate := (second.cpu - first.cpu) / (second.at - first.at)
	if rate < 0.05 || rate > 0.3 {
		t.Errorf("busy container (limit 200m) used %.3f cores", rate)
	}
	if second.mem <= 0 {
		t.Errorf("working set %v", second.mem)
	}
	t.Logf("burner: %.3f cores, working set %.0f bytes", rate, second.mem)

	var sum statsapi.Summary
	if err := json.Unmarshal([]byte(get("/stats/summary")), &sum); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, p := range sum.Pods {
		if p.PodRef.Namespace == ns && p.PodRef.Name == "burner" {
			found = len(p.Containers) == 1 && p.Containers[0].Name == "loop" && p.CPU != nil && *p.CPU.UsageCoreNanoSeconds > 0 && p.Memory != nil && *p.Memory.WorkingSetBytes > 0
		}
	}
	if sum.Node.NodeName != node || sum.Node.CPU == nil || sum.Node.Memory == nil || !found {
		t.Fatalf("summary: %+v", sum)
	}

	// Nobody else reads it: not even the cluster admin.
	if resp, err := client("admin").Get(base + "/metrics/resource"); err == nil {
		resp.Body.Close()
		t.Fatalf("the agent served the admin certificate: %s", resp.Status)
	}
}

// statsSample is the sample of family f for the pod (and container, "" for none).
func statsSample(f *dto.MetricFamily, ns, pod, container string) *dto.Metric {
	for _, m := range f.GetMetric() {
		l := map[string]string{}
		for _, p := range m.GetLabel() {
			l[p.GetName()] = p.GetValue()
		}
		if l["namespace"] == ns && l["pod"] == pod && l["container"] == container {
			return m
		}
	}
	return nil
}

// statsEventually polls cond until it holds or timeout passes.
func statsEventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		done, last := cond()
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s (last: %s)", what, timeout, last)
		}
		time.Sleep(250 * time.Millisecond)
	}
}
