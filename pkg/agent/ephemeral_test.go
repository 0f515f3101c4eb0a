package agent

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"google.golang.org/grpc"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/flotilla-io/flotilla/pkg/agent/images"
	"github.com/flotilla-io/flotilla/pkg/agent/internal/podrun"
	"github.com/flotilla-io/flotilla/pkg/cri"
)

// fakeRuntime records the containers created and started; every other
// CRI call panics (the embedded interface is nil).
type fakeRuntime struct {
	runtimeapi.RuntimeServiceClient
	created []*runtimeapi.ContainerConfig
	started int
}

func (f *fakeRuntime) CreateContainer(_ context.Context, in *runtimeapi.CreateContainerRequest, _ ...grpc.CallOption) (*runtimeapi.CreateContainerResponse, error) {
	f.created = append(f.created, in.Config)
	return &runtimeapi.CreateContainerResponse{ContainerId: "new-" + in.Config.Metadata.Name}, nil
}

func (f *fakeRuntime) StartContainer(context.Context, *runtimeapi.StartContainerRequest, ...grpc.CallOption) (*runtimeapi.StartContainerResponse, error) {
	f.started++
	return &runtimeapi.StartContainerResponse{}, nil
}

type fakeImages struct{ runtimeapi.ImageServiceClient }

func (fakeImages) ImageStatus(context.Context, *runtimeapi.ImageStatusRequest, ...grpc.CallOption) (*runtimeapi.ImageStatusResponse, error) {
	return &runtimeapi.ImageStatusResponse{Image: &runtimeapi.Image{Id: "sha256:busybox"}}, nil
}

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

// An ephemeral container starts once, in the target's process namespace,
// and never again: not after it exits, not when the runtime lost it.
func TestEphemeralContainersStartOnce(t *testing.T) {
	rt := &fakeRuntime{}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cs := fake.NewSimpleClientset()
	a := &Agent{cfg: Config{NodeName: "n", DataDir: t.TempDir()}, log: log, events: &eventRecorder{cs: cs, node: "n", log: log},
		cs: cs, runtime: &cri.Client{Runtime: rt, Images: fakeImages{}}, backoffs: map[string]*restartBackoff{}, images: images.NewPuller(fakeImages{}, apiObjects{cs}, log)}
	ctx := context.Background()
	sb := &runtimeapi.PodSandboxConfig{}

	pod := debugPod(ephemeral("debugger", "app"), ephemeral("plain", ""))
	run := runningApp()
	if err := a.startContainers(ctx, pod, run, sb); err != nil {
		t.Fatal(err)
	}
	if len(rt.created) != 2 || rt.started != 2 {
		t.Fatalf("created %d, started %d; want both ephemeral containers", len(rt.created), rt.started)
	}
	for _, cfg := range rt.created {
		ns := cfg.Linux.SecurityContext.NamespaceOptions
		switch cfg.Metadata.Name {
		case "debugger":
			if ns.Pid != runtimeapi.NamespaceMode_TARGET || ns.TargetId != "app-1" {
				t.Errorf("debugger's pid namespace: %v %q, want TARGET app-1", ns.Pid, ns.TargetId)
			}
			if !cfg.Stdin || !cfg.Tty || cfg.Metadata.Attempt != 0 || cfg.Labels[podrun.LabelContainerName] != "debugger" {
				t.Errorf("debugger's config: %+v", cfg)
			}
		case "plain":
			if ns.Pid != runtimeapi.NamespaceMode_CONTAINER || ns.TargetId != "" {
				t.Errorf("plain's pid namespace: %v %q", ns.Pid, ns.TargetId)
			}
		}
	}

	// Exited: not restarted, whatever the pod's restart policy.
	run.Containers["debugger"] = []*runtimeapi.ContainerStatus{criContainer("debugger", "dbg-1", runtimeapi.ContainerState_CONTAINER_EXITED, 1)}
	run.Containers["plain"] = []*runtimeapi.ContainerStatus{criContainer("plain", "plain-1", runtimeapi.ContainerState_CONTAINER_RUNNING, 0)}
	if err := a.startContainers(ctx, pod, run, sb); err != nil {
		t.Fatal(err)
	}
	// Gone from the runtime, but the pod's status shows it ran.
	delete(run.Containers, "debugger")
	pod.Status.EphemeralContainerStatuses = []corev1.ContainerStatus{{Name: "debugger", ContainerID: "containerd://dbg-1",
		State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1}}}}
	if err := a.startContainers(ctx, pod, run, sb); err != nil {
		t.Fatal(err)
	}
	if len(rt.created) != 2 {
		t.Fatalf("an ephemeral container was started again: %d creations", len(rt.created))
	}

	// With shareProcessNamespace it already sees the target's processes.
	rt.created = nil
	shared := debugPod(ephemeral("debugger", "app"))
	shared.Spec.ShareProcessNamespace = ptrTo(true)
	if err := a.startContainers(ctx, shared, runningApp(), sb); err != nil {
		t.Fatal(err)
	}
	if ns := rt.created[0].Linux.SecurityContext.NamespaceOptions; ns.Pid != runtimeapi.NamespaceMode_POD || ns.TargetId != "" {
		t.Errorf("shared pid namespace: %v %q", ns.Pid, ns.TargetId)
	}
}

