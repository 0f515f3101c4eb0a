// Command bench measures the control plane against the figures of the
// control-plane issue and prints a table: start-up, idle memory, create
// throughput and latency, GET and LIST latency, watch fan-out latency and
// memory per stored pod; cluster DNS queries against pkg/dns and CoreDNS
// side by side; and the Service proxy (pkg/proxy) against kube-proxy's
// nftables mode, in network namespaces of its own. It runs the built binary (FLOTILLA_BIN) on a
// temporary data dir and talks to it with client-go over loopback.
package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/flotilla-io/flotilla/pkg/server/testserver/freeport"
)

type row struct{ name, value, target string }

var rows []row

func record(name, value, target string) {
	rows = append(rows, row{name, value, target})
	fmt.Fprintf(os.Stderr, "  %-44s %s\n", name, value)
}

func main() {
	pods := flag.Int("pods", 10000, "pods stored for the LIST and memory figures")
	creates := flag.Int("creates", 2000, "ConfigMaps created for the throughput figure")
	agentBench := flag.Bool("agent", os.Geteuid() == 0, "also measure pod start through the node agent and raw CRI (needs root and containerd)")
	schedBench := flag.Bool("scheduler", true, "measure scheduling on simulated nodes")
	quick := flag.Bool("quick", false, "scheduler scenarios at a tenth of their size (a smoke run)")
	only := flag.String("only", "", "run only this part: control-plane, authz, agent, stats, scheduler, workloads, metrics, dns or proxy")
	coredns := flag.String("coredns", "", "CoreDNS binary for the DNS peer figures (\"\": build hack/bench/coredns, \"none\": skip)")
	kubeProxy := flag.String("kube-proxy", "", "kube-proxy binary for the proxy peer figures (\"\": build hack/bench/kubeproxy, \"none\": skip)")
	if kubeconfig := os.Getenv(proxyChildEnv); kubeconfig != "" {
		proxyChild(kubeconfig)
		return
	}
	if kubeconfig := os.Getenv(dnsChildEnv); kubeconfig != "" {
		dnsChild(kubeconfig)
		return
	}
	flag.Parse()
	bin := os.Getenv("FLOTILLA_BIN")
	if bin == "" {
		bin = "bin/flotilla"
	}
	dir, err := os.MkdirTemp("", "flotilla-bench-")
	check(err)
	defer os.RemoveAll(dir)

	if *only == "" || *only == "control-plane" {
		benchControlPlane(bin, dir, *pods, *creates)
	}
	if *only == "" || *only == "authz" {
		benchAuthz(bin, 1000, *authzScale, *authzRounds)
	}
	if *agentBench && (*only == "" || *only == "agent") {
		benchPods(bin)
	}
	if *agentBench && (*only == "" || *only == "stats") {
		benchAgentStats(bin, *statsPods)
	}
	if *schedBench && (*only == "" || *only == "scheduler") {
		scenarios := []schedulingScenario{
			{name: "plain pods", nodes: 1000, zones: 1, pods: 10000, target: ">= 3000/s"},
			{name: "spread + anti-affinity", nodes: 1000, zones: 4, pods: 10000, spread: true, target: ">= 1000/s"},
			{name: "plain pods", nodes: 100, zones: 1, pods: 5000, target: "linear in nodes"},
			{name: "plain pods", nodes: 5000, zones: 1, pods: 5000, target: "linear in nodes"},
		}
		if *quick {
			for i := range scenarios {
				scenarios[i].nodes, scenarios[i].pods = max(scenarios[i].nodes/10, scenarios[i].zones), scenarios[i].pods/10
			}
		}
		benchScheduling(bin, scenarios)
	}
	if *only == "" || *only == "workloads" {
		if *quick {
			benchWorkloads(bin, 50, 500, 500, 50)
		} else {
			benchWorkloads(bin, 500, 5000, 5000, 500)
		}
	}
	if *only == "" || *only == "metrics" {
		if *quick {
			benchMetrics(bin, 100, 1000)
		} else {
			benchMetrics(bin, 1000, 10000)
		}
	}
	if *only == "" || *only == "hpa" {
		if *quick {
			benchHPA(bin, 100, 2)
		} else {
			benchHPA(bin, 1000, 20)
		}
	}
	if *only == "" || *only == "dns" {
		benchDNS(bin, *coredns)
	}
	if *only == "" || *only == "proxy" {
		if *quick {
			benchProxy(bin, *kubeProxy, 100, 10, 50)
		} else {
			benchProxy(bin, *kubeProxy, 1000, 10, 200)
		}
	}

	fmt.Println()
	fmt.Println("| measure | Flotilla | target |")
	fmt.Println("|---|---|---|")
	for _, r := range rows {
		fmt.Printf("| %s | %s | %s |\n", strings.TrimSpace(r.name), r.value, r.target)
	}
}

