package podautoscaler

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// testPod builds a pod for the calculator: Running and Ready since ten
// minutes, one container "app" requesting the given CPU and memory.
type testPod struct{ *corev1.Pod }

func makePod(name, cpu string) testPod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse("100Mi")}}}}},
		Status: corev1.PodStatus{
			Phase:      corev1.PodRunning,
			StartTime:  &metav1.Time{Time: t0.Add(-10 * time.Minute)},
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Time{Time: t0.Add(-9 * time.Minute)}}},
		},
	}
	return testPod{p}
}

func (p testPod) phase(ph corev1.PodPhase) testPod { p.Status.Phase = ph; return p }
func (p testPod) started(ago time.Duration) testPod {
	p.Status.StartTime = &metav1.Time{Time: t0.Add(-ago)}
	return p
}
func (p testPod) ready(status corev1.ConditionStatus, changedAgo time.Duration) testPod {
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: status, LastTransitionTime: metav1.Time{Time: t0.Add(-changedAgo)}}}
	return p
}
func (p testPod) deleted() testPod { p.DeletionTimestamp = &metav1.Time{Time: t0}; return p }
func (p testPod) noRequest() testPod {
	p.Spec.Containers[0].Resources.Requests = nil
	return p
}
func (p testPod) sidecar(cpu string) testPod {
	p.Spec.InitContainers = append(p.Spec.InitContainers, corev1.Container{Name: "side", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways),
		Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)}}})
	return p
}

func pods(ps ...testPod) []*corev1.Pod {
	out := make([]*corev1.Pod, len(ps))
	for i, p := range ps {
		out[i] = p.Pod
	}
	return out
}

// usage gives each named pod a sample (milli-units) taken now over 15 s.
func usage(kv map[string]int64) podMetrics {
	out := podMetrics{}
	for k, v := range kv {
		out[k] = podMetric{value: v, timestamp: t0, window: 15 * time.Second}
	}
	return out
}

func testCalc() calculator {
	return calculator{tolerance: 0.1, cpuInitializationPeriod: 5 * time.Minute, initialReadinessDelay: 30 * time.Second, now: func() time.Time { return t0 }}
}

