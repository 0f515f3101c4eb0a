package podworker

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	listersv1 "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/util/workqueue"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/flotilla-io/flotilla/pkg/agent/admission"
	"github.com/flotilla-io/flotilla/pkg/agent/internal/podrun"
)

// Runtime is the CRI calls the worker makes itself.
type Runtime interface {
	ListPodSandbox(ctx context.Context, in *runtimeapi.ListPodSandboxRequest, opts ...grpc.CallOption) (*runtimeapi.ListPodSandboxResponse, error)
	RunPodSandbox(ctx context.Context, in *runtimeapi.RunPodSandboxRequest, opts ...grpc.CallOption) (*runtimeapi.RunPodSandboxResponse, error)
	PodSandboxStatus(ctx context.Context, in *runtimeapi.PodSandboxStatusRequest, opts ...grpc.CallOption) (*runtimeapi.PodSandboxStatusResponse, error)
	StopPodSandbox(ctx context.Context, in *runtimeapi.StopPodSandboxRequest, opts ...grpc.CallOption) (*runtimeapi.StopPodSandboxResponse, error)
	RemovePodSandbox(ctx context.Context, in *runtimeapi.RemovePodSandboxRequest, opts ...grpc.CallOption) (*runtimeapi.RemovePodSandboxResponse, error)
	ListContainers(ctx context.Context, in *runtimeapi.ListContainersRequest, opts ...grpc.CallOption) (*runtimeapi.ListContainersResponse, error)
	ContainerStatus(ctx context.Context, in *runtimeapi.ContainerStatusRequest, opts ...grpc.CallOption) (*runtimeapi.ContainerStatusResponse, error)
	CreateContainer(ctx context.Context, in *runtimeapi.CreateContainerRequest, opts ...grpc.CallOption) (*runtimeapi.CreateContainerResponse, error)
	StartContainer(ctx context.Context, in *runtimeapi.StartContainerRequest, opts ...grpc.CallOption) (*runtimeapi.StartContainerResponse, error)
	RemoveContainer(ctx context.Context, in *runtimeapi.RemoveContainerRequest, opts ...grpc.CallOption) (*runtimeapi.RemoveContainerResponse, error)
}

// StatusManager computes and writes pod statuses.
type StatusManager interface {
	// Write computes the pod's status from run and writes it if it
	// changed; syncErr keeps the pod from starting (a *status.Failure
	// fails it for good).
	Write(ctx context.Context, pod *corev1.Pod, run *podrun.Run, syncErr error) error
	// Put writes st as the pod's status if it changed.
	Put(ctx context.Context, pod *corev1.Pod, st corev1.PodStatus) error
	// ForgetRemoved drops what is remembered of containers the runtime
	// no longer has; present holds the IDs of those it has.
	ForgetRemoved(present map[string]bool)
}

// Prober runs probes and lifecycle hooks.
type Prober interface {
	// Sync starts probers for the pod's running containers and stops
	// those of containers that no longer run.
	Sync(ctx context.Context, pod *corev1.Pod, run *podrun.Run)
	// Forget stops a container's probers.
	Forget(containerID string)
	// PostStart runs a started container's postStart hook; a failure
	// kills the container and becomes its waiting reason in run.
	PostStart(ctx context.Context, pod *corev1.Pod, c *corev1.Container, id string, run *podrun.Run)
	// StopContainer runs the container's preStop hook (pod may be nil)
	// and stops it within grace seconds.
	StopContainer(ctx context.Context, pod *corev1.Pod, name, id, sandboxID string, grace int64) error
}

// Volumes keeps the pods' volumes and directories.
type Volumes interface {
	PodState
	// Refresh rewrites a running pod's API-backed volumes when due.
	Refresh(ctx context.Context, pod *corev1.Pod)
	// Forget drops what is remembered of a pod that went.
	Forget(uid types.UID)
	// Cleanup unmounts and removes a pod's directory and logs.
	Cleanup(uid types.UID) error
	// PodsOnDisk lists the pods that have a directory or logs on disk.
	PodsOnDisk() ([]types.UID, error)
	// TeardownVolumes unmounts and removes a finished pod's volumes and
	// reports whether there were any.
	TeardownVolumes(uid types.UID) (bool, error)
}

// PodState is in-memory state a part of the agent keeps per pod; the
// housekeeping drops the state of pods that are gone.
type PodState interface {
	// RetainPods drops the state of every pod live says is gone and
	// returns how many pods it dropped.
	RetainPods(live func(types.UID) bool) int
	// PodCount is how many pods the state holds entries for.
	PodCount() int
}

