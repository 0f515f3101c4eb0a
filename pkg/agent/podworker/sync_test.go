package podworker

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// criState is a runtime that keeps its sandboxes and containers; calls it
// does not serve panic (the embedded interface is nil).
type criState struct {
	runtimeapi.RuntimeServiceClient
	mu         sync.Mutex
	n          int
	sandboxes  map[string]*runtimeapi.PodSandbox
	containers map[string]*runtimeapi.ContainerStatus
	sandboxOf  map[string]string
	stopped    []string
}

func newCRIState() *criState {
	return &criState{sandboxes: map[string]*runtimeapi.PodSandbox{}, containers: map[string]*runtimeapi.ContainerStatus{}, sandboxOf: map[string]string{}}
}

func (f *criState) RunPodSandbox(_ context.Context, in *runtimeapi.RunPodSandboxRequest, _ ...grpc.CallOption) (*runtimeapi.RunPodSandboxResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	id := fmt.Sprintf("sb-%d", f.n)
	f.sandboxes[id] = &runtimeapi.PodSandbox{Id: id, Metadata: in.Config.Metadata, State: runtimeapi.PodSandboxState_SANDBOX_READY, Labels: in.Config.Labels}
	return &runtimeapi.RunPodSandboxResponse{PodSandboxId: id}, nil
}

func (f *criState) ListPodSandbox(context.Context, *runtimeapi.ListPodSandboxRequest, ...grpc.CallOption) (*runtimeapi.ListPodSandboxResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	resp := &runtimeapi.ListPodSandboxResponse{}
	for _, sb := range f.sandboxes {
		resp.Items = append(resp.Items, sb)
	}
	return resp, nil
}

func (f *criState) PodSandboxStatus(context.Context, *runtimeapi.PodSandboxStatusRequest, ...grpc.CallOption) (*runtimeapi.PodSandboxStatusResponse, error) {
	return &runtimeapi.PodSandboxStatusResponse{Status: &runtimeapi.PodSandboxStatus{Network: &runtimeapi.PodSandboxNetworkStatus{Ip: "10.42.0.5"}}}, nil
}

// StopPodSandbox answers NotFound for a sandbox it does not hold, as
// containerd 1.6 does.
func (f *criState) StopPodSandbox(_ context.Context, in *runtimeapi.StopPodSandboxRequest, _ ...grpc.CallOption) (*runtimeapi.StopPodSandboxResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.sandboxes[in.PodSandboxId] == nil {
		return nil, status.Errorf(codes.NotFound, "an error occurred when try to find sandbox %q: not found", in.PodSandboxId)
	}
	f.sandboxes[in.PodSandboxId].State = runtimeapi.PodSandboxState_SANDBOX_NOTREADY
	return &runtimeapi.StopPodSandboxResponse{}, nil
}

func (f *criState) RemovePodSandbox(_ context.Context, in *runtimeapi.RemovePodSandboxRequest, _ ...grpc.CallOption) (*runtimeapi.RemovePodSandboxResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.sandboxes, in.PodSandboxId)
	for id, sb := range f.sandboxOf {
		if sb == in.PodSandboxId {
			delete(f.containers, id)
			delete(f.sandboxOf, id)
		}
	}
	return &runtimeapi.RemovePodSandboxResponse{}, nil
}

func (f *criState) CreateContainer(_ context.Context, in *runtimeapi.CreateContainerRequest, _ ...grpc.CallOption) (*runtimeapi.CreateContainerResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	id := fmt.Sprintf("%s-%d", in.Config.Metadata.Name, f.n)
	f.containers[id] = &runtimeapi.ContainerStatus{Id: id, Metadata: in.Config.Metadata, State: runtimeapi.ContainerState_CONTAINER_CREATED, ImageRef: "sha256:busybox"}
	f.sandboxOf[id] = in.PodSandboxId
	return &runtimeapi.CreateContainerResponse{ContainerId: id}, nil
}

func (f *criState) StartContainer(_ context.Context, in *runtimeapi.StartContainerRequest, _ ...grpc.CallOption) (*runtimeapi.StartContainerResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.containers[in.ContainerId]
	c.State, c.StartedAt = runtimeapi.ContainerState_CONTAINER_RUNNING, time.Now().UnixNano()
	return &runtimeapi.StartContainerResponse{}, nil
}

func (f *criState) StopContainer(_ context.Context, in *runtimeapi.StopContainerRequest, _ ...grpc.CallOption) (*runtimeapi.StopContainerResponse, error) {
	f.exit(in.ContainerId, 0)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stopped = append(f.stopped, in.ContainerId)
	return &runtimeapi.StopContainerResponse{}, nil
}

func (f *criState) ListContainers(_ context.Context, in *runtimeapi.ListContainersRequest, _ ...grpc.CallOption) (*runtimeapi.ListContainersResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	resp := &runtimeapi.ListContainersResponse{}
	for id, c := range f.containers {
		if in.Filter != nil && in.Filter.PodSandboxId != "" && in.Filter.PodSandboxId != f.sandboxOf[id] {
			continue
		}
		resp.Containers = append(resp.Containers, &runtimeapi.Container{Id: id, PodSandboxId: f.sandboxOf[id], Metadata: c.Metadata, State: c.State})
	}
	return resp, nil
}