func ptrTo[T any](v T) *T { return &v }

// A target that has no container yet is a config error of the ephemeral
// container, shown as its waiting reason.
func TestEphemeralTargetMissing(t *testing.T) {
	rt := &fakeRuntime{}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cs := fake.NewSimpleClientset()
	a := &Agent{cfg: Config{NodeName: "n", DataDir: t.TempDir()}, log: log, events: &eventRecorder{cs: cs, node: "n", log: log},
		cs: cs, runtime: &cri.Client{Runtime: rt, Images: fakeImages{}}, backoffs: map[string]*restartBackoff{}, images: images.NewPuller(fakeImages{}, apiObjects{cs}, log)}
	pod := debugPod(ephemeral("debugger", "app"))
	run := runningApp()
	delete(run.Containers, "app")
	if err := a.startEphemeralContainers(context.Background(), pod, run, &runtimeapi.PodSandboxConfig{}); err != nil {
		t.Fatal(err)
	}
	if len(rt.created) != 0 || run.Waiting["debugger"].Reason != "CreateContainerConfigError" || run.Waiting["debugger"].Message != "unable to find target container app" {
		t.Fatalf("created %d, waiting %+v", len(rt.created), run.Waiting)
	}
	st := ephemeralStatuses(pod, run)
	if w := st[0].State.Waiting; w == nil || w.Reason != "CreateContainerConfigError" {
		t.Fatalf("status: %+v", st[0])
	}
}

// Ephemeral containers are reported apart, sorted by name, never ready,
// with no started flag, and have no say in the pod's phase or readiness.
func TestEphemeralContainerStatuses(t *testing.T) {
	a := &Agent{nodeIP: "192.0.2.1"}
	pod := debugPod(ephemeral("zz-exited", ""), ephemeral("debugger", "app"), ephemeral("new", ""), ephemeral("lost", ""), ephemeral("done", ""))
	pod.Status.EphemeralContainerStatuses = []corev1.ContainerStatus{
		{Name: "lost", ContainerID: "containerd://lost-1", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}},
		{Name: "done", ContainerID: "containerd://done-1", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 3, Reason: "Error"}}},
	}
	run := runningApp()
	run.Containers["debugger"] = []*runtimeapi.ContainerStatus{criContainer("debugger", "dbg-1", runtimeapi.ContainerState_CONTAINER_RUNNING, 0)}
	run.Containers["zz-exited"] = []*runtimeapi.ContainerStatus{criContainer("zz-exited", "zz-1", runtimeapi.ContainerState_CONTAINER_EXITED, 2)}

	st := a.computeStatus(pod, run)
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