// TestUtilization follows the algorithm as upstream documents it
// (desiredReplicas = ceil(currentReplicas × currentMetric / desiredMetric),
// the 10 % tolerance, missing and not-yet-ready pods) and the walkthrough.
func TestUtilization(t *testing.T) {
	tests := []struct {
		name     string
		current  int32
		target   int32
		resource corev1.ResourceName
		pods     []*corev1.Pod
		usage    map[string]int64
		want     int32
		wantUtil int32
		wantErr  string
	}{
		{"200m of 100m doubles", 2, 100, corev1.ResourceCPU, pods(makePod("a", "100m"), makePod("b", "100m")),
			map[string]int64{"a": 200, "b": 200}, 4, 200, ""},
		{"50m of 100m halves", 4, 100, corev1.ResourceCPU, pods(makePod("a", "100m"), makePod("b", "100m"), makePod("c", "100m"), makePod("d", "100m")),
			map[string]int64{"a": 50, "b": 50, "c": 50, "d": 50}, 2, 50, ""},
		{"within tolerance keeps the count", 3, 50, corev1.ResourceCPU, pods(makePod("a", "1"), makePod("b", "1"), makePod("c", "1")),
			map[string]int64{"a": 540, "b": 540, "c": 540}, 3, 54, ""},
		{"just beyond tolerance", 3, 50, corev1.ResourceCPU, pods(makePod("a", "1"), makePod("b", "1"), makePod("c", "1")),
			map[string]int64{"a": 560, "b": 560, "c": 560}, 4, 56, ""},
		{"walkthrough: php-apache at 305% of 50%", 1, 50, corev1.ResourceCPU, pods(makePod("a", "200m")),
			map[string]int64{"a": 610}, 7, 305, ""},
		{"missing metrics count as 0% on a scale-up", 4, 100, corev1.ResourceCPU,
			pods(makePod("a", "100m"), makePod("b", "100m"), makePod("c", "100m"), makePod("d", "100m")),
			map[string]int64{"a": 200, "b": 200, "c": 200}, 6, 200, ""},
		{"missing metrics count as 100% on a scale-down", 4, 100, corev1.ResourceCPU,
			pods(makePod("a", "100m"), makePod("b", "100m"), makePod("c", "100m"), makePod("d", "100m")),
			map[string]int64{"a": 20, "b": 20, "c": 20}, 2, 20, ""},
		{"missing pods cancelling a scale-down keep the count", 3, 50, corev1.ResourceCPU,
			pods(makePod("a", "100m"), makePod("b", "100m"), makePod("c", "100m")),
			map[string]int64{"a": 20, "b": 20}, 3, 20, ""},
		{"missing pods counted at the target above 100%", 4, 200, corev1.ResourceCPU,
			pods(makePod("a", "100m"), makePod("b", "100m"), makePod("c", "100m"), makePod("d", "100m")),
			map[string]int64{"a": 100, "b": 100, "c": 100}, 3, 100, ""},
		{"pending pods count as 0% on a scale-up", 3, 100, corev1.ResourceCPU,
			pods(makePod("a", "100m"), makePod("b", "100m"), makePod("c", "100m").phase(corev1.PodPending)),
			map[string]int64{"a": 200, "b": 200}, 4, 200, ""},
		{"pending pods are left out of a scale-down", 3, 100, corev1.ResourceCPU,
			pods(makePod("a", "100m"), makePod("b", "100m"), makePod("c", "100m").phase(corev1.PodPending)),
			map[string]int64{"a": 20, "b": 20}, 1, 20, ""},
		{"cpu: not ready within the initialization period is unready", 2, 100, corev1.ResourceCPU,
			pods(makePod("a", "100m"), makePod("b", "100m").started(time.Minute).ready(corev1.ConditionFalse, 50*time.Second)),
			map[string]int64{"a": 300, "b": 900}, 3, 300, ""},
		{"cpu: sample taken before readiness plus its window is unready", 2, 100, corev1.ResourceCPU,
			pods(makePod("a", "100m"), makePod("b", "100m").started(time.Minute).ready(corev1.ConditionTrue, 5*time.Second)),
			map[string]int64{"a": 300, "b": 900}, 3, 300, ""},
		{"cpu: ready long enough within the initialization period counts", 2, 100, corev1.ResourceCPU,
			pods(makePod("a", "100m"), makePod("b", "100m").started(time.Minute).ready(corev1.ConditionTrue, 30*time.Second)),
			map[string]int64{"a": 300, "b": 900}, 12, 600, ""},
		{"cpu: never ready since start (after the period) is unready", 2, 100, corev1.ResourceCPU,
			pods(makePod("a", "100m"), makePod("b", "100m").started(10*time.Minute).ready(corev1.ConditionFalse, 10*time.Minute-10*time.Second)),
			map[string]int64{"a": 300, "b": 900}, 3, 300, ""},
		{"cpu: ready once, unready later (after the period) counts", 2, 100, corev1.ResourceCPU,
			pods(makePod("a", "100m"), makePod("b", "100m").started(10*time.Minute).ready(corev1.ConditionFalse, time.Minute)),
			map[string]int64{"a": 300, "b": 900}, 12, 600, ""},
		{"memory ignores readiness", 2, 50, corev1.ResourceMemory,
			pods(makePod("a", "100m"), makePod("b", "100m").started(time.Minute).ready(corev1.ConditionFalse, 50*time.Second)),
			map[string]int64{"a": 100 << 20 * 1000, "b": 100 << 20 * 1000}, 4, 100, ""},
		{"deleted and failed pods are ignored", 3, 100, corev1.ResourceCPU,
			pods(makePod("a", "100m"), makePod("b", "100m").deleted(), makePod("c", "100m").phase(corev1.PodFailed)),
			map[string]int64{"a": 200, "b": 900, "c": 900}, 2, 200, ""},
		{"sidecar requests count", 1, 100, corev1.ResourceCPU, pods(makePod("a", "100m").sidecar("100m")),
			map[string]int64{"a": 400}, 2, 200, ""},
		{"a container without request fails", 1, 50, corev1.ResourceCPU, pods(makePod("a", "100m").noRequest()),
			map[string]int64{"a": 100}, 0, 0, "missing request for cpu in container app of Pod a"},
		{"only unready pods have metrics", 1, 50, corev1.ResourceCPU, pods(makePod("a", "100m").phase(corev1.PodPending)),
			map[string]int64{"a": 100}, 0, 0, "did not receive metrics for targeted pods (pods might be unready)"},
		{"no pods", 1, 50, corev1.ResourceCPU, nil, map[string]int64{}, 0, 0, "no pods returned by selector while calculating replica count"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, util, _, err := testCalc().utilization(tt.current, tt.target, tt.resource, "", tt.pods, usage(tt.usage))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want || util != tt.wantUtil {
				t.Errorf("replicas %d utilization %d%%, want %d at %d%%", got, util, tt.want, tt.wantUtil)
			}
		})
	}
}

func TestContainerUtilization(t *testing.T) {
	p := makePod("a", "100m").sidecar("300m")
	// Only the sidecar: 300m of 300m is 100%, target 50% → 2.
	got, util, raw, err := testCalc().utilization(1, 50, corev1.ResourceCPU, "side", pods(p), usage(map[string]int64{"a": 300}))
	if err != nil || got != 2 || util != 100 || raw != 300 {
		t.Errorf("got %d %d%% %dm %v", got, util, raw, err)
	}
}

func TestAverageValue(t *testing.T) {
	three := func() []*corev1.Pod { return pods(makePod("a", "1"), makePod("b", "1"), makePod("c", "1")) }
	tests := []struct {
		name    string
		current int32
		target  int64
		pods    []*corev1.Pod
		usage   map[string]int64
		want    int32
		avg     int64
	}{
		{"three times the target", 3, 100, three(), map[string]int64{"a": 300, "b": 300, "c": 300}, 9, 300},
		{"within tolerance", 3, 100, three(), map[string]int64{"a": 105, "b": 100, "c": 100}, 3, 101},
		{"missing on a scale-up count as 0", 3, 100, three(), map[string]int64{"a": 300, "b": 300}, 6, 300},
		{"missing on a scale-down count as the target", 3, 100, three(), map[string]int64{"a": 10, "b": 10}, 2, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, avg, err := testCalc().averageValue(tt.current, tt.target, corev1.ResourceCPU, tt.pods, usage(tt.usage))
			if err != nil || got != tt.want || avg != tt.avg {
				t.Errorf("got %d avg %d (%v), want %d avg %d", got, avg, err, tt.want, tt.avg)
			}
		})
	}
}
