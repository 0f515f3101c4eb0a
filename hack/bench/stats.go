package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/utils/ptr"

	containerdpkg "github.com/flotilla-io/flotilla/pkg/containerd"
	"github.com/flotilla-io/flotilla/pkg/cri"
)

var statsPods = flag.Int("stats-pods", 100, "real pods on the agent for the resource usage figures")

// benchAgentStats measures what serving resource usage costs a node
// agent with n running pods: the CPU and memory of collecting (the agent's
// own and its containerd's, whose container stats it asks for) and the
// latency of a scrape, fresh and from the reading the agent keeps for a
// second.
func benchAgentStats(bin string, n int) {
	dir, err := os.MkdirTemp("/tmp", "flbs-") // short: containerd's socket path
	check(err)
	agentDir := filepath.Join(dir, "a")
	defer func() {
		_ = exec.Command("umount", "-R", filepath.Join(agentDir, "agent", "containerd")).Run()
		_ = os.RemoveAll(dir)
	}()
	srv := start(bin, dir, "--disable-agent")
	defer srv.stop()
	port := freePort()
	agent := exec.Command(bin, "agent", "--eviction-hard", testEvictionHard, "--server", srv.url, "--token-file", filepath.Join(dir, "token"), "--data-dir", agentDir,
		"--node-name", benchNode, "--node-ip", "127.0.0.1", "--agent-port", strconv.Itoa(port), "--log-level", "warn",
		"--disable-kube-proxy", "--disable-cluster-dns", "--disable-network-policy", "--disable-ingress", "--flannel-backend", "none")
	agentLog, err := os.Create(filepath.Join(dir, "agent.log"))
	check(err)
	agent.Stdout, agent.Stderr = agentLog, agentLog
	check(agent.Start())
	defer func() {
		_ = agent.Process.Signal(os.Interrupt)
		_ = agent.Wait()
	}()
	cs := srv.client()
	ctx := context.Background()
	waitNodeReady(ctx, cs)
	_, err = cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "bench"}}, metav1.CreateOptions{})
	check(err)
	waitServiceAccount(ctx, cs, "bench")
	started := agentPods(ctx, cs, "stats", n, 3)
	fmt.Fprintf(os.Stderr, "  %d pods Running in %s\n", n, secs(started.wall))
	time.Sleep(15 * time.Second) // let the starts' work settle

	hc := apiServerClient(dir)
	url := fmt.Sprintf("https://127.0.0.1:%d/metrics/resource", port)
	scrape := func() (time.Duration, int) {
		t0 := time.Now()
		resp, err := hc.Get(url)
		check(err)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		check(err)
		if resp.StatusCode != 200 || !strings.Contains(string(body), "resource_scrape_error 0") {
			panic(fmt.Sprintf("scrape: %s\n%s", resp.Status, body))
		}
		return time.Since(t0), strings.Count(string(body), "container_cpu_usage_seconds_total{")
	}
	containerd := childNamed(agent.Process.Pid, "containerd")

	// Spans of the same length idle and scraped every 1.1 s (each scrape
	// a fresh reading), alternated so that background work (heartbeats,
	// the starts' tail) falls on both: the difference is what collecting
	// costs.
	const rounds, perRound = 3, 10
	span := time.Duration(perRound) * 1100 * time.Millisecond
	var idleAgent, idleCtrd, busyAgent, busyCtrd time.Duration
	rssBefore := rss(agent.Process.Pid)
	fresh := &latencies{}
	var seen int
	for range rounds {
		a0, c0 := cpuTime(agent.Process.Pid), cpuTime(containerd)
		time.Sleep(span)
		a1, c1 := cpuTime(agent.Process.Pid), cpuTime(containerd)
		for range perRound {
			d, c := scrape()
			fresh.d, seen = append(fresh.d, d), c
			time.Sleep(1100*time.Millisecond - d)
		}
		a2, c2 := cpuTime(agent.Process.Pid), cpuTime(containerd)
		idleAgent, idleCtrd = idleAgent+a1-a0, idleCtrd+c1-c0
		busyAgent, busyCtrd = busyAgent+a2-a1, busyCtrd+c2-c1
	}
	if seen != n {
		panic(fmt.Sprintf("scrape lists %d containers, want %d", seen, n))
	}
	const scrapes = rounds * perRound
	agentPer := (busyAgent - idleAgent) / scrapes
	ctrdPer := (busyCtrd - idleCtrd) / scrapes
	cached := &latencies{}
	for range 200 {
		d, _ := scrape()
		cached.d = append(cached.d, d)
	}
	rssAfter := rss(agent.Process.Pid)
	record(fmt.Sprintf("/metrics/resource with %d real pods: fresh scrape p50 / p99", n), ms(fresh.p(50))+" / "+ms(fresh.p(99)), "")
	record("  within the 1 s reuse: scrape p50 / p99", ms(cached.p(50))+" / "+ms(cached.p(99)), "")
	record("  CPU per fresh reading: agent / containerd (scraped - idle span, 30 scrapes)", ms(agentPer)+" / "+ms(ctrdPer), "")
	record("  agent idle CPU (no scrapes), for scale", fmt.Sprintf("%.1f ms/s", float64(idleAgent.Microseconds())/1000/(rounds*span.Seconds())), "")
	record("  agent + containerd CPU at a 15 s resolution", fmt.Sprintf("%.2f ms/s", float64(max(agentPer+ctrdPer, 0).Microseconds())/1000/15), "")
	record("  agent RSS before / after 230 scrapes", mib(rssBefore)+" / "+mib(rssAfter), "")

	check(cs.CoreV1().Pods("bench").DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}, metav1.ListOptions{}))
	// The agent tears the sandboxes down before it and containerd stop.
	rt, err := cri.Dial(containerdpkg.Socket(filepath.Join(agentDir, "agent", "containerd")))
	check(err)
	defer rt.Close()
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		sbs, err := rt.Runtime.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
		if err == nil && len(sbs.Items) == 0 {
			return
		}
		time.Sleep(time.Second)
	}
	fmt.Fprintln(os.Stderr, "bench: sandboxes still present after 3 minutes")
}

// apiServerClient presents the API server's client certificate, the only
// one an agent serves.
func apiServerClient(dataDir string) *http.Client {
	tlsDir := filepath.Join(dataDir, "tls")
	caPEM, err := os.ReadFile(filepath.Join(tlsDir, "ca.crt"))
	check(err)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	cert, err := tls.LoadX509KeyPair(filepath.Join(tlsDir, "agent-client.crt"), filepath.Join(tlsDir, "agent-client.key"))
	check(err)
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}}}}
}

// cpuTime is the user and system CPU process pid has used (0 for pid 0).
func cpuTime(pid int) time.Duration {
	if pid == 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	check(err)
	// Fields after the command, which is in parentheses: utime and stime
	// are the 12th and 13th.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond // USER_HZ = 100
}

// childNamed is the pid of a child of parent named comm, 0 if none.
func childNamed(parent int, comm string) int {
	entries, err := os.ReadDir("/proc")
	check(err)
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		s := string(b)
		name := s[strings.IndexByte(s, '(')+1 : strings.LastIndexByte(s, ')')]
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		if name == comm && f[1] == strconv.Itoa(parent) {
			return pid
		}
	}
	return 0
}
