package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
	metricsclient "k8s.io/metrics/pkg/client/clientset/versioned"

	"github.com/flotilla-io/flotilla/pkg/extensions"
	"github.com/flotilla-io/flotilla/pkg/server/testserver"
	"github.com/flotilla-io/flotilla/pkg/sim"
	"github.com/flotilla-io/flotilla/pkg/sim/simtest"
)

// metricsCluster is a server scraping every second and two simulated
// nodes serving usage, with these pods Running (CPU and memory split
// evenly between a pod's containers):
//
//	metrics-a/busy   met-0  app=web  500m 64Mi  containers a, b
//	metrics-a/web2   met-1  app=web  200m 16Mi  container c
//	metrics-a/db     met-0  app=db   100m  8Mi  container c
//	metrics-b/other  met-1  app=web  300m 32Mi  container c
//	metrics-a/idle   met-1  app=web  (no usage: no metrics, as upstream)
type metricsCluster struct {
	srv *testserver.Instance
	cs  kubernetes.Interface
	mc  metricsclient.Interface
}

func startMetricsCluster(t *testing.T) *metricsCluster {
	t.Helper()
	srv := testserver.Start(t, testserver.Options{MetricsResolution: time.Second})
	cs := srv.Clientset(t)
	mc, err := metricsclient.NewForConfig(srv.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	simtest.Start(t, cs, sim.Config{
		Nodes: 2, NamePrefix: "met",
		CPU: resource.MustParse("4"), Memory: resource.MustParse("8Gi"), Pods: 20,
		Labels:             map[string]string{"pool": "metrics"},
		LeaseRenewInterval: 200 * time.Millisecond, StatusInterval: 400 * time.Millisecond,
		Workers: 4, Stats: simtest.Stats(t, srv),
	})
	ctx := context.Background()
	for _, ns := range []string{"metrics-a", "metrics-b"} {
		if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		settled(t, cs, ns)
	}
	pod := func(ns, name, node, app, cpu, mem string, containers ...string) {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"app": app}, Annotations: map[string]string{}},
			Spec:       corev1.PodSpec{NodeName: node},
		}
		if cpu != "" {
			p.Annotations[extensions.SimCPUAnnotation] = cpu
			p.Annotations[extensions.SimMemoryAnnotation] = mem
		}
		for _, c := range containers {
			p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: c, Image: "busybox"})
		}
		if _, err := cs.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	pod("metrics-a", "busy", "met-0", "web", "500m", "64Mi", "a", "b")
	pod("metrics-a", "web2", "met-1", "web", "200m", "16Mi", "c")
	pod("metrics-a", "db", "met-0", "db", "100m", "8Mi", "c")
	pod("metrics-b", "other", "met-1", "web", "300m", "32Mi", "c")
	pod("metrics-a", "idle", "met-1", "web", "", "", "c")
	c := &metricsCluster{srv: srv, cs: cs, mc: mc}
	// Two scrapes after the pods run, every pod with usage is served.
	testserver.Eventually(t, 30*time.Second, "pod metrics of the 4 busy pods", func() (bool, string) {
		l, err := mc.MetricsV1beta1().PodMetricses("").List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		return len(l.Items) == 4, fmt.Sprintf("%d pod metrics", len(l.Items))
	})
	testserver.Eventually(t, 30*time.Second, "node metrics of both nodes", func() (bool, string) {
		l, err := mc.MetricsV1beta1().NodeMetricses().List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		return len(l.Items) == 2, fmt.Sprintf("%d node metrics", len(l.Items))
	})
	return c
}

// nearMilli checks a CPU quantity within 2m of want (the sim's counters
// and timestamps are rounded to the nanosecond and millisecond).
func nearMilli(q resource.Quantity, want int64) bool {
	d := q.MilliValue() - want
	return d >= -2 && d <= 2
}

