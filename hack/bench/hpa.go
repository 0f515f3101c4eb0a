package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/scale"
	"k8s.io/client-go/tools/clientcmd"
	metricsclient "k8s.io/metrics/pkg/client/clientset/versioned"
	"k8s.io/utils/ptr"

	"github.com/flotilla-io/flotilla/pkg/controller/podautoscaler"
	"github.com/flotilla-io/flotilla/pkg/extensions"
)

// benchHPA measures the horizontal pod autoscaler: n Deployments of one
// simulated pod each (requests 100m, usage 50m through the sim's
// annotation), each with an HPA at a 50% CPU target, on the built
// server with its own autoscaler off. This process runs the controller
// (pkg/controller/podautoscaler, 5 workers, as the server does) against
// that server and times full sync rounds: every HPA synced once (scale
// GET, pods from the informer cache, PodMetrics LIST from the metrics
// API, status write when it changed). The first round writes every
// status; later ones are the steady state. CPU is the server's (API,
// etcd, metrics API) and this process's (the controller) over a round.
func benchHPA(bin string, n, nodes int) {
	dir, err := os.MkdirTemp("", "flotilla-bench-hpa-")
	check(err)
	defer os.RemoveAll(dir)
	srv := start(bin, dir, "--disable-agent", "--disable-controllers=horizontalpodautoscaling", "--metrics-resolution=5s")
	defer srv.stop()
	cs := srv.client()
	ctx := context.Background()
	token, err := os.ReadFile(filepath.Join(dir, "token"))
	check(err)
	sim := exec.Command(bin, "sim", "--kubeconfig", srv.kubeconfig, "--nodes", strconv.Itoa(nodes), "--name-prefix", "h",
		"--cpu", "64", "--memory", "256Gi", "--pods", "110", "--qps", "3000", "--burst", "3000")
	sim.Env = append(os.Environ(), "FLOTILLA_TOKEN="+string(token))
	logf, err := os.Create(filepath.Join(dir, "sim.log"))
	check(err)
	sim.Stdout, sim.Stderr = logf, logf
	check(sim.Start())
	defer func() {
		_ = sim.Process.Signal(os.Interrupt)
		_ = sim.Wait()
	}()
	waitNodes(ctx, cs, nodes)
	waitServiceAccount(ctx, cs, "default")

	t0 := time.Now()
	parallel(n, 32, func(i int) time.Duration {
		name := fmt.Sprintf("app-%d", i)
		labels := map[string]string{"app": name}
		d := &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: appsv1.DeploymentSpec{
				Replicas: ptr.To[int32](1),
				Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: map[string]string{
						extensions.SimCPUAnnotation: "50m", extensions.SimMemoryAnnotation: "32Mi"}},
					Spec: corev1.PodSpec{TerminationGracePeriodSeconds: ptr.To[int64](0), Containers: []corev1.Container{{
						Name: "app", Image: "registry.local/app:1",
						Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}},
					}}},
				},
			},
		}
		_, err := cs.AppsV1().Deployments("default").Create(ctx, d, metav1.CreateOptions{})
		check(err)
		h := &autoscalingv2.HorizontalPodAutoscaler{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
				ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: name},
				MinReplicas:    ptr.To[int32](1), MaxReplicas: 10,
				Metrics: []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
					Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To[int32](50)}}}},
			},
		}
		_, err = cs.AutoscalingV2().HorizontalPodAutoscalers("default").Create(ctx, h, metav1.CreateOptions{})
		check(err)
		return 0
	})
	cfg, err := clientcmd.BuildConfigFromFlags("", srv.kubeconfig)
	check(err)
	cfg.QPS, cfg.Burst = -1, 1000
	mc, err := metricsclient.NewForConfig(cfg)
	check(err)
	for {
		l, err := mc.MetricsV1beta1().PodMetricses("default").List(ctx, metav1.ListOptions{})
		if err == nil && len(l.Items) == n {
			break
		}
		if time.Since(t0) > 10*time.Minute {
			panic(fmt.Sprintf("pod metrics of %d pods after 10 min (%v)", len(l.Items), err))
		}
		time.Sleep(time.Second)
	}
	record(fmt.Sprintf("%d Deployments + HPAs created, pods Running with metrics", n), secs(time.Since(t0)), "")

	kube, err := kubernetes.NewForConfig(cfg)
	check(err)
	cached := memory.NewMemCacheClient(kube.Discovery())
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(cached)
	scales, err := scale.NewForConfig(cfg, mapper, dynamic.LegacyAPIPathResolverFunc, scale.NewDiscoveryScaleKindResolver(cached))
	check(err)
	factory := informers.NewSharedInformerFactory(kube, 0)
	c := podautoscaler.New(podautoscaler.Clients{Kube: kube, Scales: scales, Mapper: mapper, Metrics: mc.MetricsV1beta1()}, factory,
		podautoscaler.Config{SyncPeriod: time.Hour}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	factory.Start(rctx.Done())
	// Run with no workers: the recorder and caches, no periodic syncs.
	go c.Run(rctx, 0)
	for round := 1; round <= 3; round++ {
		serverCPU, controllerCPU := cpuTime(srv.cmd.Process.Pid), selfCPU()
		t1 := time.Now()
		synced, err := c.SyncAll(ctx, 5)
		check(err)
		wall := time.Since(t1)
		if synced != n {
			panic(fmt.Sprintf("round %d synced %d HPAs", round, synced))
		}
		what := "steady state"
		if round == 1 {
			what = "first, writes every status"
		}
		record(fmt.Sprintf("HPA full sync round %d of %d HPAs (%s), 5 workers", round, n, what), ms(wall), "< 15 s (the sync period)")
		record("  wall per HPA; server CPU / controller CPU per HPA", fmt.Sprintf("%s; %s / %s", ms(wall/time.Duration(n)),
			ms((cpuTime(srv.cmd.Process.Pid)-serverCPU)/time.Duration(n)), ms((selfCPU()-controllerCPU)/time.Duration(n))), "")
		time.Sleep(6 * time.Second) // a new metrics sample
	}
	l, err := cs.AutoscalingV2().HorizontalPodAutoscalers("default").List(ctx, metav1.ListOptions{})
	check(err)
	active := 0
	for _, h := range l.Items {
		for _, cd := range h.Status.Conditions {
			if cd.Type == autoscalingv2.ScalingActive && cd.Status == corev1.ConditionTrue {
				active++
			}
		}
	}
	record("  HPAs with ScalingActive=True after the rounds", fmt.Sprintf("%d/%d", active, n), "all")
}
