package agent

import (
	"context"
	"log/slog"
	"strconv"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/flotilla-io/flotilla/pkg/agent/internal/podrun"
)

// The node's allocatable (/proc/meminfo, statfs of the data directory) is
// measured with the node status, not again for every resourceFieldRef
// and downward API file of every container.
func TestAllocatableMeasuredWithNodeStatus(t *testing.T) {
	a, err := New(Config{NodeName: "n1", DataDir: t.TempDir(), NodeIP: "192.0.2.1"}, &rest.Config{Host: "http://127.0.0.1:1"}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	measured := 0
	a.alloc.measure = func() corev1.ResourceList {
		measured++
		return a.measureCapacity()
	}
	st := a.nodeStatus()
	if measured != 1 {
		t.Fatalf("node status measured %d times", measured)
	}
	if mem := st.Allocatable[corev1.ResourceMemory]; mem.IsZero() {
		t.Fatalf("allocatable %v", st.Allocatable)
	}
	ref := func(res string) *corev1.EnvVarSource {
		return &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: res, Divisor: resource.MustParse("1")}}
	}
	// A static pod's: no API server answers here, and an API pod's
	// container waits for the agent's Service cache (Service env vars).
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "u1", Annotations: map[string]string{"kubernetes.io/config.source": "file"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox", Env: []corev1.EnvVar{
			{Name: "CPU", ValueFrom: ref("limits.cpu")}, {Name: "MEM", ValueFrom: ref("limits.memory")}, {Name: "DISK", ValueFrom: ref("limits.ephemeral-storage")},
		}}}},
	}
	run := podrun.New()
	for range 5 {
		cfg, err := a.configs.Container(context.Background(), pod, &pod.Spec.Containers[0], run, 0, podrun.Image{Ref: "busybox"})
		if err != nil {
			t.Fatal(err)
		}
		for _, kv := range cfg.Envs {
			want := st.Allocatable[map[string]corev1.ResourceName{"CPU": corev1.ResourceCPU, "MEM": corev1.ResourceMemory, "DISK": corev1.ResourceEphemeralStorage}[kv.Key]]
			if string(kv.Value) != strconv.FormatInt(want.Value(), 10) {
				t.Errorf("%s = %s, want the allocatable %d", kv.Key, kv.Value, want.Value())
			}
		}
	}
	if measured != 1 {
		t.Fatalf("allocatable measured %d times for 5 containers with 3 resourceFieldRefs each, want once (with the node status)", measured)
	}
	if !equality.Semantic.DeepEqual(a.alloc.get(), st.Allocatable) {
		t.Fatalf("cached %v, status %v", a.alloc.get(), st.Allocatable)
	}
	a.nodeStatus()
	if measured != 2 {
		t.Fatalf("the next node status measured %d times in all, want 2", measured)
	}
}

// Before any node status, the first reader measures, and later readers
// share that measurement.
func TestAllocatableMeasuredOnFirstUse(t *testing.T) {
	measured := 0
	c := allocatableCache{measure: func() corev1.ResourceList {
		measured++
		return corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")}
	}}
	for range 3 {
		if q := c.get()[corev1.ResourceCPU]; q.String() != "2" {
			t.Fatalf("cpu %s", q.String())
		}
	}
	if measured != 1 {
		t.Fatalf("measured %d times", measured)
	}
}