// benchControlPlane measures the API server and storage alone: no
// scheduler, so stored pods stay as they were written.
func benchControlPlane(bin, dir string, pods, creates int) {
	srv := start(bin, dir, "--disable-agent", "--disable-controllers=scheduler")
	record("cold start to /readyz 200", ms(srv.startup), "< 300 ms")
	cs := srv.client()
	ctx := context.Background()

	time.Sleep(30 * time.Second)
	srv.idle = rss(srv.cmd.Process.Pid)
	record("idle RSS after 30 s (incl. embedded etcd)", mib(srv.idle), "< 80 MiB")

	lat := createConfigMaps(ctx, cs, creates, 32)
	record(fmt.Sprintf("%d ConfigMap creates @32: rate", creates), fmt.Sprintf("%.0f/s", lat.rate), ">= 3000/s")
	record("  create latency p50 / p99", ms(lat.p(50))+" / "+ms(lat.p(99)), "p99 < 20 ms")

	get := getConfigMaps(ctx, cs, 4000, 32)
	record("GET @32 p50 / p99", ms(get.p(50))+" / "+ms(get.p(99)), "")

	createPods(ctx, cs, pods, 32)
	var listTimes []time.Duration
	for range 5 {
		t0 := time.Now()
		l, err := cs.CoreV1().Pods("bench").List(ctx, metav1.ListOptions{})
		check(err)
		if len(l.Items) != pods {
			panic(fmt.Sprintf("listed %d pods", len(l.Items)))
		}
		listTimes = append(listTimes, time.Since(t0))
	}
	slices.Sort(listTimes)
	record(fmt.Sprintf("LIST of %d pods, client-go typed (median of 5)", pods), ms(listTimes[2]), "< 100 ms")
	// The same list as bytes on the wire: the server's share, without
	// client-go's decoding of every item.
	for _, media := range []string{"application/vnd.kubernetes.protobuf", "application/json"} {
		var raw []time.Duration
		var size int
		for range 5 {
			t0 := time.Now()
			body, err := cs.CoreV1().RESTClient().Get().Namespace("bench").Resource("pods").SetHeader("Accept", media).DoRaw(ctx)
			check(err)
			raw, size = append(raw, time.Since(t0)), len(body)
		}
		slices.Sort(raw)
		record(fmt.Sprintf("  LIST %d pods as %s bytes (%.1f MB, median)", pods, strings.TrimPrefix(media, "application/"), float64(size)/1e6), ms(raw[2]), "")
	}
	time.Sleep(2 * time.Second)
	r := rss(srv.cmd.Process.Pid)
	record(fmt.Sprintf("RSS with %d pods stored", pods), mib(r), "")
	record("  RSS per stored pod (vs idle)", fmt.Sprintf("%.1f KiB", float64(r-srv.idle)/1024/float64(pods)), "< 30 KiB")

	w := watchLatency(ctx, cs, 100, 200)
	record("watch delivery to 100 watchers p50 / p99", ms(w.p(50))+" / "+ms(w.p(99)), "p99 < 50 ms")

	srv.stop()
	restart := start(bin, dir, "--disable-agent", "--disable-controllers=scheduler")
	record("restart on existing data to /readyz 200", ms(restart.startup), "")
	restart.stop()
}

type server struct {
	cmd        *exec.Cmd
	startup    time.Duration
	kubeconfig string
	idle       int64
	url        string
}

func freePort() int { return freeport.Loopback() }