// ConfigBuilder builds what the runtime is asked to create.
type ConfigBuilder interface {
	Sandbox(pod *corev1.Pod, attempt uint32) (*runtimeapi.PodSandboxConfig, error)
	RuntimeHandler(ctx context.Context, pod *corev1.Pod) (string, error)
	Container(ctx context.Context, pod *corev1.Pod, c *corev1.Container, run *podrun.Run, attempt uint32, image podrun.Image) (*runtimeapi.ContainerConfig, error)
}

// ImagePuller makes a container's image present and returns the
// runtime's reference to it.
type ImagePuller interface {
	Ensure(ctx context.Context, pod *corev1.Pod, c *corev1.Container) (podrun.Image, error)
}

// StaticPods are the pods of the node's manifest sources, by
// namespace/name key.
type StaticPods interface {
	Get(key string) *corev1.Pod
	Keys() []string
}

// Mirrors creates and deletes static pods' mirror pods.
type Mirrors interface {
	Ensure(ctx context.Context, static, api *corev1.Pod) error
	Delete(ctx context.Context, mirror *corev1.Pod) error
}

// Recorder records an event about a pod.
type Recorder interface {
	Event(ctx context.Context, pod *corev1.Pod, eventType, reason, message string)
}

// Config is what a Worker needs.
type Config struct {
	NodeName string
	// Client watches the node's pods and its Node, and deletes pods that
	// finished terminating.
	Client  kubernetes.Interface
	Runtime Runtime
	Status  StatusManager
	Probes  Prober
	Volumes Volumes
	Configs ConfigBuilder
	Images  ImagePuller
	Static  StaticPods
	Mirrors Mirrors
	Events  Recorder
	// Registered is the Node as the agent registers it: admission's view
	// of the node until the informer has it.
	Registered func() *corev1.Node
	// Sysctls are the sysctls the node lets pods set; nil: the safe ones.
	Sysctls *admission.SysctlAllowlist
	// States are the other parts' per-pod state (image pull back-offs,
	// probers), by a name for the agent's metrics.
	States map[string]PodState
	// AddressLeases is the directory of the pod network's host-local
	// address leases ("" when the agent does not own the network).
	AddressLeases string
	// Housekept, when set, is told what each housekeeping round did.
	Housekept func(Housekeeping)
	Log       *slog.Logger
}

// Worker reconciles the pods of one node.
type Worker struct {
	nodeName   string
	cs         kubernetes.Interface
	rt         Runtime
	status     StatusManager
	probes     Prober
	volumes    Volumes
	configs    ConfigBuilder
	images     ImagePuller
	static     StaticPods
	mirrors    Mirrors
	events     Recorder
	registered func() *corev1.Node
	sysctls    *admission.SysctlAllowlist
	states     map[string]PodState
	leases     string
	housekept  func(Housekeeping)
	log        *slog.Logger

	queue     workqueue.TypedRateLimitingInterface[string]
	pods      listersv1.PodLister                // set by Run
	admission atomic.Pointer[admission.Admitter] // set by Run before the first sync
	backoffs  backoffs

	// gone is signalled when a pod leaves the API, so the housekeeping
	// runs soon.
	gone chan struct{}

	// Runtime state seen at the last relist, by pod key, and when every
	// pod was last queued regardless of change.
	lastState  map[string]string
	lastResync time.Time

	// evictions are the pods the eviction manager asked to fail, by UID.
	evictions evictions
}

// New is a Worker of cfg; Run starts it.
func New(cfg Config) *Worker {
	return &Worker{
		nodeName: cfg.NodeName, cs: cfg.Client, rt: cfg.Runtime, status: cfg.Status, probes: cfg.Probes, volumes: cfg.Volumes,
		configs: cfg.Configs, images: cfg.Images, static: cfg.Static, mirrors: cfg.Mirrors, events: cfg.Events,
		registered: cfg.Registered, sysctls: cfg.Sysctls, states: cfg.States, leases: cfg.AddressLeases, housekept: cfg.Housekept, log: cfg.Log,
		gone:  make(chan struct{}, 1),
		queue: workqueue.NewTypedRateLimitingQueue(workqueue.NewTypedItemExponentialFailureRateLimiter[string](200*time.Millisecond, 30*time.Second)),
	}
}

// Enqueue has the pod of that namespace/name key synced.
func (w *Worker) Enqueue(key string) { w.queue.Add(key) }
