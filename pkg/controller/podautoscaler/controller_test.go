package podautoscaler

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/informers"
	kubefake "k8s.io/client-go/kubernetes/fake"
	scalefake "k8s.io/client-go/scale/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
	metricsfake "k8s.io/metrics/pkg/client/clientset/versioned/fake"
	"k8s.io/utils/ptr"
)

// staticMapper is a RESTMapper that knows Deployments.
type staticMapper struct{ meta.RESTMapper }

func (staticMapper) Reset() {}

func newMapper() staticMapper {
	m := meta.NewDefaultRESTMapper([]schema.GroupVersion{appsv1.SchemeGroupVersion})
	m.Add(appsv1.SchemeGroupVersion.WithKind("Deployment"), meta.RESTScopeNamespace)
	return staticMapper{m}
}

// harness runs the controller's sync on fakes: a Deployment "web" whose
// scale the scale client serves, pods and their metrics.
type harness struct {
	t        *testing.T
	c        *Controller
	kube     *kubefake.Clientset
	recorder *record.FakeRecorder
	replicas int32 // the Deployment's spec.replicas, as the scale client sees it
	missing  bool  // the scale target does not exist
	updates  []int32
}

func newHarness(t *testing.T, hpa *autoscalingv2.HorizontalPodAutoscaler, replicas int32, pods []*corev1.Pod, usage map[string]string, extra ...runtime.Object) *harness {
	t.Helper()
	h := &harness{t: t, replicas: replicas}
	objs := append([]runtime.Object{hpa}, extra...)
	for _, p := range pods {
		objs = append(objs, p)
	}
	h.kube = kubefake.NewClientset(objs...)
	scales := &scalefake.FakeScaleClient{}
	scales.AddReactor("get", "deployments", func(a clienttesting.Action) (bool, runtime.Object, error) {
		if h.missing {
			return true, nil, apierrors.NewNotFound(schema.GroupResource{Group: "apps", Resource: "deployments"}, "web")
		}
		sc := &autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns"},
			Spec: autoscalingv1.ScaleSpec{Replicas: h.replicas}, Status: autoscalingv1.ScaleStatus{Replicas: h.replicas, Selector: "app=web"}}
		return true, sc, nil
	})
	scales.AddReactor("update", "deployments", func(a clienttesting.Action) (bool, runtime.Object, error) {
		sc := a.(clienttesting.UpdateAction).GetObject().(*autoscalingv1.Scale)
		h.replicas = sc.Spec.Replicas
		h.updates = append(h.updates, sc.Spec.Replicas)
		return true, sc, nil
	})
	mc := metricsfake.NewSimpleClientset()
	mc.PrependReactor("list", "pods", func(a clienttesting.Action) (bool, runtime.Object, error) {
		sel := a.(clienttesting.ListAction).GetListRestrictions().Labels
		list := &metricsv1beta1.PodMetricsList{}
		for _, p := range pods {
			u, ok := usage[p.Name]
			if !ok || !sel.Matches(labels.Set(p.Labels)) {
				continue
			}
			list.Items = append(list.Items, metricsv1beta1.PodMetrics{
				ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace, Labels: p.Labels},
				Timestamp:  metav1.Time{Time: t0}, Window: metav1.Duration{Duration: 15 * time.Second},
				Containers: []metricsv1beta1.ContainerMetrics{{Name: "app", Usage: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(u)}}},
			})
		}
		return true, list, nil
	})
	factory := informers.NewSharedInformerFactory(h.kube, 0)
	h.c = New(Clients{Kube: h.kube, Scales: scales, Mapper: newMapper(), Metrics: mc.MetricsV1beta1()}, factory, Config{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	h.c.now = func() time.Time { return t0 }
	h.recorder = record.NewFakeRecorder(100)
	h.c.recorder = h.recorder
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	factory.Start(ctx.Done())
	factory.WaitForCacheSync(ctx.Done())
	return h
}

func (h *harness) sync() *autoscalingv2.HorizontalPodAutoscaler { return h.syncName("web") }

func (h *harness) syncName(name string) *autoscalingv2.HorizontalPodAutoscaler {
	h.t.Helper()
	_, _ = h.c.Sync(context.Background(), "ns/"+name)
	got, err := h.kube.AutoscalingV2().HorizontalPodAutoscalers("ns").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		h.t.Fatal(err)
	}
	return got
}

func (h *harness) events() []string {
	var out []string
	for {
		select {
		case e := <-h.recorder.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

func cpuHPA(target int32) *autoscalingv2.HorizontalPodAutoscaler {
	return &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", Generation: 1},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"},
			MinReplicas:    ptr.To[int32](1), MaxReplicas: 10,
			Metrics: []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
				Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To(target)}}}},
		},
	}
}

