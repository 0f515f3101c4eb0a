package scheduler_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"

	"github.com/flotilla-io/flotilla/pkg/scheduler"
	"github.com/flotilla-io/flotilla/pkg/server/testserver"
)

// startScheduler runs a scheduler against the test server until the test
// ends, and waits for it to stop.
func startScheduler(t *testing.T, cs kubernetes.Interface) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	factory := informers.NewSharedInformerFactory(cs, 0)
	s := scheduler.New(cs, factory, log)
	ctx, cancel := context.WithCancel(context.Background())
	factory.Start(ctx.Done())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		factory.Shutdown()
	})
}

func createNode(t *testing.T, cs kubernetes.Interface, name string, labels map[string]string, cpu, mem string) {
	t.Helper()
	ctx := context.Background()
	n, err := cs.CoreV1().Nodes().Create(ctx, &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create node %s: %v", name, err)
	}
	res := v1.ResourceList{v1.ResourceCPU: resource.MustParse(cpu), v1.ResourceMemory: resource.MustParse(mem), v1.ResourcePods: resource.MustParse("110")}
	n.Status.Capacity, n.Status.Allocatable = res, res
	n.Status.Conditions = []v1.NodeCondition{{Type: v1.NodeReady, Status: v1.ConditionTrue, Reason: "KubeletReady", LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}}
	if _, err := cs.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("node %s status: %v", name, err)
	}
}

func createPod(t *testing.T, cs kubernetes.Interface, ns, name, cpu string, selector map[string]string) {
	t.Helper()
	pod := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v1.PodSpec{
			NodeSelector: selector,
			Containers: []v1.Container{{Name: "c", Image: "busybox", Resources: v1.ResourceRequirements{
				Requests: v1.ResourceList{v1.ResourceCPU: resource.MustParse(cpu)},
			}}},
		},
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, err := cs.CoreV1().Pods(ns).Create(context.Background(), pod, metav1.CreateOptions{})
		if err == nil {
			return
		}
		if time.Now().After(deadline) || !strings.Contains(strings.ToLower(err.Error()), "serviceaccount") {
			t.Fatalf("create pod %s: %v", name, err)
		}
		time.Sleep(50 * time.Millisecond) // the default ServiceAccount comes asynchronously
	}
}

// eventually polls cond until it holds or 20s pass.
func eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: last state: %s", what, state)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func boundTo(t *testing.T, cs kubernetes.Interface, ns, name, node string) {
	t.Helper()
	eventually(t, "pod "+name+" bound to "+node, func() (bool, string) {
		p, err := cs.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return p.Spec.NodeName == node, "nodeName=" + p.Spec.NodeName
	})
}

func unschedulable(t *testing.T, cs kubernetes.Interface, ns, name, msg string) {
	t.Helper()
	eventually(t, "pod "+name+" unschedulable", func() (bool, string) {
		p, err := cs.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		for _, c := range p.Status.Conditions {
			if c.Type == v1.PodScheduled {
				ok := p.Spec.NodeName == "" && c.Status == v1.ConditionFalse && c.Reason == v1.PodReasonUnschedulable && c.Message == msg
				return ok, string(c.Status) + "/" + c.Reason + ": " + c.Message
			}
		}
		return false, "no PodScheduled condition; nodeName=" + p.Spec.NodeName
	})
}

func hasEvent(t *testing.T, cs kubernetes.Interface, ns, pod, typ, reason, msg string) {
	t.Helper()
	eventually(t, "event "+reason+" for "+pod, func() (bool, string) {
		evs, err := cs.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		var seen []string
		for _, e := range evs.Items {
			if e.InvolvedObject.Name == pod && e.Reason == reason {
				if e.Type == typ && e.Message == msg && e.Source.Component == "default-scheduler" && e.InvolvedObject.Kind == "Pod" {
					return true, ""
				}
				seen = append(seen, e.Type+" "+e.Message)
			}
		}
		return false, strings.Join(seen, "; ")
	})
}