func start(bin, dir string, extra ...string) *server {
	port := freePort()
	args := []string{"server", "--data-dir", dir, "--https-listen-port", strconv.Itoa(port),
		"--etcd-client-port", strconv.Itoa(freePort()), "--etcd-peer-port", strconv.Itoa(freePort()), "--log-level", "warn"}
	cmd := exec.Command(bin, append(args, extra...)...)
	logf, err := os.Create(filepath.Join(dir, "server.log"))
	check(err)
	cmd.Stdout, cmd.Stderr = logf, logf
	hc := &http.Client{Timeout: time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	t0 := time.Now()
	check(cmd.Start())
	url := fmt.Sprintf("https://127.0.0.1:%d/readyz", port)
	for {
		resp, err := hc.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Since(t0) > time.Minute {
			panic("server did not become ready")
		}
		time.Sleep(2 * time.Millisecond)
	}
	s := &server{cmd: cmd, startup: time.Since(t0), kubeconfig: filepath.Join(dir, "kubeconfig.yaml"), url: fmt.Sprintf("https://127.0.0.1:%d", port)}
	return s
}

func (s *server) client() kubernetes.Interface {
	cfg, err := clientcmd.BuildConfigFromFlags("", s.kubeconfig)
	check(err)
	cfg.QPS, cfg.Burst = -1, 1000
	cs, err := kubernetes.NewForConfig(cfg)
	check(err)
	return cs
}

func (s *server) stop() {
	_ = s.cmd.Process.Signal(os.Interrupt)
	_ = s.cmd.Wait()
}

// latencies collects request durations.
type latencies struct {
	d    []time.Duration
	rate float64
}

func (l *latencies) p(q int) time.Duration {
	if len(l.d) == 0 {
		return 0
	}
	slices.Sort(l.d)
	i := (len(l.d) - 1) * q / 100
	return l.d[i]
}

func parallel(n, workers int, fn func(i int) time.Duration) *latencies {
	var next atomic.Int64
	out := make([][]time.Duration, workers)
	var wg sync.WaitGroup
	t0 := time.Now()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				out[w] = append(out[w], fn(i))
			}
		}()
	}
	wg.Wait()
	l := &latencies{rate: float64(n) / time.Since(t0).Seconds()}
	for _, d := range out {
		l.d = append(l.d, d...)
	}
	return l
}

func createConfigMaps(ctx context.Context, cs kubernetes.Interface, n, workers int) *latencies {
	return parallel(n, workers, func(i int) time.Duration {
		t0 := time.Now()
		_, err := cs.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("bench-%d", i)},
			Data:       map[string]string{"key": "value", "index": strconv.Itoa(i)},
		}, metav1.CreateOptions{})
		check(err)
		return time.Since(t0)
	})
}

func getConfigMaps(ctx context.Context, cs kubernetes.Interface, n, workers int) *latencies {
	return parallel(n, workers, func(i int) time.Duration {
		t0 := time.Now()
		_, err := cs.CoreV1().ConfigMaps("default").Get(ctx, fmt.Sprintf("bench-%d", i%2000), metav1.GetOptions{})
		check(err)
		return time.Since(t0)
	})
}

func createPods(ctx context.Context, cs kubernetes.Interface, n, workers int) {
	_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "bench"}}, metav1.CreateOptions{})
	check(err)
	parallel(n, workers, func(i int) time.Duration {
		_, err := cs.CoreV1().Pods("bench").Create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("pod-%d", i), Labels: map[string]string{"app": "bench", "shard": strconv.Itoa(i % 10)}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{
				Name: "app", Image: "registry.local/app:1.0",
				Ports: []corev1.ContainerPort{{ContainerPort: 8080}},
			}}},
		}, metav1.CreateOptions{})
		check(err)
		return 0
	})
}

// watchLatency opens watchers, then writes updates and measures the time
// from each write's acknowledgement to its delivery at every watcher.
func watchLatency(ctx context.Context, cs kubernetes.Interface, watchers, updates int) *latencies {
	cm, err := cs.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "watched"}, Data: map[string]string{"seq": "0"}}, metav1.CreateOptions{})
	check(err)
	var mu sync.Mutex
	sent := map[string]time.Time{}
	l := &latencies{}
	var wg sync.WaitGroup
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range watchers {
		w, err := cs.CoreV1().ConfigMaps("default").Watch(wctx, metav1.ListOptions{FieldSelector: "metadata.name=watched", ResourceVersion: cm.ResourceVersion})
		check(err)
		wg.Add(1)
		go func() {
			defer wg.Done()
			got := 0
			for ev := range w.ResultChan() {
				c, ok := ev.Object.(*corev1.ConfigMap)
				if !ok {
					continue
				}
				mu.Lock()
				if t, ok := sent[c.Data["seq"]]; ok {
					l.d = append(l.d, time.Since(t))
				}
				mu.Unlock()
				if got++; got == updates {
					w.Stop()
				}
			}
		}()
	}
	time.Sleep(time.Second)
	for i := 1; i <= updates; i++ {
		cm.Data["seq"] = strconv.Itoa(i)
		mu.Lock()
		sent[cm.Data["seq"]] = time.Now()
		mu.Unlock()
		cm, err = cs.CoreV1().ConfigMaps("default").Update(ctx, cm, metav1.UpdateOptions{})
		check(err)
		time.Sleep(5 * time.Millisecond)
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
	}
	return l
}

func rss(pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	check(err)
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			f := strings.Fields(line)
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb * 1024
		}
	}
	return 0
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }
func mib(b int64) string        { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func check(err error) {
	if err != nil {
		panic(err)
	}
}
