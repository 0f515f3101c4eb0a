package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	metricsclient "k8s.io/metrics/pkg/client/clientset/versioned"

	"github.com/flotilla-io/flotilla/pkg/extensions"
	"github.com/flotilla-io/flotilla/pkg/metrics"
)

// benchMetrics measures the metrics API on simulated nodes serving usage
// (`flotilla sim` with the join token): `kubectl top pod -A` latency
// against the server once every pod has metrics, then the collection's
// own cost, by running the server's metrics service (the same informers,
// collector and storage) in this process against the same nodes at the
// default 15 s resolution: process CPU over whole rounds and Go heap
// after a GC, per node and per pod.
func benchMetrics(bin string, nodes, pods int) {
	dir, err := os.MkdirTemp("", "flotilla-bench-metrics-")
	check(err)
	defer os.RemoveAll(dir)
	srv := start(bin, dir, "--disable-agent", "--disable-controllers=scheduler")
	defer srv.stop()
	cs := srv.client()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	sim := exec.Command(bin, "sim", "--kubeconfig", srv.kubeconfig, "--nodes", strconv.Itoa(nodes), "--name-prefix", "m",
		"--token-file", filepath.Join(dir, "token"), "--cpu", "32", "--memory", "256Gi", "--pods", "110", "--qps", "2000", "--burst", "2000")
	logf, err := os.Create(filepath.Join(dir, "sim.log"))
	check(err)
	sim.Stdout, sim.Stderr = logf, logf
	check(sim.Start())
	defer func() { _ = sim.Process.Signal(os.Interrupt); _ = sim.Wait() }()
	waitNodes(ctx, cs, nodes)
	for deadline := time.Now().Add(2 * time.Minute); ; {
		l, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		check(err)
		announced := 0
		for _, n := range l.Items {
			if n.Annotations[extensions.StatsEndpointAnnotation] != "" {
				announced++
			}
		}
		if announced == nodes {
			break
		}
		if time.Now().After(deadline) {
			panic(fmt.Sprintf("%d of %d nodes announce a stats endpoint", announced, nodes))
		}
		time.Sleep(time.Second)
	}
	_, err = cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "metrics"}}, metav1.CreateOptions{})
	check(err)
	waitServiceAccount(ctx, cs, "metrics")
	parallel(pods, 32, func(i int) time.Duration {
		_, err := cs.CoreV1().Pods("metrics").Create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{
				Name:   fmt.Sprintf("p-%d", i),
				Labels: map[string]string{"app": fmt.Sprintf("a%d", i%10)},
				Annotations: map[string]string{
					extensions.SimCPUAnnotation:    fmt.Sprintf("%dm", 10+i%200),
					extensions.SimMemoryAnnotation: fmt.Sprintf("%dMi", 16+i%64),
				},
			},
			Spec: corev1.PodSpec{NodeName: fmt.Sprintf("m-%d", i%nodes), Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
		}, metav1.CreateOptions{})
		check(err)
		return 0
	})

	rc, err := clientcmd.BuildConfigFromFlags("", srv.kubeconfig)
	check(err)
	rc.QPS, rc.Burst = -1, 1000
	mc, err := metricsclient.NewForConfig(rc)
	check(err)
	t0 := time.Now()
	for {
		l, err := mc.MetricsV1beta1().PodMetricses("").List(ctx, metav1.ListOptions{})
		check(err)
		if len(l.Items) == pods {
			break
		}
		if time.Since(t0) > 5*time.Minute {
			panic(fmt.Sprintf("%d of %d pods have metrics after 5 minutes", len(l.Items), pods))
		}
		time.Sleep(time.Second)
	}
	record(fmt.Sprintf("metrics: all %d pods on %d nodes served after", pods, nodes), fmt.Sprintf("%.0f s", time.Since(t0).Seconds()), "2 rounds (15 s each)")

	// kubectl top pod -A, the stock binary, warm discovery cache.
	cache := filepath.Join(dir, "kubectl-cache")
	top := func() (time.Duration, int) {
		t0 := time.Now()
		cmd := exec.Command("kubectl", "--kubeconfig", srv.kubeconfig, "--cache-dir", cache, "top", "pod", "-A")
		out, err := cmd.Output()
		check(err)
		return time.Since(t0), strings.Count(string(out), "\n") - 1
	}
	top()
	var tops, lists []time.Duration
	for range 5 {
		d, rows := top()
		if rows != pods {
			panic(fmt.Sprintf("kubectl top pod -A printed %d pods, want %d", rows, pods))
		}
		tops = append(tops, d)
		t0 := time.Now()
		_, err := mc.MetricsV1beta1().PodMetricses("").List(ctx, metav1.ListOptions{})
		check(err)
		lists = append(lists, time.Since(t0))
	}
	slices.Sort(tops)
	slices.Sort(lists)
	record(fmt.Sprintf("kubectl top pod -A, %d pods (median of 5)", pods), ms(tops[2]), "")
	record("  PodMetrics LIST all namespaces, client-go (median)", ms(lists[2]), "")

	// The collection alone, in this process, at 15 s.
	collectionCost(ctx, dir, nodes, pods)
}