func TestSchedulerAgainstServer(t *testing.T) {
	in := testserver.Start(t, testserver.Options{DisableControllers: []string{"scheduler"}}) // this test runs its own
	cs := in.Clientset(t)
	ctx := context.Background()
	const ns = "sched"
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	createNode(t, cs, "big", map[string]string{"size": "big"}, "4", "8Gi")
	createNode(t, cs, "ssd", map[string]string{"disk": "ssd"}, "1", "4Gi")
	createNode(t, cs, "small", map[string]string{"pool": "small"}, "1", "2Gi")
	if _, err := cs.SchedulingV1().PriorityClasses().Create(ctx, &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "urgent"}, Value: 1000}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	startScheduler(t, cs)

	t.Run("resources and selectors", func(t *testing.T) {
		createPod(t, cs, ns, "hungry", "3", nil) // fits only on big
		createPod(t, cs, ns, "fast", "100m", map[string]string{"disk": "ssd"})
		boundTo(t, cs, ns, "hungry", "big")
		boundTo(t, cs, ns, "fast", "ssd")
		hasEvent(t, cs, ns, "hungry", v1.EventTypeNormal, "Scheduled", "Successfully assigned sched/hungry to big")
	})

	t.Run("back-to-back pods do not overcommit", func(t *testing.T) {
		createPod(t, cs, ns, "first", "600m", map[string]string{"pool": "small"})
		createPod(t, cs, ns, "second", "600m", map[string]string{"pool": "small"})
		var bound, pending string
		eventually(t, "one of two pods bound", func() (bool, string) {
			a, err1 := cs.CoreV1().Pods(ns).Get(ctx, "first", metav1.GetOptions{})
			b, err2 := cs.CoreV1().Pods(ns).Get(ctx, "second", metav1.GetOptions{})
			if err1 != nil || err2 != nil {
				return false, "get failed"
			}
			switch {
			case a.Spec.NodeName == "small" && b.Spec.NodeName == "":
				bound, pending = a.Name, b.Name
			case b.Spec.NodeName == "small" && a.Spec.NodeName == "":
				bound, pending = b.Name, a.Name
			default:
				return false, a.Spec.NodeName + "," + b.Spec.NodeName
			}
			return true, ""
		})
		_ = bound
		want := "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) didn't match Pod's node affinity/selector. " +
			"preemption: 0/3 nodes are available: 1 No preemption victims found for incoming pod, 2 Preemption is not helpful for scheduling."
		unschedulable(t, cs, ns, pending, want)
		hasEvent(t, cs, ns, pending, v1.EventTypeWarning, "FailedScheduling", want)
	})

	t.Run("unmatchable selector waits for a label", func(t *testing.T) {
		createPod(t, cs, ns, "gpu", "100m", map[string]string{"gpu": "true"})
		want := "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector. " +
			"preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
		unschedulable(t, cs, ns, "gpu", want)
		hasEvent(t, cs, ns, "gpu", v1.EventTypeWarning, "FailedScheduling", want)
		n, err := cs.CoreV1().Nodes().Get(ctx, "ssd", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		n.Labels["gpu"] = "true"
		if _, err := cs.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		boundTo(t, cs, ns, "gpu", "ssd")
	})

	t.Run("preemption", func(t *testing.T) {
		createNode(t, cs, "tiny", map[string]string{"pool": "tiny"}, "1", "2Gi")
		createPod(t, cs, ns, "lowly", "800m", map[string]string{"pool": "tiny"})
		boundTo(t, cs, ns, "lowly", "tiny")
		vip := &v1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "vip"},
			Spec: v1.PodSpec{PriorityClassName: "urgent", NodeSelector: map[string]string{"pool": "tiny"},
				Containers: []v1.Container{{Name: "c", Image: "busybox", Resources: v1.ResourceRequirements{
					Requests: v1.ResourceList{v1.ResourceCPU: resource.MustParse("800m")}}}}},
		}
		if _, err := cs.CoreV1().Pods(ns).Create(ctx, vip, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "victim deleted and vip nominated", func() (bool, string) {
			victim, err := cs.CoreV1().Pods(ns).Get(ctx, "lowly", metav1.GetOptions{})
			gone := apierrors.IsNotFound(err) || (err == nil && victim.DeletionTimestamp != nil)
			p, err := cs.CoreV1().Pods(ns).Get(ctx, "vip", metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			return gone && (p.Status.NominatedNodeName == "tiny" || p.Spec.NodeName == "tiny"),
				fmt.Sprintf("victim gone=%v nominated=%q node=%q", gone, p.Status.NominatedNodeName, p.Spec.NodeName)
		})
	})
}
