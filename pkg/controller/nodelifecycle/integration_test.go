package nodelifecycle_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"

	. "github.com/flotilla-io/flotilla/pkg/controller/nodelifecycle"
	"github.com/flotilla-io/flotilla/pkg/extensions"
	"github.com/flotilla-io/flotilla/pkg/server/testserver"
)

// eventually polls cond until it holds or timeout passes.
// eventually is the shared poll of the test server package.
var eventually = testserver.Eventually

func createPod(t *testing.T, cs kubernetes.Interface, pod *corev1.Pod) *corev1.Pod {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, err := cs.CoreV1().Pods(pod.Namespace).Create(ctx, pod, metav1.CreateOptions{})
		if err == nil {
			return out
		}
		// The namespace's default ServiceAccount appears asynchronously.
		if time.Now().After(deadline) || !strings.Contains(err.Error(), "serviceaccount") {
			t.Fatalf("create pod %s: %v", pod.Name, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// runPod creates a pod bound to node and reports it Running and Ready.
func runPod(t *testing.T, cs kubernetes.Interface, ns, name, node string, tols []corev1.Toleration, annotations map[string]string) {
	t.Helper()
	grace := int64(1)
	p := createPod(t, cs, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Annotations: annotations},
		Spec: corev1.PodSpec{
			NodeName: node, Tolerations: tols, TerminationGracePeriodSeconds: &grace,
			Containers: []corev1.Container{{Name: "c", Image: "busybox"}},
		},
	})
	now := metav1.Now()
	p.Status.Phase = corev1.PodRunning
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now}}
	if _, err := cs.CoreV1().Pods(ns).UpdateStatus(context.Background(), p, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("pod %s status: %v", name, err)
	}
}

func getPod(cs kubernetes.Interface, ns, name string) (*corev1.Pod, error) {
	return cs.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
}

func secs(n int64) *int64 { return &n }

func podCondition(p *corev1.Pod, t corev1.PodConditionType) *corev1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == t {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

func conditionIndex(conds []corev1.NodeCondition, t corev1.NodeConditionType) int {
	for i := range conds {
		if conds[i].Type == t {
			return i
		}
	}
	return -1
}

func readyStatus(n *corev1.Node) corev1.ConditionStatus {
	if i := conditionIndex(n.Status.Conditions, corev1.NodeReady); i >= 0 {
		return n.Status.Conditions[i].Status
	}
	return ""
}

func setNodeReady(t *testing.T, cs kubernetes.Interface, name string, status corev1.ConditionStatus) {
	t.Helper()
	ctx := context.Background()
	for range 20 {
		n, err := cs.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("get node: %v", err)
		}
		now := metav1.Now()
		cond := corev1.NodeCondition{Type: corev1.NodeReady, Status: status, Reason: "KubeletReady", LastHeartbeatTime: now, LastTransitionTime: now}
		if i := conditionIndex(n.Status.Conditions, corev1.NodeReady); i >= 0 {
			n.Status.Conditions[i] = cond
		} else {
			n.Status.Conditions = append(n.Status.Conditions, cond)
		}
		_, err = cs.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{})
		if err == nil {
			return
		}
		if !apierrors.IsConflict(err) {
			t.Fatalf("node status: %v", err)
		}
	}
	t.Fatal("node status: too many conflicts")
}

func nodeTaint(n *corev1.Node, key string, effect corev1.TaintEffect) *corev1.Taint {
	for i := range n.Spec.Taints {
		if n.Spec.Taints[i].Key == key && n.Spec.Taints[i].Effect == effect {
			return &n.Spec.Taints[i]
		}
	}
	return nil
}

// renewer renews a node's lease every 300ms while on.
type renewer struct {
	cs   kubernetes.Interface
	node string
	mu   sync.Mutex
	on   bool
}

func (r *renewer) set(on bool) {
	r.mu.Lock()
	r.on = on
	r.mu.Unlock()
}