func (f *criState) ContainerStatus(_ context.Context, in *runtimeapi.ContainerStatusRequest, _ ...grpc.CallOption) (*runtimeapi.ContainerStatusResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.containers[in.ContainerId]
	if !ok {
		return nil, fmt.Errorf("no container %s", in.ContainerId)
	}
	return &runtimeapi.ContainerStatusResponse{Status: proto.Clone(c).(*runtimeapi.ContainerStatus)}, nil
}

// exit ends a running container with code.
func (f *criState) exit(id string, code int32) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.containers[id]
	c.State, c.ExitCode, c.FinishedAt = runtimeapi.ContainerState_CONTAINER_EXITED, code, time.Now().UnixNano()
}

// named is the id of the newest attempt of the named container.
func (f *criState) named(name string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	best := ""
	for id, c := range f.containers {
		if c.Metadata.Name == name && (best == "" || c.Metadata.Attempt > f.containers[best].Metadata.Attempt) {
			best = id
		}
	}
	return best
}

// One pod through its life, one sync at a time: sandbox and init
// container, then the app container once the init container succeeded,
// a restart after the app container failed, and on deletion its
// containers stop, it reaches a terminal phase and the API forgets it.
func TestSyncPodLifecycle(t *testing.T) {
	ctx := context.Background()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default", UID: "uid-p"},
		Spec: corev1.PodSpec{
			NodeName: "n", RestartPolicy: corev1.RestartPolicyAlways,
			InitContainers: []corev1.Container{{Name: "init", Image: "busybox"}},
			Containers:     []corev1.Container{{Name: "app", Image: "busybox"}},
		},
		Status: corev1.PodStatus{Phase: corev1.PodPending},
	}
	rt := newCRIState()
	w := testWorker(t, rt, pod)
	cs := w.cs.(*fake.Clientset)
	current := func() *corev1.Pod {
		t.Helper()
		p, err := cs.CoreV1().Pods("default").Get(ctx, "p", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	sync := func() {
		t.Helper()
		sbs, _ := rt.ListPodSandbox(ctx, nil)
		if err := w.syncPod(ctx, current(), sbs.Items); err != nil {
			t.Fatal(err)
		}
	}

	sync()
	if len(rt.sandboxes) != 1 || rt.named("init") == "" || rt.named("app") != "" {
		t.Fatalf("first sync: %d sandboxes, init %q, app %q", len(rt.sandboxes), rt.named("init"), rt.named("app"))
	}
	st := current().Status
	if st.Phase != corev1.PodPending || st.PodIP != "10.42.0.5" || st.ContainerStatuses[0].State.Waiting.Reason != "PodInitializing" {
		t.Fatalf("while initializing: %+v", st)
	}

	rt.exit(rt.named("init"), 0)
	sync()
	if rt.named("app") == "" || len(rt.sandboxes) != 1 {
		t.Fatalf("the app container did not start after init: %v", rt.containers)
	}
	if st := current().Status; st.Phase != corev1.PodRunning || !st.ContainerStatuses[0].Ready {
		t.Fatalf("running: %+v", st)
	}

	// The first restart is immediate; the next waits out the back-off.
	first := rt.named("app")
	rt.exit(first, 2)
	sync()
	second := rt.named("app")
	if second == first || rt.containers[second].Metadata.Attempt != 1 {
		t.Fatalf("not restarted: %s then %s", first, second)
	}
	rt.exit(second, 2)
	sync()
	if rt.named("app") != second {
		t.Fatal("restarted again without a back-off")
	}
	if cs := current().Status.ContainerStatuses[0]; cs.State.Waiting == nil || cs.State.Waiting.Reason != "CrashLoopBackOff" || cs.RestartCount != 1 || cs.LastTerminationState.Terminated == nil {
		t.Fatalf("crash loop: %+v", cs)
	}

	// Deleted: stopped, terminal, gone.
	gone := current()
	now := metav1.Now()
	gone.DeletionTimestamp, gone.DeletionGracePeriodSeconds = &now, new(int64)
	sbs, _ := rt.ListPodSandbox(ctx, nil)
	if err := w.syncPod(ctx, gone, sbs.Items); err != nil {
		t.Fatal(err)
	}
	if len(rt.sandboxes) != 0 || len(rt.containers) != 0 {
		t.Fatalf("left in the runtime: %v %v", rt.sandboxes, rt.containers)
	}
	if _, err := cs.CoreV1().Pods("default").Get(ctx, "p", metav1.GetOptions{}); err == nil {
		t.Fatal("the pod was not deleted")
	}
	var terminal corev1.PodPhase
	for _, a := range cs.Actions() {
		if u, ok := a.(interface{ GetObject() runtime.Object }); ok && a.GetSubresource() == "status" {
			terminal = u.GetObject().(*corev1.Pod).Status.Phase
		}
	}
	if terminal != corev1.PodFailed {
		t.Fatalf("last status before the delete: %s, want Failed (the app container exited 2)", terminal)
	}
}
