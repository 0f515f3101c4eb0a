package containers

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/flotilla-io/flotilla/pkg/agent/internal/podrun"
)

// Ephemeral containers (kubectl debug) join a running pod through the
// pods/NAME/ephemeralcontainers subresource; the pod worker starts each
// once. Their config is a container's, except that one with a
// targetContainerName shares that container's process namespace.

// ephemeralTarget is the targetContainerName of the named container when it
// is an ephemeral one.
func ephemeralTarget(pod *corev1.Pod, name string) string {
	for _, ec := range pod.Spec.EphemeralContainers {
		if ec.Name == name {
			return ec.TargetContainerName
		}
	}
	return ""
}

// shareTargetPID puts an ephemeral container with a target into the
// target's process namespace (CRI's TARGET mode with the target's newest
// container), as the kubelet does when the pod gives each container a
// namespace of its own; with shareProcessNamespace or hostPID it already
// sees the target's processes.
func shareTargetPID(pod *corev1.Pod, name string, run *podrun.Run, ns *runtimeapi.NamespaceOption) error {
	target := ephemeralTarget(pod, name)
	if target == "" || ns == nil || ns.Pid != runtimeapi.NamespaceMode_CONTAINER {
		return nil
	}
	latest := podrun.Newest(run.Containers[target])
	if latest == nil {
		return fmt.Errorf("unable to find target container %s", target)
	}
	ns.Pid, ns.TargetId = runtimeapi.NamespaceMode_TARGET, latest.Id
	return nil
}
