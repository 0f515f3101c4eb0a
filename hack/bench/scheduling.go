package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
)

// schedulingScenario is one scheduler measurement: pods created as fast
// as the API takes them onto simulated nodes.
type schedulingScenario struct {
	name   string
	nodes  int
	zones  int // sim processes, one zone label each
	pods   int
	spread bool // topology spread over zones + preferred anti-affinity
	target string
}

// benchScheduling runs each scenario on a fresh server with `flotilla sim`
// nodes and reports pods bound per second and create-to-bound latency.
func benchScheduling(bin string, scenarios []schedulingScenario) {
	for _, sc := range scenarios {
		res := runSchedulingScenario(bin, sc)
		record(fmt.Sprintf("%s: %d pods on %d nodes, bound/s", sc.name, sc.pods, sc.nodes), fmt.Sprintf("%.0f/s", res.rate), sc.target)
		record("  create-to-bound p50 / p99", ms(res.p(50))+" / "+ms(res.p(99)), "")
	}
}

func runSchedulingScenario(bin string, sc schedulingScenario) *latencies {
	dir, err := os.MkdirTemp("", "flotilla-bench-sched-")
	check(err)
	defer os.RemoveAll(dir)
	srv := start(bin, dir, "--disable-agent")
	defer srv.stop()
	cs := srv.client()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	per := sc.nodes / sc.zones
	var sims []*exec.Cmd
	for z := range sc.zones {
		cmd := exec.Command(bin, "sim", "--kubeconfig", srv.kubeconfig, "--nodes", strconv.Itoa(per), "--name-prefix", fmt.Sprintf("z%d", z),
			"--label", fmt.Sprintf("topology.kubernetes.io/zone=zone-%d", z), "--cpu", "64", "--memory", "256Gi", "--pods", "110", "--qps", "2000", "--burst", "2000")
		logf, err := os.Create(filepath.Join(dir, fmt.Sprintf("sim-%d.log", z)))
		check(err)
		cmd.Stdout, cmd.Stderr = logf, logf
		check(cmd.Start())
		sims = append(sims, cmd)
	}
	defer func() {
		for _, cmd := range sims {
			_ = cmd.Process.Signal(os.Interrupt)
			_ = cmd.Wait()
		}
	}()
	waitNodes(ctx, cs, per*sc.zones)
	_, err = cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "sched"}}, metav1.CreateOptions{})
	check(err)
	waitServiceAccount(ctx, cs, "sched")

	// Bindings are seen through one watch, as any client would.
	w, err := cs.CoreV1().Pods("sched").Watch(ctx, metav1.ListOptions{})
	check(err)
	defer w.Stop()
	var mu sync.Mutex
	created := make(map[string]time.Time, sc.pods)
	bound := make(map[string]time.Time, sc.pods)
	allBound := make(chan struct{})
	go func() {
		for ev := range w.ResultChan() {
			if ev.Type != watch.Added && ev.Type != watch.Modified {
				continue
			}
			p, ok := ev.Object.(*corev1.Pod)
			if !ok || p.Spec.NodeName == "" {
				continue
			}
			mu.Lock()
			if _, seen := bound[p.Name]; !seen {
				bound[p.Name] = time.Now()
				if len(bound) == sc.pods {
					close(allBound)
				}
			}
			mu.Unlock()
		}
	}()

	t0 := time.Now()
	parallel(sc.pods, 32, func(i int) time.Duration {
		name := fmt.Sprintf("p-%d", i)
		pod := schedulingPod(name, sc.spread)
		mu.Lock()
		created[name] = time.Now()
		mu.Unlock()
		_, err := cs.CoreV1().Pods("sched").Create(ctx, pod, metav1.CreateOptions{})
		check(err)
		return 0
	})
	select {
	case <-allBound:
	case <-time.After(10 * time.Minute):
		mu.Lock()
		n := len(bound)
		mu.Unlock()
		panic(fmt.Sprintf("%s: only %d of %d pods bound after 10 minutes", sc.name, n, sc.pods))
	}
	mu.Lock()
	defer mu.Unlock()
	var last time.Time
	l := &latencies{}
	for name, at := range bound {
		l.d = append(l.d, at.Sub(created[name]))
		if at.After(last) {
			last = at
		}
	}
	l.rate = float64(sc.pods) / last.Sub(t0).Seconds()
	return l
}

func schedulingPod(name string, spread bool) *corev1.Pod {
	labels := map[string]string{"app": "sched"}
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "app", Image: "registry.local/app:1.0",
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: mustQuantity("100m"), corev1.ResourceMemory: mustQuantity("128Mi")}},
		}}},
	}
	if spread {
		sel := &metav1.LabelSelector{MatchLabels: labels}
		p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{
			MaxSkew: 1, TopologyKey: "topology.kubernetes.io/zone", WhenUnsatisfiable: corev1.DoNotSchedule, LabelSelector: sel,
		}}
		p.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
			PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{
				Weight: 100, PodAffinityTerm: corev1.PodAffinityTerm{LabelSelector: sel, TopologyKey: "kubernetes.io/hostname"},
			}},
		}}
	}
	return p
}

func waitNodes(ctx context.Context, cs kubernetes.Interface, n int) {
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		l, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		check(err)
		ready := 0
		for _, node := range l.Items {
			for _, c := range node.Status.Conditions {
				if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
					ready++
				}
			}
		}
		if ready >= n {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	panic(fmt.Sprintf("%d simulated nodes not Ready in 5 minutes", n))
}

func waitServiceAccount(ctx context.Context, cs kubernetes.Interface, ns string) {
	for range 200 {
		if _, err := cs.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{}); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	panic("no default service account in " + ns)
}

func mustQuantity(s string) resource.Quantity { return resource.MustParse(s) }