func webPods(n int) []*corev1.Pod {
	var out []*corev1.Pod
	for i := range n {
		p := makePod(string(rune('a'+i)), "100m").Pod
		p.Labels = map[string]string{"app": "web"}
		out = append(out, p)
	}
	return out
}

func condition(h *autoscalingv2.HorizontalPodAutoscaler, typ autoscalingv2.HorizontalPodAutoscalerConditionType) string {
	for _, c := range h.Status.Conditions {
		if c.Type == typ {
			return string(c.Status) + " " + c.Reason + ": " + c.Message
		}
	}
	return ""
}

func wantEvent(t *testing.T, events []string, want string) {
	t.Helper()
	for _, e := range events {
		if e == want {
			return
		}
	}
	t.Errorf("event %q not among %q", want, events)
}

func TestSyncScalesUp(t *testing.T) {
	h := newHarness(t, cpuHPA(50), 2, webPods(2), map[string]string{"a": "200m", "b": "200m"})
	got := h.sync()
	if len(h.updates) != 1 || h.updates[0] != 4 {
		t.Fatalf("scale updates %v, want [4] (8 wanted, capped at max(2x2, 4))", h.updates)
	}
	wantEvent(t, h.events(), "Normal SuccessfulRescale New size: 4; reason: cpu resource utilization (percentage of request) above target")
	st := got.Status
	if st.CurrentReplicas != 2 || st.DesiredReplicas != 4 || st.LastScaleTime == nil || st.ObservedGeneration == nil || *st.ObservedGeneration != 1 {
		t.Errorf("status %+v", st)
	}
	if len(st.CurrentMetrics) != 1 || *st.CurrentMetrics[0].Resource.Current.AverageUtilization != 200 || st.CurrentMetrics[0].Resource.Current.AverageValue.String() != "200m" {
		t.Errorf("current metrics %+v", st.CurrentMetrics)
	}
	for typ, want := range map[autoscalingv2.HorizontalPodAutoscalerConditionType]string{
		autoscalingv2.AbleToScale:    "True SucceededRescale: the HPA controller was able to update the target scale to 4",
		autoscalingv2.ScalingActive:  "True ValidMetricFound: the HPA was able to successfully calculate a replica count from cpu resource utilization (percentage of request)",
		autoscalingv2.ScalingLimited: "True ScaleUpLimit: the desired replica count is increasing faster than the maximum scale rate",
	} {
		if c := condition(got, typ); c != want {
			t.Errorf("%s: %q, want %q", typ, c, want)
		}
	}
}

func TestSyncHoldsScaleDownInWindow(t *testing.T) {
	h := newHarness(t, cpuHPA(50), 4, webPods(4), map[string]string{"a": "10m", "b": "10m", "c": "10m", "d": "10m"})
	got := h.sync()
	if len(h.updates) != 0 {
		t.Fatalf("scaled to %v within the downscale window", h.updates)
	}
	if c := condition(got, autoscalingv2.AbleToScale); c != "True ScaleDownStabilized: recent recommendations were higher than current one, applying the highest recent recommendation" {
		t.Errorf("AbleToScale %q", c)
	}
	if got.Status.DesiredReplicas != 4 {
		t.Errorf("desired %d", got.Status.DesiredReplicas)
	}
	h.c.now = func() time.Time { return t0.Add(5*time.Minute + time.Second) }
	h.sync()
	if len(h.updates) != 1 || h.updates[0] != 1 {
		t.Errorf("after the window: updates %v, want [1]", h.updates)
	}
	wantEvent(t, h.events(), "Normal SuccessfulRescale New size: 1; reason: All metrics below target")
}

