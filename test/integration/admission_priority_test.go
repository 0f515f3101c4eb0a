package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"

	"github.com/flotilla-io/flotilla/pkg/server/testserver"
)

// TestAdmissionPriorityGlobalDefault: with a globalDefault PriorityClass,
// a pod naming no class gets that class's name and value (it used to be
// refused because defaulting had already set priority 0), a pod naming
// another class gets that one's, and a pod stating a priority that
// differs from its class is refused with upstream's message.
func TestAdmissionPriorityGlobalDefault(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{})
	cs := srv.Clientset(t)
	ctx := context.Background()
	for _, pc := range []*schedulingv1.PriorityClass{
		{ObjectMeta: metav1.ObjectMeta{Name: "everyone"}, Value: 1000, GlobalDefault: true},
		{ObjectMeta: metav1.ObjectMeta{Name: "low"}, Value: 10, PreemptionPolicy: ptr.To(corev1.PreemptNever)},
	} {
		if _, err := cs.SchedulingV1().PriorityClasses().Create(ctx, pc, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	newPod := func(name string, mutate func(*corev1.PodSpec)) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
		if mutate != nil {
			mutate(&p.Spec)
		}
		return p
	}
	pods := cs.CoreV1().Pods("default")
	// Admission reads classes from its cache, as upstream's does: wait
	// until a dry-run pod shows the new default class there.
	if err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		p, err := pods.Create(ctx, newPod("probe", nil), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return err == nil && p.Spec.PriorityClassName == "everyone", nil
	}); err != nil {
		t.Fatalf("the globalDefault class never reached admission: %v", err)
	}

	got, err := pods.Create(ctx, newPod("plain", nil), metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("pod without a class, with a globalDefault class: %v", err)
	}
	if got.Spec.PriorityClassName != "everyone" || ptr.Deref(got.Spec.Priority, -1) != 1000 || ptr.Deref(got.Spec.PreemptionPolicy, "") != corev1.PreemptLowerPriority {
		t.Errorf("pod without a class: class %q priority %v preemption %v, want everyone 1000 PreemptLowerPriority", got.Spec.PriorityClassName, ptr.Deref(got.Spec.Priority, -1), ptr.Deref(got.Spec.PreemptionPolicy, ""))
	}

	got, err = pods.Create(ctx, newPod("low", func(s *corev1.PodSpec) { s.PriorityClassName = "low" }), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ptr.Deref(got.Spec.Priority, -1) != 10 || ptr.Deref(got.Spec.PreemptionPolicy, "") != corev1.PreemptNever {
		t.Errorf("pod of class low: priority %v preemption %v, want 10 Never", ptr.Deref(got.Spec.Priority, -1), ptr.Deref(got.Spec.PreemptionPolicy, ""))
	}

	got, err = pods.Create(ctx, newPod("critical", func(s *corev1.PodSpec) { s.PriorityClassName = "system-node-critical" }), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ptr.Deref(got.Spec.Priority, -1) != 2000001000 {
		t.Errorf("system-node-critical pod: priority %v", ptr.Deref(got.Spec.Priority, -1))
	}

	_, err = pods.Create(ctx, newPod("liar", func(s *corev1.PodSpec) { s.Priority = ptr.To[int32](5) }), metav1.CreateOptions{})
	if want := `pods "liar" is forbidden: the integer value of priority (5) must not be provided in pod spec; priority admission controller computed 1000 from the given PriorityClass name`; err == nil || err.Error() != want {
		t.Errorf("stated priority: got %v, want %s", err, want)
	}
	_, err = pods.Create(ctx, newPod("nosuch", func(s *corev1.PodSpec) { s.PriorityClassName = "nosuch" }), metav1.CreateOptions{})
	if err == nil || !strings.Contains(err.Error(), `pods "nosuch" is forbidden: no PriorityClass with name nosuch was found`) {
		t.Errorf("unknown class: got %v", err)
	}
}
