package priority

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"

	"github.com/flotilla-io/flotilla/pkg/admission/internal/deps"
)

func TestAdmit(t *testing.T) {
	cs := fake.NewSimpleClientset(
		&schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "everyone"}, Value: 1000, GlobalDefault: true},
		&schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "also-default"}, Value: 2000, GlobalDefault: true},
		&schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "low"}, Value: 10, PreemptionPolicy: ptr.To(corev1.PreemptNever)},
	)
	factory := informers.NewSharedInformerFactory(cs, 0)
	p, err := New(deps.Deps{Client: cs, Informers: factory})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	factory.Start(ctx.Done())
	factory.WaitForCacheSync(ctx.Done())

	tests := []struct {
		name     string
		spec     corev1.PodSpec
		class    string
		priority int32
		policy   corev1.PreemptionPolicy
		err      string
	}{
		{name: "global default, the lower of two", class: "everyone", priority: 1000, policy: corev1.PreemptLowerPriority},
		{name: "named class", spec: corev1.PodSpec{PriorityClassName: "low"}, class: "low", priority: 10, policy: corev1.PreemptNever},
		{name: "system class", spec: corev1.PodSpec{PriorityClassName: "system-cluster-critical"}, class: "system-cluster-critical", priority: 2000000000, policy: corev1.PreemptLowerPriority},
		{name: "unknown class", spec: corev1.PodSpec{PriorityClassName: "nope"}, err: `pods "p" is forbidden: no PriorityClass with name nope was found`},
		{name: "stated priority", spec: corev1.PodSpec{Priority: ptr.To[int32](1)}, err: "the integer value of priority (1) must not be provided in pod spec; priority admission controller computed 1000 from the given PriorityClass name"},
		{name: "stated policy", spec: corev1.PodSpec{PriorityClassName: "low", PreemptionPolicy: ptr.To(corev1.PreemptLowerPriority)}, err: "the string value of PreemptionPolicy (PreemptLowerPriority) must not be provided in pod spec; priority admission controller computed Never from the given PriorityClass name"},
	}
	for _, tt := range tests {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"}, Spec: tt.spec}
		a := admission.NewAttributesRecord(pod, nil, corev1.SchemeGroupVersion.WithKind("Pod"), "ns", "p", corev1.SchemeGroupVersion.WithResource("pods"), "", admission.Create, nil, false, nil)
		err := p.(admission.MutationInterface).Admit(ctx, a, nil)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s: got %v, want %s", tt.name, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if s := pod.Spec; s.PriorityClassName != tt.class || ptr.Deref(s.Priority, -1) != tt.priority || ptr.Deref(s.PreemptionPolicy, "") != tt.policy {
			t.Errorf("%s: class %q priority %d policy %v", tt.name, s.PriorityClassName, ptr.Deref(s.Priority, -1), ptr.Deref(s.PreemptionPolicy, ""))
		}
	}
}