func TestSyncBadInput(t *testing.T) {
	t.Run("target missing", func(t *testing.T) {
		h := newHarness(t, cpuHPA(50), 2, webPods(2), nil)
		h.missing = true
		got := h.sync()
		wantEvent(t, h.events(), `Warning FailedGetScale deployments.apps "web" not found`)
		if c := condition(got, autoscalingv2.AbleToScale); c != `False FailedGetScale: the HPA controller was unable to get the target's current scale: deployments.apps "web" not found` {
			t.Errorf("AbleToScale %q", c)
		}
	})
	t.Run("unknown kind", func(t *testing.T) {
		hpa := cpuHPA(50)
		hpa.Spec.ScaleTargetRef.Kind = "Gadget"
		h := newHarness(t, hpa, 2, webPods(2), nil)
		got := h.sync()
		if c := condition(got, autoscalingv2.AbleToScale); !strings.HasPrefix(c, `False FailedGetScale: the HPA controller was unable to get the target's current scale: no matches for`) {
			t.Errorf("AbleToScale %q", c)
		}
	})
	t.Run("pods without requests", func(t *testing.T) {
		pods := webPods(1)
		pods[0].Spec.Containers[0].Resources.Requests = nil
		h := newHarness(t, cpuHPA(50), 1, pods, map[string]string{"a": "200m"})
		got := h.sync()
		if len(h.updates) != 0 {
			t.Errorf("scaled: %v", h.updates)
		}
		ev := h.events()
		wantEvent(t, ev, "Warning FailedGetResourceMetric failed to get cpu utilization: missing request for cpu in container app of Pod a")
		wantEvent(t, ev, "Warning FailedComputeMetricsReplicas invalid metrics (1 invalid out of 1), first error is: failed to get cpu resource metric value: failed to get cpu utilization: missing request for cpu in container app of Pod a")
		if c := condition(got, autoscalingv2.ScalingActive); c != "False FailedGetResourceMetric: the HPA was unable to compute the replica count: failed to get cpu utilization: missing request for cpu in container app of Pod a" {
			t.Errorf("ScalingActive %q", c)
		}
	})
	t.Run("no metrics", func(t *testing.T) {
		h := newHarness(t, cpuHPA(50), 2, webPods(2), nil)
		got := h.sync()
		if c := condition(got, autoscalingv2.ScalingActive); c != "False FailedGetResourceMetric: the HPA was unable to compute the replica count: failed to get cpu utilization: unable to get metrics for resource cpu: no metrics returned from resource metrics API" {
			t.Errorf("ScalingActive %q", c)
		}
		if got.Status.CurrentReplicas != 2 {
			t.Errorf("currentReplicas %d", got.Status.CurrentReplicas)
		}
	})
	t.Run("pods metric", func(t *testing.T) {
		hpa := cpuHPA(50)
		hpa.Spec.Metrics = []autoscalingv2.MetricSpec{{Type: autoscalingv2.PodsMetricSourceType, Pods: &autoscalingv2.PodsMetricSource{
			Metric: autoscalingv2.MetricIdentifier{Name: "qps"}, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: ptr.To(resource.MustParse("10"))}}}}
		h := newHarness(t, hpa, 2, webPods(2), map[string]string{"a": "200m", "b": "200m"})
		got := h.sync()
		if len(h.updates) != 0 {
			t.Errorf("scaled: %v", h.updates)
		}
		if c := condition(got, autoscalingv2.ScalingActive); !strings.HasPrefix(c, "False FailedGetPodsMetric: the HPA was unable to compute the replica count: unable to get metric qps: ") {
			t.Errorf("ScalingActive %q", c)
		}
	})
	t.Run("scaled to zero", func(t *testing.T) {
		h := newHarness(t, cpuHPA(50), 0, webPods(2), map[string]string{"a": "200m", "b": "200m"})
		got := h.sync()
		if c := condition(got, autoscalingv2.ScalingActive); c != "False ScalingDisabled: scaling is disabled since the replica count of the target is zero" || len(h.updates) != 0 {
			t.Errorf("ScalingActive %q, updates %v", c, h.updates)
		}
	})
	t.Run("above max", func(t *testing.T) {
		h := newHarness(t, cpuHPA(50), 12, webPods(2), map[string]string{"a": "50m", "b": "50m"})
		h.sync()
		wantEvent(t, h.events(), "Normal SuccessfulRescale New size: 10; reason: Current number of replicas above Spec.MaxReplicas")
	})
}

// TestSyncAmbiguousSelector: two HPAs on one target both refuse to scale.
func TestSyncAmbiguousSelector(t *testing.T) {
	second := cpuHPA(50)
	second.Name = "web2"
	h := newHarness(t, cpuHPA(50), 2, webPods(2), map[string]string{"a": "200m", "b": "200m"}, second)
	h.sync()
	got := h.syncName("web2")
	want := "False AmbiguousSelector: pods by selector app=web are controlled by multiple HPAs: [ns/web ns/web2]"
	if c := condition(got, autoscalingv2.ScalingActive); c != want {
		t.Errorf("second HPA: %q", c)
	}
	if got := h.sync(); condition(got, autoscalingv2.ScalingActive) != want {
		t.Errorf("first HPA on its next sync: %q", condition(got, autoscalingv2.ScalingActive))
	}
	wantEvent(t, h.events(), "Warning AmbiguousSelector pods by selector app=web are controlled by multiple HPAs: [ns/web ns/web2]")
	if len(h.updates) != 1 {
		t.Errorf("scale updates %v: only the first sync, before the second HPA was seen, scales", h.updates)
	}
	// Once the second is gone, the first scales again.
	h.c.selectors.forget("ns/web2")
	if got := h.sync(); condition(got, autoscalingv2.ScalingActive) == want {
		t.Errorf("still ambiguous after the other HPA went")
	}
}
