package status

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/flotilla-io/flotilla/pkg/agent/internal/podrun"
	"github.com/flotilla-io/flotilla/pkg/agent/prober"
)

func criContainer(name, id string, state runtimeapi.ContainerState, exit int32) *runtimeapi.ContainerStatus {
	return &runtimeapi.ContainerStatus{Id: id, Metadata: &runtimeapi.ContainerMetadata{Name: name}, State: state, ExitCode: exit,
		StartedAt: time.Now().UnixNano(), FinishedAt: time.Now().UnixNano(), ImageRef: "sha256:busybox"}
}

// debugPod runs app and has the ephemeral containers ecs.
func debugPod(ecs ...corev1.EphemeralContainer) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default", UID: "uid-p"},
		Spec: corev1.PodSpec{
			RestartPolicy:       corev1.RestartPolicyAlways,
			Containers:          []corev1.Container{{Name: "app", Image: "busybox", ImagePullPolicy: corev1.PullIfNotPresent}},
			EphemeralContainers: ecs,
		},
		Status: corev1.PodStatus{Phase: corev1.PodRunning},
	}
}

func ephemeral(name, target string) corev1.EphemeralContainer {
	return corev1.EphemeralContainer{TargetContainerName: target, EphemeralContainerCommon: corev1.EphemeralContainerCommon{
		Name: name, Image: "busybox", ImagePullPolicy: corev1.PullIfNotPresent, Stdin: true, TTY: true,
	}}
}

func runningApp() *podrun.Run {
	return &podrun.Run{
		Sandbox:    &runtimeapi.PodSandbox{Id: "sb"},
		PodIP:      "10.42.0.9",
		Containers: map[string][]*runtimeapi.ContainerStatus{"app": {criContainer("app", "app-1", runtimeapi.ContainerState_CONTAINER_RUNNING, 0)}},
		Waiting:    map[string]podrun.Waiting{},
	}
}

// Ephemeral containers are reported apart, sorted by name, never ready,
// with no started flag, and have no say in the pod's phase or readiness.
func TestEphemeralContainerStatuses(t *testing.T) {
	m := New(nil, "192.0.2.1", prober.New(nil, nil, nil, "192.0.2.1"))
	pod := debugPod(ephemeral("zz-exited", ""), ephemeral("debugger", "app"), ephemeral("new", ""), ephemeral("lost", ""), ephemeral("done", ""))
	pod.Status.EphemeralContainerStatuses = []corev1.ContainerStatus{
		{Name: "lost", ContainerID: "containerd://lost-1", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}},
		{Name: "done", ContainerID: "containerd://done-1", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 3, Reason: "Error"}}},
	}
	run := runningApp()
	run.Containers["debugger"] = []*runtimeapi.ContainerStatus{criContainer("debugger", "dbg-1", runtimeapi.ContainerState_CONTAINER_RUNNING, 0)}
	run.Containers["zz-exited"] = []*runtimeapi.ContainerStatus{criContainer("zz-exited", "zz-1", runtimeapi.ContainerState_CONTAINER_EXITED, 2)}

	st := m.compute(pod, run)
	if st.Phase != corev1.PodRunning || findCondition(st.Conditions, corev1.PodReady).Status != corev1.ConditionTrue {
		t.Fatalf("pod phase %s, ready %v: ephemeral containers must not count", st.Phase, findCondition(st.Conditions, corev1.PodReady))
	}
	var names []string
	for _, cs := range st.EphemeralContainerStatuses {
		names = append(names, cs.Name)
		if cs.Ready || cs.Started != nil || cs.RestartCount != 0 {
			t.Errorf("%s: ready %v, started %v, restarts %d", cs.Name, cs.Ready, cs.Started, cs.RestartCount)
		}
	}
	if got := names; len(got) != 5 || got[0] != "debugger" || got[1] != "done" || got[2] != "lost" || got[3] != "new" || got[4] != "zz-exited" {
		t.Fatalf("order: %v", got)
	}
	by := map[string]corev1.ContainerStatus{}
	for _, cs := range st.EphemeralContainerStatuses {
		by[cs.Name] = cs
	}
	if cs := by["debugger"]; cs.State.Running == nil || cs.ContainerID != "containerd://dbg-1" || cs.Image != "busybox" || cs.ImageID != "sha256:busybox" {
		t.Errorf("debugger: %+v", cs)
	}
	if cs := by["zz-exited"]; cs.State.Terminated == nil || cs.State.Terminated.ExitCode != 2 || cs.State.Terminated.Reason != "Error" {
		t.Errorf("zz-exited: %+v", cs.State)
	}
	if cs := by["new"]; cs.State.Waiting == nil || cs.State.Waiting.Reason != "ContainerCreating" || cs.ContainerID != "" {
		t.Errorf("new: %+v", cs)
	}
	if cs := by["done"]; cs.State.Terminated == nil || cs.State.Terminated.ExitCode != 3 || cs.ContainerID != "containerd://done-1" {
		t.Errorf("done keeps its last state: %+v", cs)
	}
	if cs := by["lost"]; cs.State.Terminated == nil || cs.State.Terminated.Reason != "ContainerStatusUnknown" || cs.State.Terminated.ExitCode != 137 {
		t.Errorf("lost: %+v", cs.State)
	}
}

// A container that could not be created shows why as its waiting reason.
func TestEphemeralWaitingReason(t *testing.T) {
	pod := debugPod(ephemeral("debugger", "app"))
	run := runningApp()
	run.Waiting["debugger"] = podrun.Waiting{Reason: "CreateContainerConfigError", Message: "unable to find target container app"}
	st := New(nil, "192.0.2.1", prober.New(nil, nil, nil, "192.0.2.1")).ephemeralStatuses(pod, run)
	if w := st[0].State.Waiting; w == nil || w.Reason != "CreateContainerConfigError" || w.Message != "unable to find target container app" {
		t.Fatalf("status: %+v", st[0])
	}
}
