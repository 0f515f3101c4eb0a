package integration

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
	metricsclient "k8s.io/metrics/pkg/client/clientset/versioned"
	"k8s.io/utils/ptr"

	"github.com/flotilla-io/flotilla/pkg/extensions"
	"github.com/flotilla-io/flotilla/pkg/server"
	"github.com/flotilla-io/flotilla/pkg/server/testserver"
	"github.com/flotilla-io/flotilla/pkg/sim"
	"github.com/flotilla-io/flotilla/pkg/sim/simtest"
)

// hpaCluster is a control plane whose autoscaler syncs every second and
// whose metrics API scrapes every second, with simulated nodes serving
// the usage their pods' flotilla.io/sim-cpu annotations name.
type hpaCluster struct {
	in *testserver.Instance
	cs kubernetes.Interface
}

func startHPACluster(t *testing.T) *hpaCluster {
	t.Helper()
	in := testserver.StartConfig(t, server.Config{
		DataDir: t.TempDir(), BindAddress: "127.0.0.1", DisableAgent: true,
		EtcdClientPort: testserver.FreePort(t), EtcdPeerPort: testserver.FreePort(t),
		MetricsResolution: time.Second,
		Controllers:       server.ControllerConfig{HPASyncPeriod: time.Second},
	})
	cs := in.Clientset(t)
	simtest.Start(t, cs, sim.Config{Nodes: 2, NamePrefix: "hpa", CPU: resource.MustParse("32"), Memory: resource.MustParse("64Gi"), Pods: 110,
		LeaseRenewInterval: time.Second, StatusInterval: 2 * time.Second, Stats: simtest.Stats(t, in)})
	return &hpaCluster{in: in, cs: cs}
}

func (c *hpaCluster) namespace(t *testing.T, name string) string {
	t.Helper()
	if _, err := c.cs.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return name
}

// deployment creates a Deployment whose pods request cpuRequest ("" =
// none) and use simCPU each.
func (c *hpaCluster) deployment(t *testing.T, ns, name string, replicas int32, cpuRequest, simCPU string, mutate ...func(*corev1.PodSpec)) {
	t.Helper()
	labels := map[string]string{"app": name}
	ct := corev1.Container{Name: "app", Image: "registry.local/app:1"}
	if cpuRequest != "" {
		ct.Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpuRequest)}
	}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: map[string]string{
					// metrics-server (and so the metrics API) leaves out a pod
					// whose containers report no memory.
					extensions.SimCPUAnnotation: simCPU, extensions.SimMemoryAnnotation: "32Mi"}},
				Spec: corev1.PodSpec{TerminationGracePeriodSeconds: ptr.To[int64](0), Containers: []corev1.Container{ct}},
			},
		},
	}
	for _, m := range mutate {
		m(&d.Spec.Template.Spec)
	}
	if _, err := c.cs.AppsV1().Deployments(ns).Create(context.Background(), d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func cpuAutoscaler(name, target string, min, max, percent int32) *autoscalingv2.HorizontalPodAutoscaler {
	return &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: target},
			MinReplicas:    ptr.To(min), MaxReplicas: max,
			Metrics: []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
				Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To(percent)}}}},
		},
	}
}