func (r *renewer) run(ctx context.Context) {
	for {
		r.mu.Lock()
		on := r.on
		r.mu.Unlock()
		if on {
			leases := r.cs.CoordinationV1().Leases(corev1.NamespaceNodeLease)
			if l, err := leases.Get(ctx, r.node, metav1.GetOptions{}); err == nil {
				now := metav1.NewMicroTime(time.Now())
				l.Spec.RenewTime = &now
				_, _ = leases.Update(ctx, l, metav1.UpdateOptions{})
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(300 * time.Millisecond):
		}
	}
}

func TestNodeLifecycle(t *testing.T) {
	in := testserver.Start(t, testserver.Options{DisableControllers: []string{"nodelifecycle", "scheduler"}})
	cs := in.Clientset(t)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var factory informers.SharedInformerFactory
	t.Cleanup(func() {
		cancel()
		if factory != nil {
			factory.Shutdown()
		}
		wg.Wait()
	})

	const ns, node = "nl", "n1"
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: node, Labels: map[string]string{"zone": "a"}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	setNodeReady(t, cs, node, corev1.ConditionTrue)
	now := metav1.NewMicroTime(time.Now())
	holder, dur := node, int32(40)
	if _, err := cs.CoordinationV1().Leases(corev1.NamespaceNodeLease).Create(ctx, &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: node},
		Spec:       coordinationv1.LeaseSpec{HolderIdentity: &holder, LeaseDurationSeconds: &dur, RenewTime: &now},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	r := &renewer{cs: cs, node: node, on: true}
	wg.Add(1)
	go func() { defer wg.Done(); r.run(ctx) }()

	tol := func(key string, s *int64) corev1.Toleration {
		return corev1.Toleration{Key: key, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: s}
	}
	both := func(s *int64) []corev1.Toleration {
		return []corev1.Toleration{tol(corev1.TaintNodeNotReady, s), tol(corev1.TaintNodeUnreachable, s)}
	}
	// Admission adds 300 s node-loss tolerations to pods that name none;
	// these name the keys but match no taint.
	runPod(t, cs, ns, "untolerated", node, []corev1.Toleration{
		{Key: corev1.TaintNodeNotReady, Value: "never", Effect: corev1.TaintEffectNoExecute},
		{Key: corev1.TaintNodeUnreachable, Value: "never", Effect: corev1.TaintEffectNoExecute},
	}, nil)
	runPod(t, cs, ns, "tolerates-2s", node, both(secs(2)), nil)
	runPod(t, cs, ns, "tolerates-60s", node, both(secs(60)), nil)
	runPod(t, cs, ns, "tolerates-forever", node, both(nil), nil)

	// A control node whose lease is never renewed: once the controller
	// taints it, it has judged every node past the grace period.
	const control = "n-control"
	if _, err := cs.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: control}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	setNodeReady(t, cs, control, corev1.ConditionTrue)
	controlHolder, controlRenew := control, metav1.NewMicroTime(time.Now())
	if _, err := cs.CoordinationV1().Leases(corev1.NamespaceNodeLease).Create(ctx, &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: control},
		Spec:       coordinationv1.LeaseSpec{HolderIdentity: &controlHolder, LeaseDurationSeconds: &dur, RenewTime: &controlRenew},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	factory = informers.NewSharedInformerFactory(cs, 0)
	c := New(cs, factory, Config{GracePeriod: 3 * time.Second, MonitorPeriod: 300 * time.Millisecond}, log)
	factory.Start(ctx.Done())
	wg.Add(1)
	go func() { defer wg.Done(); c.Run(ctx, 2) }()

	// A node that keeps renewing its lease stays untainted past the grace
	// period: checked once the silent control node is tainted.
	eventually(t, 15*time.Second, "control node unreachable", func() (bool, string) {
		n, err := cs.CoreV1().Nodes().Get(ctx, control, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return nodeTaint(n, corev1.TaintNodeUnreachable, corev1.TaintEffectNoExecute) != nil, fmt.Sprintf("%+v", n.Spec.Taints)
	})
	n, err := cs.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(n.Spec.Taints) != 0 || readyStatus(n) != corev1.ConditionTrue {
		t.Fatalf("healthy node changed: taints %+v ready %s", n.Spec.Taints, readyStatus(n))
	}
	// The control node goes, so that n1's zone alone decides disruption
	// below.
	if err := cs.CoreV1().Nodes().Delete(ctx, control, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}

	// Silence: Unknown conditions and the unreachable taints.
	r.set(false)
	silent := time.Now()
	eventually(t, 8*time.Second, "node unreachable", func() (bool, string) {
		n, err = cs.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return nodeTaint(n, corev1.TaintNodeUnreachable, corev1.TaintEffectNoExecute) != nil &&
			nodeTaint(n, corev1.TaintNodeUnreachable, corev1.TaintEffectNoSchedule) != nil, fmt.Sprintf("%+v", n.Spec.Taints)
	})
	tainted := time.Now()
	// The last renewal may predate silent by one renew interval (300ms).
	if d := tainted.Sub(silent); d < 2500*time.Millisecond {
		t.Errorf("node declared unknown after %v, before the 3s grace period", d)
	}
	if nodeTaint(n, corev1.TaintNodeUnreachable, corev1.TaintEffectNoExecute).TimeAdded == nil {
		t.Error("NoExecute taint without timeAdded")
	}
	for _, ct := range []corev1.NodeConditionType{corev1.NodeReady, corev1.NodeMemoryPressure, corev1.NodeDiskPressure, corev1.NodePIDPressure} {
		i := conditionIndex(n.Status.Conditions, ct)
		if i < 0 || n.Status.Conditions[i].Status != corev1.ConditionUnknown || n.Status.Conditions[i].Reason != ReasonNodeStatusUnknown && n.Status.Conditions[i].Reason != ReasonNodeStatusNeverUpdated {
			t.Errorf("condition %s: %+v", ct, n.Status.Conditions)
		}
	}
	if i := conditionIndex(n.Status.Conditions, corev1.NodeReady); n.Status.Conditions[i].Message != MessageNodeStatusUnknown {
		t.Errorf("Ready message %q", n.Status.Conditions[i].Message)
	}

	taintAdded := nodeTaint(n, corev1.TaintNodeUnreachable, corev1.TaintEffectNoExecute).TimeAdded.Time

	// The untolerating pod goes at once, then (grace 1s, node lost) is failed and removed.
	eventually(t, 3*time.Second, "untolerated evicted", func() (bool, string) {
		p, err := getPod(cs, ns, "untolerated")
		if apierrors.IsNotFound(err) {
			return true, ""
		}
		if err != nil {
			return false, err.Error()
		}
		return p.DeletionTimestamp != nil, fmt.Sprintf("%+v", p.Status)
	})
	eventually(t, 5*time.Second, "untolerated force-deleted", func() (bool, string) {
		_, err := getPod(cs, ns, "untolerated")
		return apierrors.IsNotFound(err), fmt.Sprint(err)
	})

	// The 2s pod goes about 2s after the taint, with the upstream condition and Event.
	var evicted *corev1.Pod
	eventually(t, 5*time.Second, "tolerates-2s evicted", func() (bool, string) {
		p, err := getPod(cs, ns, "tolerates-2s")
		if err != nil {
			return false, err.Error()
		}
		evicted = p
		return p.DeletionTimestamp != nil, fmt.Sprintf("%+v", p.Status)
	})
	disrupted := podCondition(evicted, corev1.DisruptionTarget)
	if disrupted == nil || disrupted.Status != corev1.ConditionTrue || disrupted.Reason != ReasonDeletionByTaintManager {
		t.Fatalf("DisruptionTarget: %+v", evicted.Status.Conditions)
	}
	// Not before its 2s, not long after, by the server's clock: both
	// times have second precision, so an eviction at or after timeAdded+2s
	// reads at least 2s later.
	if d := disrupted.LastTransitionTime.Sub(taintAdded); d < 2*time.Second || d > 5*time.Second {
		t.Errorf("tolerates-2s evicted %v after the taint was added, want 2s to 5s", d)
	}
	eventually(t, 3*time.Second, "eviction event", func() (bool, string) {
		evs, err := cs.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		for _, e := range evs.Items {
			if e.InvolvedObject.Name == "tolerates-2s" && e.Reason == EventTaintManagerEviction && e.Message == "Marking for deletion Pod nl/tolerates-2s" {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d events", len(evs.Items))
	})
	eventually(t, 5*time.Second, "tolerates-2s failed and force-deleted", func() (bool, string) {
		p, err := getPod(cs, ns, "tolerates-2s")
		if apierrors.IsNotFound(err) {
			return true, ""
		}
		return false, fmt.Sprintf("%v %+v", err, p.Status)
	})

	// The remaining pods are marked not ready but stay.
	for _, name := range []string{"tolerates-60s", "tolerates-forever"} {
		eventually(t, 3*time.Second, name+" not ready", func() (bool, string) {
			p, err := getPod(cs, ns, name)
			if err != nil {
				return false, err.Error()
			}
			c := podCondition(p, corev1.PodReady)
			return c != nil && c.Status == corev1.ConditionFalse && p.DeletionTimestamp == nil, fmt.Sprintf("%+v", p.Status)
		})
	}

	// The node comes back: the taints go and the pending eviction is cancelled.
	r.set(true)
	setNodeReady(t, cs, node, corev1.ConditionTrue)
	eventually(t, 5*time.Second, "taints removed", func() (bool, string) {
		n, err = cs.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return len(n.Spec.Taints) == 0, fmt.Sprintf("%+v", n.Spec.Taints)
	})
	eventually(t, 3*time.Second, "cancel event", func() (bool, string) {
		evs, err := cs.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		for _, e := range evs.Items {
			if e.InvolvedObject.Name == "tolerates-60s" && e.Message == "Cancelling deletion of Pod nl/tolerates-60s" {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d events", len(evs.Items))
	})
	for _, name := range []string{"tolerates-60s", "tolerates-forever"} {
		if p, err := getPod(cs, ns, name); err != nil || p.DeletionTimestamp != nil {
			t.Errorf("%s should have stayed: %v", name, err)
		}
	}

	// Agent reports NotReady: not-ready taints.
	setNodeReady(t, cs, node, corev1.ConditionFalse)
	eventually(t, 5*time.Second, "not-ready taints", func() (bool, string) {
		n, err = cs.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return nodeTaint(n, corev1.TaintNodeNotReady, corev1.TaintEffectNoExecute) != nil &&
			nodeTaint(n, corev1.TaintNodeNotReady, corev1.TaintEffectNoSchedule) != nil &&
			nodeTaint(n, corev1.TaintNodeUnreachable, corev1.TaintEffectNoExecute) == nil, fmt.Sprintf("%+v", n.Spec.Taints)
	})
	setNodeReady(t, cs, node, corev1.ConditionTrue)
	eventually(t, 5*time.Second, "not-ready taints removed", func() (bool, string) {
		n, err = cs.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return len(n.Spec.Taints) == 0, fmt.Sprintf("%+v", n.Spec.Taints)
	})

	// Required node affinity during execution: relabelling the node evicts.
	sel, _ := json.Marshal(corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpIn, Values: []string{"a"}}}}}})
	runPod(t, cs, ns, "zone-a", node, both(nil), map[string]string{extensions.RequiredDuringExecutionAnnotation: string(sel)})
	// A pod that requires another zone is evicted at once; once it is, the
	// controller has judged zone-a too.
	selC, _ := json.Marshal(corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpIn, Values: []string{"c"}}}}}})
	grace := int64(1)
	createPod(t, cs, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "zone-c", Annotations: map[string]string{extensions.RequiredDuringExecutionAnnotation: string(selC)}},
		Spec:       corev1.PodSpec{NodeName: node, Tolerations: both(nil), TerminationGracePeriodSeconds: &grace, Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
	})
	eventually(t, 5*time.Second, "zone-c evicted", func() (bool, string) {
		p, err := getPod(cs, ns, "zone-c")
		if err != nil {
			return false, err.Error()
		}
		return p.DeletionTimestamp != nil, fmt.Sprintf("%+v", p.Status.Conditions)
	})
	if p, err := getPod(cs, ns, "zone-a"); err != nil || p.DeletionTimestamp != nil {
		t.Fatalf("zone-a evicted while matching: %v", err)
	}
	n, err = cs.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n.Labels["zone"] = "b"
	if _, err := cs.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "zone-a evicted", func() (bool, string) {
		p, err := getPod(cs, ns, "zone-a")
		if err != nil {
			return false, err.Error()
		}
		c := podCondition(p, corev1.DisruptionTarget)
		return p.DeletionTimestamp != nil && c != nil && c.Reason == ReasonDeletionByRequiredNodeAffinity, fmt.Sprintf("%+v", p.Status.Conditions)
	})
	if p, err := getPod(cs, ns, "tolerates-forever"); err != nil || p.DeletionTimestamp != nil {
		t.Errorf("pod without the annotation evicted: %v", err)
	}
}
