package status

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/flotilla-io/flotilla/pkg/agent/internal/podrun"
	"github.com/flotilla-io/flotilla/pkg/agent/prober"
)

func updates(cs *fake.Clientset) int {
	n := 0
	for _, a := range cs.Actions() {
		if a.GetVerb() == "update" && a.GetSubresource() == "status" {
			n++
		}
	}
	return n
}

// A status is written when it changed, and not again while it stays the
// same; a failure fails the pod with its reason.
func TestWrite(t *testing.T) {
	ctx := context.Background()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default", UID: "uid-p"},
		Spec:       corev1.PodSpec{RestartPolicy: corev1.RestartPolicyAlways, Containers: []corev1.Container{{Name: "app", Image: "busybox"}}},
		Status:     corev1.PodStatus{Phase: corev1.PodPending},
	}
	cs := fake.NewSimpleClientset(pod)
	m := New(cs.CoreV1(), "192.0.2.1", prober.New(nil, nil, nil, "192.0.2.1"))
	run := podrun.New()
	run.Sandbox, run.PodIP = &runtimeapi.PodSandbox{Id: "sb"}, "10.42.0.9"
	run.Containers["app"] = []*runtimeapi.ContainerStatus{criContainer("app", "app-1", runtimeapi.ContainerState_CONTAINER_RUNNING, 0)}
	if err := m.Write(ctx, pod, run, nil); err != nil {
		t.Fatal(err)
	}
	got, err := cs.CoreV1().Pods("default").Get(ctx, "p", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Status.Phase != corev1.PodRunning || got.Status.PodIP != "10.42.0.9" || got.Status.HostIP != "192.0.2.1" || len(got.Status.ContainerStatuses) != 1 || !got.Status.ContainerStatuses[0].Ready {
		t.Fatalf("status %+v", got.Status)
	}
	if updates(cs) != 1 {
		t.Fatalf("%d status updates, want 1", updates(cs))
	}
	// Write leaves pod.Status as written; the same state writes nothing.
	if err := m.Write(ctx, pod, run, nil); err != nil || updates(cs) != 1 {
		t.Fatalf("unchanged status: err %v, %d updates", err, updates(cs))
	}
	if err := m.Write(ctx, pod, run, &Failure{Reason: "DeadlineExceeded", Message: "too long"}); err != nil {
		t.Fatal(err)
	}
	got, _ = cs.CoreV1().Pods("default").Get(ctx, "p", metav1.GetOptions{})
	if got.Status.Phase != corev1.PodFailed || got.Status.Reason != "DeadlineExceeded" || got.Status.Message != "too long" {
		t.Fatalf("failed status %+v", got.Status)
	}
}

// A static pod's status goes to its current mirror, and to no other pod.
func TestPutStatic(t *testing.T) {
	ctx := context.Background()
	static := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-n1", Namespace: "default", UID: "hash-1",
		Annotations: map[string]string{"kubernetes.io/config.source": "file"}}}
	mirror := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-n1", Namespace: "default", UID: "api-uid",
		Annotations: map[string]string{corev1.MirrorPodAnnotationKey: "hash-1"}}}
	cs := fake.NewSimpleClientset(mirror)
	m := New(cs.CoreV1(), "192.0.2.1", nil)
	if err := m.Put(ctx, static.DeepCopy(), corev1.PodStatus{Phase: corev1.PodRunning}); err != nil {
		t.Fatal(err)
	}
	got, _ := cs.CoreV1().Pods("default").Get(ctx, "web-n1", metav1.GetOptions{})
	if got.Status.Phase != corev1.PodRunning {
		t.Fatalf("mirror status %+v", got.Status)
	}
	// A mirror of an older manifest is not the static pod's.
	newer := static.DeepCopy()
	newer.UID = "hash-2"
	if err := m.Put(ctx, newer, corev1.PodStatus{Phase: corev1.PodFailed}); err != nil {
		t.Fatal(err)
	}
	if got, _ := cs.CoreV1().Pods("default").Get(ctx, "web-n1", metav1.GetOptions{}); got.Status.Phase != corev1.PodRunning {
		t.Fatalf("an old mirror got a newer manifest's status: %+v", got.Status)
	}
}