func collectionCost(ctx context.Context, dir string, nodes, pods int) {
	restCfg, err := clientcmd.BuildConfigFromFlags("", filepath.Join(dir, "kubeconfig.yaml"))
	check(err)
	tlsDir := filepath.Join(dir, "tls")
	caPEM, err := os.ReadFile(filepath.Join(tlsDir, "ca.crt"))
	check(err)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	cert, err := tls.LoadX509KeyPair(filepath.Join(tlsDir, "agent-client.crt"), filepath.Join(tlsDir, "agent-client.key"))
	check(err)
	const resolution = 15 * time.Second
	runtime.GC()
	var m0 runtime.MemStats
	runtime.ReadMemStats(&m0)
	svc := metrics.New(metrics.Config{
		Resolution: resolution,
		TLS:        &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		Log:        slog.New(slog.DiscardHandler),
	})
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = svc.Run(cctx, restCfg) }()
	defer func() { cancel(); <-done }()
	// rounds waits for n more finished rounds and returns the last.
	var seen time.Time
	rounds := func(n int) {
		for n > 0 {
			time.Sleep(100 * time.Millisecond)
			c := svc.Collector()
			if c == nil {
				continue
			}
			if r := c.LastRound(); r.Duration > 0 && !r.Start.Equal(seen) {
				seen = r.Start
				n--
			}
		}
	}
	rounds(2) // both samples stored
	last := svc.Collector().LastRound()
	if last.Answered != nodes || last.Pods != pods {
		panic(fmt.Sprintf("round answered by %d nodes with %d pods, want %d and %d", last.Answered, last.Pods, nodes, pods))
	}
	const measured = 4
	c0, w0 := selfCPU(), time.Now()
	var durations []time.Duration
	for range measured {
		rounds(1)
		durations = append(durations, svc.Collector().LastRound().Duration)
	}
	cpu, wall := selfCPU()-c0, time.Since(w0)
	runtime.GC()
	var m1 runtime.MemStats
	runtime.ReadMemStats(&m1)
	heap := int64(m1.HeapAlloc) - int64(m0.HeapAlloc)
	slices.Sort(durations)
	perRound := cpu / measured
	record(fmt.Sprintf("collection round, %d nodes (median of %d)", nodes, measured), ms(durations[len(durations)/2]), "< 15 s")
	record("  collection CPU per round (process, informers included)", ms(perRound), "")
	record("  collection CPU per node per round / per pod", fmt.Sprintf("%.3f ms / %.1f µs", float64(perRound.Microseconds())/1000/float64(nodes), float64(perRound.Microseconds())/float64(pods)),
		"metrics-server: 1 millicore per node")
	record("  collection CPU per node at 15 s", fmt.Sprintf("%.3f millicores", float64(cpu)/float64(wall)*1000/float64(nodes)), "< 1 millicore (metrics-server)")
	record("  collection heap (caches + samples) per node / per pod", fmt.Sprintf("%.1f KiB / %.2f KiB", float64(heap)/1024/float64(nodes), float64(heap)/1024/float64(pods)), "< 2 MiB per node (metrics-server)")
}

// selfCPU is this process's user and system CPU time.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	check(syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