func TestMetricsAPI(t *testing.T) {
	c := startMetricsCluster(t)
	ctx := context.Background()
	pods := c.mc.MetricsV1beta1().PodMetricses("metrics-a")

	// get: the usage per container, metrics-server's metadata.
	busy, err := pods.Get(ctx, "busy", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(busy.Containers) != 2 || busy.Containers[0].Name != "a" || busy.Containers[1].Name != "b" {
		t.Fatalf("busy containers = %+v", busy.Containers)
	}
	for _, ct := range busy.Containers {
		if !nearMilli(ct.Usage[corev1.ResourceCPU], 250) || ct.Usage.Memory().Value() != 32<<20 {
			t.Errorf("busy/%s usage = cpu %s memory %s, want 250m 32Mi", ct.Name, ct.Usage.Cpu(), ct.Usage.Memory())
		}
	}
	if busy.Labels["app"] != "web" || busy.CreationTimestamp.IsZero() || busy.Timestamp.IsZero() ||
		busy.Window.Duration < 500*time.Millisecond || busy.Window.Duration > 5*time.Second {
		t.Errorf("busy metadata = %+v timestamp %v window %v", busy.ObjectMeta, busy.Timestamp, busy.Window)
	}

	// list by label, by field, in a namespace and in all of them.
	names := func(l *metricsv1beta1.PodMetricsList) string {
		var out []string
		for _, p := range l.Items {
			out = append(out, p.Namespace+"/"+p.Name)
		}
		return strings.Join(out, " ")
	}
	for _, tc := range []struct {
		ns, label, field, want string
	}{
		{"metrics-a", "", "", "metrics-a/busy metrics-a/db metrics-a/web2"},
		{"metrics-a", "app=web", "", "metrics-a/busy metrics-a/web2"},
		{"", "app=web", "", "metrics-a/busy metrics-a/web2 metrics-b/other"},
		{"", "app in (db)", "", "metrics-a/db"},
		{"", "", "metadata.name=other", "metrics-b/other"},
		{"", "", "metadata.namespace=metrics-b", "metrics-b/other"},
	} {
		l, err := c.mc.MetricsV1beta1().PodMetricses(tc.ns).List(ctx, metav1.ListOptions{LabelSelector: tc.label, FieldSelector: tc.field})
		if err != nil {
			t.Fatalf("list %+v: %v", tc, err)
		}
		if got := names(l); got != tc.want {
			t.Errorf("list %+v = %q, want %q", tc, got, tc.want)
		}
	}

	// Nodes: running pods plus the sim's base of 100m and 256Mi.
	n0, err := c.mc.MetricsV1beta1().NodeMetricses().Get(ctx, "met-0", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !nearMilli(n0.Usage[corev1.ResourceCPU], 700) || n0.Usage.Memory().Value() != (256+64+8)<<20 || n0.Labels["pool"] != "metrics" {
		t.Errorf("met-0 = %+v", n0)
	}
	nl, err := c.mc.MetricsV1beta1().NodeMetricses().List(ctx, metav1.ListOptions{LabelSelector: "pool=metrics", FieldSelector: "metadata.name=met-1"})
	if err != nil || len(nl.Items) != 1 || nl.Items[0].Name != "met-1" || !nearMilli(nl.Items[0].Usage[corev1.ResourceCPU], 600) {
		t.Errorf("nodes met-1 by selectors = %+v, %v", nl, err)
	}
	if nl, err := c.mc.MetricsV1beta1().NodeMetricses().List(ctx, metav1.ListOptions{LabelSelector: "pool=other"}); err != nil || len(nl.Items) != 0 {
		t.Errorf("nodes of another pool = %+v, %v", nl, err)
	}

	// NotFound as metrics-server answers it: the cache's for objects
	// that do not exist, the metrics resource's for ones without usage.
	for _, tc := range []struct {
		get  func() error
		want string
	}{
		{func() error { _, err := pods.Get(ctx, "nosuch", metav1.GetOptions{}); return err }, `pods "nosuch" not found`},
		{func() error { _, err := pods.Get(ctx, "idle", metav1.GetOptions{}); return err }, `podmetrics.metrics.k8s.io "metrics-a/idle" not found`},
		{func() error {
			_, err := c.mc.MetricsV1beta1().NodeMetricses().Get(ctx, "nosuch", metav1.GetOptions{})
			return err
		}, `node "nosuch" not found`},
	} {
		err := tc.get()
		if !apierrors.IsNotFound(err) || err.Error() != tc.want {
			t.Errorf("err = %v, want NotFound %q", err, tc.want)
		}
	}
	// Bad selectors and verbs get Status errors.
	if _, err := pods.List(ctx, metav1.ListOptions{LabelSelector: "app in (("}); !apierrors.IsBadRequest(err) {
		t.Errorf("bad label selector: %v", err)
	}
	if _, err := pods.List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=met-0"}); !apierrors.IsBadRequest(err) {
		t.Errorf("unsupported field selector: %v", err)
	}
	if _, err := pods.Watch(ctx, metav1.ListOptions{}); !apierrors.IsMethodNotSupported(err) {
		t.Errorf("watch: %v", err)
	}
	raw := c.cs.CoreV1().RESTClient()
	res := raw.Delete().AbsPath("/apis/metrics.k8s.io/v1beta1/namespaces/metrics-a/pods/busy").Do(ctx)
	if err := res.Error(); !apierrors.IsMethodNotSupported(err) {
		t.Errorf("delete: %v", err)
	}

	// Discovery, legacy: the group and its resources as metrics-server
	// lists them.
	body, err := raw.Get().AbsPath("/apis/metrics.k8s.io/v1beta1").DoRaw(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var rl metav1.APIResourceList
	if err := json.Unmarshal(body, &rl); err != nil || rl.GroupVersion != "metrics.k8s.io/v1beta1" || len(rl.APIResources) != 2 ||
		rl.APIResources[0].Kind != "NodeMetrics" || rl.APIResources[1].Kind != "PodMetrics" || !rl.APIResources[1].Namespaced {
		t.Errorf("resource list = %s", body)
	}
	groups, err := c.cs.Discovery().ServerGroups()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, g := range groups.Groups {
		found = found || (g.Name == "metrics.k8s.io" && g.PreferredVersion.Version == "v1beta1")
	}
	if !found {
		t.Error("metrics.k8s.io missing from the group list")
	}

	// Unauthenticated requests are refused as every API request.
	anon := c.srv.RESTConfig()
	anon.CertData, anon.KeyData = nil, nil
	anonMC, err := metricsclient.NewForConfig(anon)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := anonMC.MetricsV1beta1().PodMetricses("metrics-a").List(ctx, metav1.ListOptions{}); !apierrors.IsUnauthorized(err) {
		t.Errorf("anonymous list: %v", err)
	}
}

// kubectl runs the stock kubectl against the cluster with its own
// discovery cache.
func (c *metricsCluster) kubectl(t *testing.T, cacheDir string, args ...string) string {
	t.Helper()
	const bin = "/usr/bin/kubectl"
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("the stock kubectl is required at %s: %v", bin, err)
	}
	cmd := exec.Command(bin, append([]string{"--kubeconfig", c.srv.Kubeconfig, "--cache-dir", cacheDir}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// table splits kubectl's columns.
func table(out string) [][]string {
	var rows [][]string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		rows = append(rows, strings.Fields(line))
	}
	return rows
}

func TestKubectlTop(t *testing.T) {
	c := startMetricsCluster(t)
	cache := t.TempDir()
	// A window that straddles a pod's start averages the usage before
	// and after it, as upstream's would; a few rounds later every window
	// is steady and the figures exact.
	check := func(args string, want [][]string) {
		t.Helper()
		testserver.Eventually(t, 10*time.Second, "kubectl "+args, func() (bool, string) {
			got := table(c.kubectl(t, cache, strings.Fields(args)...))
			return fmt.Sprint(got) == fmt.Sprint(want), fmt.Sprintf("\n got %v\nwant %v", got, want)
		})
	}
	check("top node", [][]string{
		{"NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)", "MEMORY(%)"},
		{"met-0", "700m", "17%", "328Mi", "4%"},
		{"met-1", "600m", "15%", "304Mi", "3%"},
	})
	check("top node met-1", [][]string{
		{"NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)", "MEMORY(%)"},
		{"met-1", "600m", "15%", "304Mi", "3%"},
	})
	check("top pod -n metrics-a", [][]string{
		{"NAME", "CPU(cores)", "MEMORY(bytes)"},
		{"busy", "500m", "64Mi"},
		{"db", "100m", "8Mi"},
		{"web2", "200m", "16Mi"},
	})
	check("top pod -A --sort-by=cpu", [][]string{
		{"NAMESPACE", "NAME", "CPU(cores)", "MEMORY(bytes)"},
		{"metrics-a", "busy", "500m", "64Mi"},
		{"metrics-b", "other", "300m", "32Mi"},
		{"metrics-a", "web2", "200m", "16Mi"},
		{"metrics-a", "db", "100m", "8Mi"},
	})
	check("top pod -A --sort-by=memory -l app=web", [][]string{
		{"NAMESPACE", "NAME", "CPU(cores)", "MEMORY(bytes)"},
		{"metrics-a", "busy", "500m", "64Mi"},
		{"metrics-b", "other", "300m", "32Mi"},
		{"metrics-a", "web2", "200m", "16Mi"},
	})
	check("top pod -A --containers --sort-by=cpu -l app=web", [][]string{
		{"NAMESPACE", "POD", "NAME", "CPU(cores)", "MEMORY(bytes)"},
		{"metrics-a", "busy", "a", "250m", "32Mi"},
		{"metrics-a", "busy", "b", "250m", "32Mi"},
		{"metrics-b", "other", "c", "300m", "32Mi"},
		{"metrics-a", "web2", "c", "200m", "16Mi"},
	})
	check("top pod busy -n metrics-a --containers", [][]string{
		{"POD", "NAME", "CPU(cores)", "MEMORY(bytes)"},
		{"busy", "a", "250m", "32Mi"},
		{"busy", "b", "250m", "32Mi"},
	})
	check("api-resources --api-group=metrics.k8s.io", [][]string{
		{"NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"},
		{"nodes", "metrics.k8s.io/v1beta1", "false", "NodeMetrics"},
		{"pods", "metrics.k8s.io/v1beta1", "true", "PodMetrics"},
	})
	// kubectl get reads the metrics as Tables.
	out := c.kubectl(t, cache, "get", "podmetrics", "-n", "metrics-a", "db")
	if rows := table(out); len(rows) != 2 || rows[0][0] != "NAME" || rows[1][0] != "db" {
		t.Errorf("kubectl get podmetrics db:\n%s", out)
	}
}
