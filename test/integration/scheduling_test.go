package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/flotilla-io/flotilla/pkg/server/testserver"
	"github.com/flotilla-io/flotilla/pkg/sim"
	"github.com/flotilla-io/flotilla/pkg/sim/simtest"
)

// runSim registers simulated nodes until the returned stop is called (or
// the test ends).
func runSim(t *testing.T, cs kubernetes.Interface, prefix string, nodes int, cpu string, labels map[string]string) (stop func()) {
	t.Helper()
	_, stop = simtest.Start(t, cs, sim.Config{Nodes: nodes, NamePrefix: prefix, CPU: resource.MustParse(cpu), Memory: resource.MustParse("64Gi"), Pods: 110,
		Labels: labels, LeaseRenewInterval: time.Second, StatusInterval: 2 * time.Second})
	return stop
}

func nodeReady(n *corev1.Node) corev1.ConditionStatus {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status
		}
	}
	return corev1.ConditionUnknown
}

func waitUntil(t *testing.T, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	testserver.Eventually(t, timeout, "condition", cond)
}

func labelNode(t *testing.T, cs kubernetes.Interface, name string, labels map[string]string) {
	t.Helper()
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"labels": labels}})
	if _, err := cs.CoreV1().Nodes().Patch(context.Background(), name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
}

func simPod(name string, labels map[string]string, mutate func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
	}
	if mutate != nil {
		mutate(p)
	}
	return p
}

// boundTo waits for the scheduler to bind the pod and returns the node.
func boundTo(t *testing.T, cs kubernetes.Interface, ns, name string) string {
	t.Helper()
	var node string
	waitUntil(t, 20*time.Second, func() (bool, string) {
		p, err := cs.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		node = p.Spec.NodeName
		return node != "", fmt.Sprintf("pod %s unbound: %+v", name, p.Status.Conditions)
	})
	return node
}

func createPod(t *testing.T, cs kubernetes.Interface, ns string, p *corev1.Pod) {
	t.Helper()
	if _, err := cs.CoreV1().Pods(ns).Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create pod %s: %v", p.Name, err)
	}
}

// The server's own scheduler places pods on simulated nodes by the seeds'
// rules: nodeSelector, required node affinity together with it, the
// topology spread arithmetic of seed 002, and resources.
func TestSchedulerPlacesPodsOnSimulatedNodes(t *testing.T) {
	in := testserver.Start(t, testserver.Options{})
	cs := in.Clientset(t)
	ctx := context.Background()
	settled(t, cs, "default")
	runSim(t, cs, "sched", 4, "2", nil)
	labelNode(t, cs, "sched-0", map[string]string{"zone": "zone1", "disktype": "ssd"})
	labelNode(t, cs, "sched-1", map[string]string{"zone": "zone1"})
	labelNode(t, cs, "sched-2", map[string]string{"zone": "zone2", "disktype": "ssd"})
	labelNode(t, cs, "sched-3", map[string]string{"zone": "zone2"})

	// nodeSelector and node affinity must both hold.
	createPod(t, cs, "default", simPod("both", nil, func(p *corev1.Pod) {
		p.Spec.NodeSelector = map[string]string{"disktype": "ssd"}
		p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
			NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpIn, Values: []string{"zone2"}}}}},
		}}}
	}))
	if n := boundTo(t, cs, "default", "both"); n != "sched-2" {
		t.Fatalf("nodeSelector+affinity pod on %s, want sched-2", n)
	}

	// Seed 002: zone1 holds two app=foo pods, zone2 none; with maxSkew 1
	// the next one may only go to zone2 (skew there 1-0... = 0 after, 3
	// in zone1).
	for i, node := range []string{"sched-0", "sched-1"} {
		createPod(t, cs, "default", simPod(fmt.Sprintf("foo-%d", i), map[string]string{"app": "foo"}, func(p *corev1.Pod) { p.Spec.NodeName = node }))
	}
	spread := func(p *corev1.Pod) {
		p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{
			MaxSkew: 1, TopologyKey: "zone", WhenUnsatisfiable: corev1.DoNotSchedule,
			LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "foo"}},
		}}
	}
	for i := 2; i < 4; i++ {
		name := fmt.Sprintf("foo-%d", i)
		createPod(t, cs, "default", simPod(name, map[string]string{"app": "foo"}, spread))
		if n := boundTo(t, cs, "default", name); n != "sched-2" && n != "sched-3" {
			t.Fatalf("%s on %s: the spread constraint wants zone2", name, n)
		}
	}

	// Resources: a pod asking more CPU than any node has stays Pending
	// with the upstream message.
	createPod(t, cs, "default", simPod("huge", nil, func(p *corev1.Pod) {
		p.Spec.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("3")}
	}))
	waitUntil(t, 20*time.Second, func() (bool, string) {
		p, err := cs.CoreV1().Pods("default").Get(ctx, "huge", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodScheduled && c.Reason == corev1.PodReasonUnschedulable {
				return strings.HasPrefix(c.Message, "0/4 nodes are available: 4 Insufficient cpu."), c.Message
			}
		}
		return false, "no Unschedulable condition"
	})
}

