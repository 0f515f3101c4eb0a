package podrun

import (
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Labels the agent puts on sandboxes and containers, the kubelet's names,
// so crictl and other tools recognise them.
const (
	LabelPodName       = "io.kubernetes.pod.name"
	LabelPodNamespace  = "io.kubernetes.pod.namespace"
	LabelPodUID        = "io.kubernetes.pod.uid"
	LabelContainerName = "io.kubernetes.container.name"
)

// Run is what the runtime holds for one pod.
type Run struct {
	Sandbox    *runtimeapi.PodSandbox
	PodIP      string
	Containers map[string][]*runtimeapi.ContainerStatus // by name, newest attempt first
	Waiting    map[string]Waiting                       // containers that could not start
	// Terminal: the pod was deleted and its containers have stopped; its
	// phase must be Succeeded or Failed.
	Terminal bool
}

// New is an empty Run: no sandbox, no containers.
func New() *Run {
	return &Run{Containers: map[string][]*runtimeapi.ContainerStatus{}, Waiting: map[string]Waiting{}}
}

// Waiting is why a container is not running: the reason and message its
// status shows.
type Waiting struct{ Reason, Message string }

// Newest is the newest attempt of a container's list, nil if it has none.
func Newest(l []*runtimeapi.ContainerStatus) *runtimeapi.ContainerStatus {
	if len(l) == 0 {
		return nil
	}
	return l[0]
}

// PodDir is the directory of a pod's files (volumes, /etc/hosts,
// termination messages) under the agent's data directory.
func PodDir(dataDir string, uid types.UID) string {
	return filepath.Join(dataDir, "pods", string(uid))
}

// LogDir is the directory of a pod's container logs, one subdirectory per
// container with a file per attempt.
func LogDir(dataDir string, pod *corev1.Pod) string {
	return filepath.Join(dataDir, "logs", pod.Namespace+"_"+pod.Name+"_"+string(pod.UID))
}

// FindStatus is the status of the named container in l, nil if none.
func FindStatus(l []corev1.ContainerStatus, name string) *corev1.ContainerStatus {
	for i := range l {
		if l[i].Name == name {
			return &l[i]
		}
	}
	return nil
}

// RanBefore reports whether a status shows a container that was created
// once: an ephemeral container is not created again, even when the
// runtime lost it (a replaced sandbox).
func RanBefore(cs *corev1.ContainerStatus) bool {
	return cs != nil && (cs.ContainerID != "" || cs.State.Running != nil || cs.State.Terminated != nil)
}

// Grace is the pod's termination grace period in seconds (30 when unset).
func Grace(pod *corev1.Pod) int64 {
	if g := pod.Spec.TerminationGracePeriodSeconds; g != nil {
		return *g
	}
	return 30
}

// Image is a container's image as the runtime holds it: the reference
// the container is created from, and the user its config names (UID when
// numeric, Username when a name; neither when it names none, which runs
// as root) — what runAsNonRoot is checked against.
type Image struct {
	Ref      string
	UID      *int64
	Username string
}
