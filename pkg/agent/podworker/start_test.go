package podworker

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"google.golang.org/grpc"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/flotilla-io/flotilla/pkg/agent/containers"
	"github.com/flotilla-io/flotilla/pkg/agent/images"
	"github.com/flotilla-io/flotilla/pkg/agent/internal/podrun"
	"github.com/flotilla-io/flotilla/pkg/agent/prober"
	"github.com/flotilla-io/flotilla/pkg/agent/staticpods"
	"github.com/flotilla-io/flotilla/pkg/agent/status"
	"github.com/flotilla-io/flotilla/pkg/agent/volumes"
)

// events records events' reasons.
type events struct{ reasons []string }

func (e *events) Event(_ context.Context, _ *corev1.Pod, _, reason, _ string) {
	e.reasons = append(e.reasons, reason)
}

// objects has no ConfigMaps or Secrets.
type objects struct{}

func (objects) ConfigMapData(context.Context, string, string, *bool) (map[string][]byte, bool, error) {
	return nil, false, nil
}

func (objects) SecretData(context.Context, string, string, *bool) (map[string][]byte, bool, error) {
	return nil, false, nil
}

// testWorker is a Worker on rt with the real config builder, volume
// manager, image puller (finding every image present), prober and status
// manager.
func testWorker(t *testing.T, rt interface {
	Runtime
	prober.Runtime
}, objs ...runtime.Object) *Worker {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cs := fake.NewSimpleClientset(objs...)
	dataDir := t.TempDir()
	ev := &events{}
	vols := volumes.New(volumes.Config{DataDir: dataDir, NodeName: "n", Client: cs, Objects: objects{}, Log: log})
	probes := prober.New(rt, ev, log, "192.0.2.1")
	return New(Config{
		NodeName: "n", Client: cs, Runtime: rt,
		Status:  status.New(cs.CoreV1(), "192.0.2.1", probes),
		Probes:  probes,
		Volumes: vols,
		Configs: containers.New(containers.Config{DataDir: dataDir, NodeIP: "192.0.2.1", RuntimeClasses: cs.NodeV1(), Objects: objects{}, Volumes: vols}),
		Images:  images.NewPuller(fakeImages{}, objects{}, ev, log),
		Static:  &staticpods.Table{},
		Mirrors: staticpods.NewMirrors(cs, "n", log),
		Events:  ev,
		Log:     log,
	})
}

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
	a := testWorker(t, rt)
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
	a := testWorker(t, rt)
	pod := debugPod(ephemeral("debugger", "app"))
	run := runningApp()
	delete(run.Containers, "app")
	if err := a.startEphemeralContainers(context.Background(), pod, run, &runtimeapi.PodSandboxConfig{}); err != nil {
		t.Fatal(err)
	}
	if len(rt.created) != 0 || run.Waiting["debugger"].Reason != "CreateContainerConfigError" || run.Waiting["debugger"].Message != "unable to find target container app" {
		t.Fatalf("created %d, waiting %+v", len(rt.created), run.Waiting)
	}
}

func TestShouldRestart(t *testing.T) {
	cases := []struct {
		policy corev1.RestartPolicy
		code   int32
		want   bool
	}{
		{corev1.RestartPolicyAlways, 0, true}, {corev1.RestartPolicyAlways, 1, true},
		{corev1.RestartPolicyOnFailure, 0, false}, {corev1.RestartPolicyOnFailure, 2, true},
		{corev1.RestartPolicyNever, 0, false}, {corev1.RestartPolicyNever, 1, false},
	}
	for _, c := range cases {
		if got := shouldRestart(c.policy, c.code); got != c.want {
			t.Errorf("shouldRestart(%s, %d) = %v", c.policy, c.code, got)
		}
	}
}
