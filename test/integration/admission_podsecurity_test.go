package integration

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/flotilla-io/flotilla/pkg/server/testserver"
)

// psWarnings collects the Warning headers a client is sent.
type psWarnings struct {
	mu   sync.Mutex
	list []string
}

func (w *psWarnings) HandleWarningHeader(_ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.list = append(w.list, text)
}

func (w *psWarnings) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.list
	w.list = nil
	return out
}

func privilegedPod(name string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PodSpec{Containers: []corev1.Container{{
		Name: "c", Image: "busybox", SecurityContext: &corev1.SecurityContext{Privileged: ptr.To(true)}}}}}
}

// TestAdmissionPodSecurity: a namespace labelled enforce=restricted
// refuses a privileged pod with upstream's message; warn=baseline admits
// it with upstream's warning; a Deployment's template is warned about,
// not refused; enforcing on a namespace with such pods warns about them.
func TestAdmissionPodSecurity(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{})
	cfg := srv.RESTConfig()
	got := &psWarnings{}
	cfg.WarningHandler = got
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for name, labels := range map[string]map[string]string{
		"enforced": {"pod-security.kubernetes.io/enforce": "restricted"},
		"warned":   {"pod-security.kubernetes.io/warn": "baseline"},
		"open":     nil,
	} {
		if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	_, err = cs.CoreV1().Pods("enforced").Create(ctx, privilegedPod("x"), metav1.CreateOptions{})
	want := `pods "x" is forbidden: violates PodSecurity "restricted:latest": privileged (container "c" must not set securityContext.privileged=true), allowPrivilegeEscalation != false (container "c" must set securityContext.allowPrivilegeEscalation=false), unrestricted capabilities (container "c" must set securityContext.capabilities.drop=["ALL"]), runAsNonRoot != true (pod or container "c" must set securityContext.runAsNonRoot=true), seccompProfile (pod or container "c" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")`
	if err == nil || err.Error() != want {
		t.Errorf("privileged pod in an enforced namespace:\n got %v\nwant %s", err, want)
	}
	got.take()

	if _, err := cs.CoreV1().Pods("warned").Create(ctx, privilegedPod("x"), metav1.CreateOptions{}); err != nil {
		t.Fatalf("warn mode refused: %v", err)
	}
	wantWarn := `would violate PodSecurity "baseline:latest": privileged (container "c" must not set securityContext.privileged=true)`
	if w := got.take(); len(w) != 1 || w[0] != wantWarn {
		t.Errorf("warn mode: warnings %q, want [%s]", w, wantWarn)
	}

	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "d"}, Spec: appsv1.DeploymentSpec{
		Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "d"}},
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "d"}}, Spec: privilegedPod("").Spec},
	}}
	if _, err := cs.AppsV1().Deployments("enforced").Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		t.Fatalf("a Deployment is warned about, not refused: %v", err)
	}
	if w := got.take(); len(w) != 1 || !strings.HasPrefix(w[0], `would violate PodSecurity "restricted:latest": privileged (container "c" must not set securityContext.privileged=true)`) {
		t.Errorf("Deployment template: warnings %q", w)
	}

	// "latest" is the policy of the version the server reports (1.32):
	// a lifecycle hook with an httpGet host, which baseline refuses only
	// from 1.34 on (upstream's conformance test of HTTP hooks creates
	// one), is admitted under enforce=baseline.
	hook := privilegedPod("hook")
	hook.Spec.Containers[0].SecurityContext = nil
	hook.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{PostStart: &corev1.LifecycleHandler{HTTPGet: &corev1.HTTPGetAction{Host: "10.0.0.1", Path: "/echo", Port: intstr.FromInt32(8080)}}}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "baseline",
		Labels: map[string]string{"pod-security.kubernetes.io/enforce": "baseline"}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Pods("baseline").Create(ctx, hook, metav1.CreateOptions{}); err != nil {
		t.Errorf("pod with an HTTP lifecycle hook host under baseline:latest (1.32): %v", err)
	}
	got.take()

	if _, err := cs.CoreV1().Pods("open").Create(ctx, privilegedPod("x"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	patch := []byte(`{"metadata":{"labels":{"pod-security.kubernetes.io/enforce":"baseline"}}}`)
	if _, err := cs.CoreV1().Namespaces().Patch(ctx, "open", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	wantNS := []string{`existing pods in namespace "open" violate the new PodSecurity enforce level "baseline:latest"`, `x: privileged`}
	if w := got.take(); len(w) != 2 || w[0] != wantNS[0] || w[1] != wantNS[1] {
		t.Errorf("enforcing on a namespace with a privileged pod: warnings %q, want %q", w, wantNS)
	}
	// Once the namespace cache has the new label, new privileged pods are
	// refused there.
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := cs.CoreV1().Pods("open").Create(ctx, privilegedPod("y"), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err != nil && strings.Contains(err.Error(), `violates PodSecurity "baseline:latest"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("privileged pod still admitted after enforce=baseline: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