func (c *hpaCluster) autoscaler(t *testing.T, ns string, h *autoscalingv2.HorizontalPodAutoscaler) {
	t.Helper()
	if _, err := c.cs.AutoscalingV2().HorizontalPodAutoscalers(ns).Create(context.Background(), h, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func (c *hpaCluster) replicas(t *testing.T, ns, name string) int32 {
	t.Helper()
	d, err := c.cs.AppsV1().Deployments(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return *d.Spec.Replicas
}

func (c *hpaCluster) waitReplicas(t *testing.T, ns, name string, want int32, timeout time.Duration) {
	t.Helper()
	waitUntil(t, timeout, func() (bool, string) {
		got := c.replicas(t, ns, name)
		return got == want, fmt.Sprintf("%s/%s has %d replicas, want %d; HPA: %s", ns, name, got, want, c.describe(t, ns))
	})
}

// describe sums up the namespace's HPAs for failure messages.
func (c *hpaCluster) describe(t *testing.T, ns string) string {
	l, err := c.cs.AutoscalingV2().HorizontalPodAutoscalers(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		return err.Error()
	}
	var b strings.Builder
	if mc, err := metricsclient.NewForConfig(c.in.RESTConfig()); err == nil {
		pm, err := mc.MetricsV1beta1().PodMetricses(ns).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			fmt.Fprintf(&b, "pod metrics: %v; ", err)
		} else {
			fmt.Fprintf(&b, "pod metrics of %d pods; ", len(pm.Items))
		}
	}
	for _, h := range l.Items {
		fmt.Fprintf(&b, "%s current=%d desired=%d", h.Name, h.Status.CurrentReplicas, h.Status.DesiredReplicas)
		for _, cd := range h.Status.Conditions {
			fmt.Fprintf(&b, " [%s=%s %s: %s]", cd.Type, cd.Status, cd.Reason, cd.Message)
		}
	}
	return b.String()
}

// waitCondition waits until the HPA's condition reads "STATUS REASON" and
// the extra check holds for the same object, and returns it.
func (c *hpaCluster) waitCondition(t *testing.T, ns, name string, typ autoscalingv2.HorizontalPodAutoscalerConditionType, want string, timeout time.Duration, also func(*autoscalingv2.HorizontalPodAutoscaler) bool) *autoscalingv2.HorizontalPodAutoscaler {
	t.Helper()
	var got *autoscalingv2.HorizontalPodAutoscaler
	waitUntil(t, timeout, func() (bool, string) {
		h, err := c.cs.AutoscalingV2().HorizontalPodAutoscalers(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		got = h
		for _, cd := range h.Status.Conditions {
			if cd.Type == typ && string(cd.Status)+" "+cd.Reason == want && (also == nil || also(h)) {
				return true, ""
			}
		}
		return false, fmt.Sprintf("want %s %s: %s", typ, want, c.describe(t, ns))
	})
	return got
}

// waitEvent waits for an Event about the HPA with the reason and a
// message containing msg.
func (c *hpaCluster) waitEvent(t *testing.T, ns, name, reason, msg string, timeout time.Duration) {
	t.Helper()
	waitUntil(t, timeout, func() (bool, string) {
		l, err := c.cs.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{FieldSelector: "involvedObject.name=" + name})
		if err != nil {
			return false, err.Error()
		}
		var seen []string
		for _, e := range l.Items {
			if e.Reason == reason && strings.Contains(e.Message, msg) && e.InvolvedObject.Kind == "HorizontalPodAutoscaler" && e.Source.Component == "horizontal-pod-autoscaler" {
				return true, ""
			}
			seen = append(seen, e.Reason+": "+e.Message)
		}
		return false, fmt.Sprintf("no %s event %q among %q", reason, msg, seen)
	})
}

func cpuUtilization(h *autoscalingv2.HorizontalPodAutoscaler) int32 {
	for _, m := range h.Status.CurrentMetrics {
		if m.Resource != nil && m.Resource.Name == corev1.ResourceCPU && m.Resource.Current.AverageUtilization != nil {
			return *m.Resource.Current.AverageUtilization
		}
	}
	return -1
}

// TestHPA runs the autoscaler against simulated workloads with synthetic
// usage, served through the metrics API as for any client.
func TestHPA(t *testing.T) {
	c := startHPACluster(t)

	t.Run("scales up to maxReplicas", func(t *testing.T) {
		ns := c.namespace(t, "hpa-up")
		c.deployment(t, ns, "web", 1, "100m", "200m")
		c.autoscaler(t, ns, cpuAutoscaler("web", "web", 1, 5, 50))
		// 200% of a 50% target: 4 wanted, then 16, capped at 4 (twice
		// one, at least four) and then at maxReplicas.
		c.waitEvent(t, ns, "web", "SuccessfulRescale", "New size: 4; reason: cpu resource utilization (percentage of request) above target", 60*time.Second)
		c.waitReplicas(t, ns, "web", 5, 60*time.Second)
		c.waitEvent(t, ns, "web", "SuccessfulRescale", "New size: 5; reason: cpu resource utilization (percentage of request) above target", 10*time.Second)
		h := c.waitCondition(t, ns, "web", autoscalingv2.ScalingLimited, "True TooManyReplicas", 30*time.Second, func(h *autoscalingv2.HorizontalPodAutoscaler) bool {
			return h.Status.CurrentReplicas == 5 && cpuUtilization(h) == 200
		})
		if h.Status.DesiredReplicas != 5 || h.Status.LastScaleTime == nil || h.Status.ObservedGeneration == nil {
			t.Errorf("status %+v", h.Status)
		}
		// kubectl reads it as upstream prints it.
		out, err := exec.Command("/usr/bin/kubectl", "--kubeconfig", c.in.Kubeconfig, "get", "hpa", "-n", ns).CombinedOutput()
		if err != nil {
			t.Fatalf("kubectl get hpa: %v\n%s", err, out)
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if len(lines) != 2 || strings.Join(strings.Fields(lines[0]), " ") != "NAME REFERENCE TARGETS MINPODS MAXPODS REPLICAS AGE" ||
			!strings.HasPrefix(strings.Join(strings.Fields(lines[1]), " "), "web Deployment/web cpu: 200%/50% 1 5 5 ") {
			t.Errorf("kubectl get hpa:\n%s", out)
		}
		out, err = exec.Command("/usr/bin/kubectl", "--kubeconfig", c.in.Kubeconfig, "describe", "hpa", "-n", ns, "web").CombinedOutput()
		if err != nil {
			t.Fatalf("kubectl describe hpa: %v\n%s", err, out)
		}
		for _, want := range []string{
			`resource cpu on pods  (as a percentage of request):  200% (200m) / 50%`,
			"ScalingLimited  True    TooManyReplicas",
			"SuccessfulRescale",
			"New size: 5; reason: cpu resource utilization (percentage of request) above target",
		} {
			if !strings.Contains(string(out), want) {
				t.Errorf("kubectl describe hpa lacks %q:\n%s", want, out)
			}
		}
	})

	t.Run("behavior policy limits the rate", func(t *testing.T) {
		ns := c.namespace(t, "hpa-policy")
		c.deployment(t, ns, "web", 1, "100m", "400m")
		h := cpuAutoscaler("web", "web", 1, 10, 50)
		h.Spec.Behavior = &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleUp: &autoscalingv2.HPAScalingRules{
			Policies: []autoscalingv2.HPAScalingPolicy{{Type: autoscalingv2.PodsScalingPolicy, Value: 1, PeriodSeconds: 600}}}}
		c.autoscaler(t, ns, h)
		c.waitReplicas(t, ns, "web", 2, 60*time.Second)
		// A later sync wants 8 and is held at 2 by the policy.
		c.waitCondition(t, ns, "web", autoscalingv2.ScalingLimited, "True ScaleUpLimit", 30*time.Second, func(h *autoscalingv2.HorizontalPodAutoscaler) bool {
			return h.Status.CurrentReplicas == 2 && h.Status.DesiredReplicas == 2 && cpuUtilization(h) == 400
		})
		if got := c.replicas(t, ns, "web"); got != 2 {
			t.Errorf("replicas %d after a limited sync", got)
		}
	})

	t.Run("scale-down waits for the stabilization window", func(t *testing.T) {
		ns := c.namespace(t, "hpa-down")
		c.deployment(t, ns, "web", 3, "100m", "10m")
		h := cpuAutoscaler("web", "web", 1, 5, 50)
		h.Spec.Behavior = &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleDown: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: ptr.To[int32](8)}}
		c.autoscaler(t, ns, h)
		c.waitCondition(t, ns, "web", autoscalingv2.AbleToScale, "True ScaleDownStabilized", 60*time.Second, func(h *autoscalingv2.HorizontalPodAutoscaler) bool {
			return h.Status.CurrentReplicas == 3 && cpuUtilization(h) == 10
		})
		if got := c.replicas(t, ns, "web"); got != 3 {
			t.Errorf("replicas %d while stabilized", got)
		}
		c.waitReplicas(t, ns, "web", 1, 60*time.Second)
		c.waitEvent(t, ns, "web", "SuccessfulRescale", "New size: 1; reason: All metrics below target", 10*time.Second)
	})

	t.Run("minReplicas", func(t *testing.T) {
		ns := c.namespace(t, "hpa-min")
		c.deployment(t, ns, "web", 1, "100m", "50m")
		c.autoscaler(t, ns, cpuAutoscaler("web", "web", 2, 4, 50))
		c.waitReplicas(t, ns, "web", 2, 30*time.Second)
		c.waitEvent(t, ns, "web", "SuccessfulRescale", "New size: 2; reason: Current number of replicas below Spec.MinReplicas", 10*time.Second)
	})

	t.Run("missing metrics count as 100% on a scale-down", func(t *testing.T) {
		ns := c.namespace(t, "hpa-missing")
		ctx := context.Background()
		// One pod on hpa-0, one on a node of a second sim that is then
		// stopped, so the metrics API no longer has its pod.
		stopB := func() func() {
			_, stop := simtest.Start(t, c.cs, sim.Config{Nodes: 1, NamePrefix: "hpb", CPU: resource.MustParse("32"), Memory: resource.MustParse("64Gi"), Pods: 110,
				LeaseRenewInterval: time.Second, StatusInterval: 2 * time.Second, Stats: simtest.Stats(t, c.in),
				Labels: map[string]string{"hpa-mix": "yes"}, Taints: []corev1.Taint{{Key: "hpa-mix", Value: "yes", Effect: corev1.TaintEffectNoSchedule}}})
			return stop
		}()
		labelNode(t, c.cs, "hpa-0", map[string]string{"hpa-mix": "yes"})
		c.deployment(t, ns, "web", 2, "100m", "10m", func(spec *corev1.PodSpec) {
			spec.NodeSelector = map[string]string{"hpa-mix": "yes"}
			spec.Tolerations = []corev1.Toleration{{Key: "hpa-mix", Operator: corev1.TolerationOpExists}}
			spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{MaxSkew: 1, TopologyKey: corev1.LabelHostname,
				WhenUnsatisfiable: corev1.DoNotSchedule, LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}}}
		})
		mc, err := metricsclient.NewForConfig(c.in.RESTConfig())
		if err != nil {
			t.Fatal(err)
		}
		podMetrics := func(want int) {
			t.Helper()
			waitUntil(t, 60*time.Second, func() (bool, string) {
				pods, err := c.cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
				if err != nil {
					return false, err.Error()
				}
				nodes := map[string]bool{}
				running := 0
				for _, p := range pods.Items {
					if p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil && p.Spec.NodeSelector["hpa-mix"] == "yes" {
						nodes[p.Spec.NodeName] = true
						running++
					}
				}
				l, err := mc.MetricsV1beta1().PodMetricses(ns).List(ctx, metav1.ListOptions{})
				if err != nil {
					return false, err.Error()
				}
				return running == 2 && len(nodes) == 2 && len(l.Items) == want, fmt.Sprintf("%d spread pods running on %v, %d pod metrics", running, nodes, len(l.Items))
			})
		}
		podMetrics(2)
		stopB()
		podMetrics(1)
		h := cpuAutoscaler("web", "web", 1, 4, 50)
		h.Spec.Behavior = &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleDown: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: ptr.To[int32](0)}}
		c.autoscaler(t, ns, h)
		// 10% on the pod with metrics would halve the count; the missing
		// pod counted at its whole request makes it 55%: no scale-down.
		c.waitCondition(t, ns, "web", autoscalingv2.ScalingActive, "True ValidMetricFound", 30*time.Second, func(h *autoscalingv2.HorizontalPodAutoscaler) bool {
			return cpuUtilization(h) == 10 && h.Status.DesiredReplicas == 2 && h.Status.LastScaleTime == nil
		})
		if got := c.replicas(t, ns, "web"); got != 2 {
			t.Errorf("replicas %d", got)
		}
	})

	t.Run("target missing", func(t *testing.T) {
		ns := c.namespace(t, "hpa-notarget")
		c.autoscaler(t, ns, cpuAutoscaler("web", "nope", 1, 4, 50))
		c.waitEvent(t, ns, "web", "FailedGetScale", `deployments.apps "nope" not found`, 30*time.Second)
		h := c.waitCondition(t, ns, "web", autoscalingv2.AbleToScale, "False FailedGetScale", 10*time.Second, nil)
		if msg := h.Status.Conditions[0].Message; msg != `the HPA controller was unable to get the target's current scale: deployments.apps "nope" not found` {
			t.Errorf("message %q", msg)
		}
	})

	t.Run("kind without scale", func(t *testing.T) {
		ns := c.namespace(t, "hpa-noscale")
		h := cpuAutoscaler("web", "cfg", 1, 4, 50)
		h.Spec.ScaleTargetRef = autoscalingv2.CrossVersionObjectReference{APIVersion: "v1", Kind: "ConfigMap", Name: "cfg"}
		if _, err := c.cs.CoreV1().ConfigMaps(ns).Create(context.Background(), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cfg"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		c.autoscaler(t, ns, h)
		c.waitEvent(t, ns, "web", "FailedGetScale", "", 30*time.Second)
		c.waitCondition(t, ns, "web", autoscalingv2.AbleToScale, "False FailedGetScale", 10*time.Second, nil)
	})

	t.Run("pods without requests", func(t *testing.T) {
		ns := c.namespace(t, "hpa-norequest")
		c.deployment(t, ns, "web", 2, "", "500m")
		c.autoscaler(t, ns, cpuAutoscaler("web", "web", 1, 4, 50))
		c.waitEvent(t, ns, "web", "FailedGetResourceMetric", "failed to get cpu utilization: missing request for cpu in container app of Pod web-", 60*time.Second)
		c.waitEvent(t, ns, "web", "FailedComputeMetricsReplicas", "invalid metrics (1 invalid out of 1), first error is: failed to get cpu resource metric value", 10*time.Second)
		h := c.waitCondition(t, ns, "web", autoscalingv2.ScalingActive, "False FailedGetResourceMetric", 10*time.Second, nil)
		if h.Status.CurrentReplicas != 2 || h.Status.LastScaleTime != nil {
			t.Errorf("status %+v", h.Status)
		}
		if got := c.replicas(t, ns, "web"); got != 2 {
			t.Errorf("replicas %d", got)
		}
	})

	t.Run("invalid specs", func(t *testing.T) {
		ns := c.namespace(t, "hpa-invalid")
		for _, tt := range []struct {
			mutate func(*autoscalingv2.HorizontalPodAutoscaler)
			want   string
		}{
			{func(h *autoscalingv2.HorizontalPodAutoscaler) {
				h.Spec.MinReplicas = ptr.To[int32](3)
				h.Spec.MaxReplicas = 2
			},
				"spec.maxReplicas: Invalid value: 2: must be greater than or equal to `minReplicas`"},
			{func(h *autoscalingv2.HorizontalPodAutoscaler) {
				h.Spec.Metrics[0].Resource.Target.AverageUtilization = ptr.To[int32](0)
			},
				"spec.metrics[0].resource.target.averageUtilization: Invalid value: 0: must be greater than 0"},
			{func(h *autoscalingv2.HorizontalPodAutoscaler) { h.Spec.MinReplicas = ptr.To[int32](0) },
				"spec.minReplicas: Invalid value: 0: must be greater than or equal to 1"},
		} {
			h := cpuAutoscaler("bad", "web", 1, 4, 50)
			tt.mutate(h)
			_, err := c.cs.AutoscalingV2().HorizontalPodAutoscalers(ns).Create(context.Background(), h, metav1.CreateOptions{})
			var status apierrors.APIStatus
			if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want 422 with %q", err, tt.want)
			} else if se, ok := err.(apierrors.APIStatus); ok {
				status = se
				if status.Status().Code != 422 || !strings.HasPrefix(status.Status().Message, `HorizontalPodAutoscaler.autoscaling "bad" is invalid: `) {
					t.Errorf("status %+v", status.Status())
				}
			}
		}
	})

	t.Run("v1 view keeps v2 fields", func(t *testing.T) {
		ns := c.namespace(t, "hpa-v1")
		h := cpuAutoscaler("web", "web", 1, 4, 50)
		h.Spec.Metrics = append(h.Spec.Metrics, autoscalingv2.MetricSpec{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
			Name: corev1.ResourceMemory, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: ptr.To(resource.MustParse("100Mi"))}}})
		h.Spec.Behavior = &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleDown: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: ptr.To[int32](60)}}
		c.autoscaler(t, ns, h)
		ctx := context.Background()
		v1, err := c.cs.AutoscalingV1().HorizontalPodAutoscalers(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if p := v1.Spec.TargetCPUUtilizationPercentage; p == nil || *p != 50 {
			t.Errorf("v1 cpu target %v", p)
		}
		if !strings.Contains(v1.Annotations["autoscaling.alpha.kubernetes.io/metrics"], `"name":"memory"`) ||
			!strings.Contains(v1.Annotations["autoscaling.alpha.kubernetes.io/behavior"], `"StabilizationWindowSeconds":60`) {
			t.Errorf("v1 annotations %v", v1.Annotations)
		}
		if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			v1, err := c.cs.AutoscalingV1().HorizontalPodAutoscalers(ns).Get(ctx, "web", metav1.GetOptions{})
			if err != nil {
				return err
			}
			v1.Spec.MaxReplicas = 6
			_, err = c.cs.AutoscalingV1().HorizontalPodAutoscalers(ns).Update(ctx, v1, metav1.UpdateOptions{})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		v2, err := c.cs.AutoscalingV2().HorizontalPodAutoscalers(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if v2.Spec.MaxReplicas != 6 || len(v2.Spec.Metrics) != 2 || v2.Spec.Metrics[0].Resource.Name != corev1.ResourceMemory ||
			v2.Spec.Behavior == nil || *v2.Spec.Behavior.ScaleDown.StabilizationWindowSeconds != 60 {
			t.Errorf("after a v1 update: %+v", v2.Spec)
		}
		for k := range v2.Annotations {
			if strings.HasPrefix(k, "autoscaling.alpha.kubernetes.io/") {
				t.Errorf("v2 carries %s", k)
			}
		}
		// A v1 HPA without a target gets upstream's 80%.
		bare := &autoscalingv1.HorizontalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Name: "bare"}, Spec: autoscalingv1.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv1.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"}, MaxReplicas: 3}}
		if _, err := c.cs.AutoscalingV1().HorizontalPodAutoscalers(ns).Create(ctx, bare, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		got, err := c.cs.AutoscalingV1().HorizontalPodAutoscalers(ns).Get(ctx, "bare", metav1.GetOptions{})
		if err != nil || got.Spec.TargetCPUUtilizationPercentage == nil || *got.Spec.TargetCPUUtilizationPercentage != 80 {
			t.Errorf("bare v1: %v %+v", err, got)
		}
	})
}
