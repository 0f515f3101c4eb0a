// Package servicetest helps the endpoint controllers' integration tests:
// it runs a control plane without the controller under test, and makes
// nodes, Services and pods whose addresses and readiness a test sets
// through the status subresource, as a node agent would, without running
// containers.
package servicetest

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/flotilla-io/flotilla/pkg/server/testserver"
)

// Env is a running control plane and a namespace to work in.
type Env struct {
	T  *testing.T
	CS kubernetes.Interface
	NS string
}

// Start runs a control plane without the named controllers (the test
// runs its own) and without node lifecycle (test nodes send no
// heartbeats), and creates namespace ns.
func Start(t *testing.T, ns string, disable ...string) *Env {
	t.Helper()
	in := testserver.Start(t, testserver.Options{DisableControllers: append(disable, "nodelifecycle")})
	cs := in.Clientset(t)
	if _, err := cs.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return &Env{T: t, CS: cs, NS: ns}
}

// Log is a logger for a controller under test.
func Log() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// Node creates a node with the given labels.
func (e *Env) Node(name string, labels map[string]string) {
	e.T.Helper()
	if _, err := e.CS.CoreV1().Nodes().Create(context.Background(), &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}, metav1.CreateOptions{}); err != nil {
		e.T.Fatal(err)
	}
}

// Service creates a Service.
func (e *Env) Service(svc *corev1.Service) *corev1.Service {
	e.T.Helper()
	out, err := e.CS.CoreV1().Services(e.NS).Create(context.Background(), svc, metav1.CreateOptions{})
	if err != nil {
		e.T.Fatal(err)
	}
	return out
}

// PodSpec describes a test pod.
type PodSpec struct {
	Name, Node string
	Labels     map[string]string
	// Ports are named container ports, "name=port".
	Ports               []string
	Hostname, Subdomain string
}

// Pod creates a pod bound to its node (no scheduler involved).
func (e *Env) Pod(p PodSpec) *corev1.Pod {
	e.T.Helper()
	c := corev1.Container{Name: "c", Image: "busybox"}
	for _, np := range p.Ports {
		name, num, _ := strings.Cut(np, "=")
		var port int32
		fmt.Sscan(num, &port)
		c.Ports = append(c.Ports, corev1.ContainerPort{Name: name, ContainerPort: port, Protocol: corev1.ProtocolTCP})
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: p.Name, Labels: p.Labels},
		Spec: corev1.PodSpec{NodeName: p.Node, Containers: []corev1.Container{c}, Hostname: p.Hostname, Subdomain: p.Subdomain,
			TerminationGracePeriodSeconds: ptr.To[int64](300)},
	}
	out, err := e.CS.CoreV1().Pods(e.NS).Create(context.Background(), pod, metav1.CreateOptions{})
	if err != nil {
		e.T.Fatal(err)
	}
	return out
}

// Status sets a pod's address and readiness (and Running phase), as a
// node agent reports them.
func (e *Env) Status(name, ip string, ready bool) {
	e.T.Helper()
	e.updateStatus(name, func(p *corev1.Pod) {
		st := corev1.ConditionFalse
		if ready {
			st = corev1.ConditionTrue
		}
		p.Status.Phase = corev1.PodRunning
		p.Status.PodIP, p.Status.PodIPs = ip, []corev1.PodIP{{IP: ip}}
		if ip == "" {
			p.Status.PodIPs = nil
		}
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: st, LastTransitionTime: metav1.Now()}}
	})
}

// Phase sets a pod's phase (Succeeded, Failed), keeping its address.
func (e *Env) Phase(name string, phase corev1.PodPhase) {
	e.T.Helper()
	e.updateStatus(name, func(p *corev1.Pod) {
		p.Status.Phase = phase
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse, LastTransitionTime: metav1.Now()}}
	})
}

func (e *Env) updateStatus(name string, change func(*corev1.Pod)) {
	e.T.Helper()
	ctx := context.Background()
	for range 10 {
		p, err := e.CS.CoreV1().Pods(e.NS).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			e.T.Fatal(err)
		}
		change(p)
		if _, err = e.CS.CoreV1().Pods(e.NS).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err == nil {
			return
		}
		e.T.Logf("update status of %s: %v", name, err)
	}
	e.T.Fatalf("update status of pod %s: gave up", name)
}

// Terminate starts a pod's graceful deletion; with no node agent to
// finish it, the pod stays, being deleted.
func (e *Env) Terminate(name string) {
	e.T.Helper()
	if err := e.CS.CoreV1().Pods(e.NS).Delete(context.Background(), name, metav1.DeleteOptions{}); err != nil {
		e.T.Fatal(err)
	}
	p, err := e.CS.CoreV1().Pods(e.NS).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil || p.DeletionTimestamp == nil {
		e.T.Fatalf("pod %s should be terminating: %v", name, err)
	}
}

// Eventually waits up to 20 s for cond.
func (e *Env) Eventually(what string, cond func() (bool, string)) {
	e.T.Helper()
	testserver.Eventually(e.T, 20*time.Second, what, cond)
}