// Node loss: when a node's heartbeats stop, it turns Unknown and gets
// the unreachable NoExecute taint; pods are evicted after their
// tolerationSeconds (the admission default is 300 s), and when the node
// returns the taint goes.
func TestNodeLossEvictsAfterToleration(t *testing.T) {
	in := testserver.Start(t, testserver.Options{NodeMonitorGracePeriod: 3 * time.Second})
	cs := in.Clientset(t)
	ctx := context.Background()
	settled(t, cs, "default")
	stop := runSim(t, cs, "lost", 1, "4", nil)
	short := int64(2)
	createPod(t, cs, "default", simPod("brief", nil, func(p *corev1.Pod) {
		p.Spec.NodeName = "lost-0"
		p.Spec.Tolerations = []corev1.Toleration{{Key: "node.kubernetes.io/unreachable", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: &short}}
	}))
	createPod(t, cs, "default", simPod("patient", nil, func(p *corev1.Pod) { p.Spec.NodeName = "lost-0" }))
	p, err := cs.CoreV1().Pods("default").Get(ctx, "patient", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var defaults int
	for _, tol := range p.Spec.Tolerations {
		if tol.Effect == corev1.TaintEffectNoExecute && tol.TolerationSeconds != nil && *tol.TolerationSeconds == 300 {
			defaults++
		}
	}
	if defaults != 2 {
		t.Fatalf("admission did not add the two 300 s node-loss tolerations: %+v", p.Spec.Tolerations)
	}
	waitUntil(t, 20*time.Second, func() (bool, string) {
		p, err := cs.CoreV1().Pods("default").Get(ctx, "brief", metav1.GetOptions{})
		return err == nil && p.Status.Phase == corev1.PodRunning, "brief not running"
	})

	stop()
	lostAt := time.Now()
	waitUntil(t, 30*time.Second, func() (bool, string) {
		n, err := cs.CoreV1().Nodes().Get(ctx, "lost-0", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		for _, taint := range n.Spec.Taints {
			if taint.Key == "node.kubernetes.io/unreachable" && taint.Effect == corev1.TaintEffectNoExecute {
				return nodeReady(n) == corev1.ConditionUnknown, "tainted but Ready is " + string(nodeReady(n))
			}
		}
		return false, fmt.Sprintf("taints %+v", n.Spec.Taints)
	})
	if time.Since(lostAt) < 2*time.Second {
		t.Fatalf("node declared lost after %s, before its grace period", time.Since(lostAt))
	}
	waitUntil(t, 30*time.Second, func() (bool, string) {
		p, err := cs.CoreV1().Pods("default").Get(ctx, "brief", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, ""
		}
		if err != nil {
			return false, err.Error()
		}
		return p.DeletionTimestamp != nil, "brief still there, phase " + string(p.Status.Phase)
	})
	if p, err := cs.CoreV1().Pods("default").Get(ctx, "patient", metav1.GetOptions{}); err != nil || p.DeletionTimestamp != nil {
		t.Fatalf("the pod tolerating 300 s was evicted early: %v", err)
	}

	// The node comes back: Ready again and untainted.
	runSim(t, cs, "lost", 1, "4", nil)
	waitUntil(t, 30*time.Second, func() (bool, string) {
		n, err := cs.CoreV1().Nodes().Get(ctx, "lost-0", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		for _, taint := range n.Spec.Taints {
			if strings.HasPrefix(taint.Key, "node.kubernetes.io/") {
				return false, fmt.Sprintf("still tainted %+v", n.Spec.Taints)
			}
		}
		return nodeReady(n) == corev1.ConditionTrue, "not ready"
	})
}

// requiredDuringSchedulingRequiredDuringExecution (seeds 000, 004): the
// API takes the extension field, the scheduler honours it, and when the
// node's labels stop matching the running pod is evicted.
func TestRequiredDuringExecutionAffinity(t *testing.T) {
	in := testserver.Start(t, testserver.Options{})
	cs := in.Clientset(t)
	ctx := context.Background()
	settled(t, cs, "default")
	runSim(t, cs, "rde", 2, "4", nil)
	labelNode(t, cs, "rde-1", map[string]string{"zone": "east"})

	body := []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"pinned"},"spec":{
	  "affinity":{"nodeAffinity":{"requiredDuringSchedulingRequiredDuringExecution":{"nodeSelectorTerms":[{"matchExpressions":[{"key":"zone","operator":"In","values":["east"]}]}]}}},
	  "containers":[{"name":"c","image":"busybox"}]}}`)
	res := cs.CoreV1().RESTClient().Post().Namespace("default").Resource("pods").Param("fieldValidation", "Strict").
		SetHeader("Content-Type", "application/json").Body(body).Do(ctx)
	if err := res.Error(); err != nil {
		t.Fatalf("create with the extension field: %v", err)
	}
	if n := boundTo(t, cs, "default", "pinned"); n != "rde-1" {
		t.Fatalf("pinned pod on %s, want rde-1", n)
	}
	p, err := cs.CoreV1().Pods("default").Get(ctx, "pinned", metav1.GetOptions{})
	if err != nil || !strings.Contains(p.Annotations["flotilla.io/required-during-execution"], `"east"`) {
		t.Fatalf("extension not kept: %v %v", p.Annotations, err)
	}
	waitUntil(t, 20*time.Second, func() (bool, string) {
		p, err := cs.CoreV1().Pods("default").Get(ctx, "pinned", metav1.GetOptions{})
		return err == nil && p.Status.Phase == corev1.PodRunning, "not running"
	})

	// A malformed selector is refused at the field the user wrote.
	bad := []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"bad"},"spec":{
	  "affinity":{"nodeAffinity":{"requiredDuringSchedulingRequiredDuringExecution":{"nodeSelectorTerms":[{"matchExpressions":[{"key":"zone","operator":"Near"}]}]}}},
	  "containers":[{"name":"c","image":"busybox"}]}}`)
	err = cs.CoreV1().RESTClient().Post().Namespace("default").Resource("pods").SetHeader("Content-Type", "application/json").Body(bad).Do(ctx).Error()
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "spec.affinity.nodeAffinity.requiredDuringSchedulingRequiredDuringExecution") {
		t.Fatalf("bad selector: %v", err)
	}

	// The node stops matching: the pod is evicted while running.
	labelNode(t, cs, "rde-1", map[string]string{"zone": "west"})
	waitUntil(t, 30*time.Second, func() (bool, string) {
		p, err := cs.CoreV1().Pods("default").Get(ctx, "pinned", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, ""
		}
		return err == nil && p.DeletionTimestamp != nil, "still running"
	})
}
