package agent

import (
	"context"
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/flotilla-io/flotilla/pkg/agent/internal/podrun"
)

// Ephemeral containers (kubectl debug) join a running pod through the
// pods/NAME/ephemeralcontainers subresource. As the kubelet does, the agent
// starts each one once in the pod's sandbox, before the init containers
// (so a pod stuck initializing can be debugged), and never restarts it;
// one with a targetContainerName shares that container's process
// namespace. Their statuses go to status.ephemeralContainerStatuses and
// have no say in the pod's phase or readiness.

// startEphemeralContainers starts the ephemeral containers that never ran.
func (a *Agent) startEphemeralContainers(ctx context.Context, pod *corev1.Pod, run *podrun.Run, sbConfig *runtimeapi.PodSandboxConfig) error {
	for i := range pod.Spec.EphemeralContainers {
		c := (*corev1.Container)(&pod.Spec.EphemeralContainers[i].EphemeralContainerCommon)
		if len(run.Containers[c.Name]) > 0 || podrun.RanBefore(podrun.FindStatus(pod.Status.EphemeralContainerStatuses, c.Name)) {
			continue
		}
		if err := a.startContainer(ctx, pod, c, run, sbConfig, 0); err != nil {
			return err
		}
	}
	return nil
}

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

// ephemeralStatuses reports the pod's ephemeral containers as the kubelet
// does: never ready, no started flag, no restarts, sorted by name. One
// the runtime no longer knows keeps its last termination, or is reported
// terminated with ContainerStatusUnknown if it was last seen running.
func ephemeralStatuses(pod *corev1.Pod, run *podrun.Run) []corev1.ContainerStatus {
	var out []corev1.ContainerStatus
	for i := range pod.Spec.EphemeralContainers {
		c := corev1.Container(pod.Spec.EphemeralContainers[i].EphemeralContainerCommon)
		old := podrun.FindStatus(pod.Status.EphemeralContainerStatuses, c.Name)
		var cs corev1.ContainerStatus
		switch {
		case len(run.Containers[c.Name]) > 0 || !podrun.RanBefore(old):
			cs = containerStatus(c, run, old)
		case old.State.Terminated != nil:
			cs = *old.DeepCopy()
		default:
			cs = *old.DeepCopy()
			cs.State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
				ExitCode: 137, Reason: "ContainerStatusUnknown", Message: "The container could not be located when the pod was terminated",
			}}
		}
		cs.Ready, cs.Started, cs.RestartCount = false, nil, 0
		out = append(out, cs)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
