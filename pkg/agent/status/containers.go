package status

import (
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/flotilla-io/flotilla/pkg/agent/internal/podrun"
)

// containerStatus is a container's status from its attempts in run; old
// is its status before, which keeps a waiting reason the runtime cannot
// tell.
func (m *Manager) containerStatus(c corev1.Container, run *podrun.Run, old *corev1.ContainerStatus) corev1.ContainerStatus {
	cs := corev1.ContainerStatus{Name: c.Name, Image: c.Image}
	attempts := run.Containers[c.Name]
	if latest := podrun.Newest(attempts); latest != nil {
		cs.ContainerID = "containerd://" + latest.Id
		cs.ImageID = latest.ImageRef
		cs.RestartCount = int32(latest.Metadata.Attempt)
		cs.State = m.containerState(&c, latest)
		started := cs.State.Running != nil
		cs.Started = &started
		cs.Ready = started
		if len(attempts) > 1 {
			cs.LastTerminationState = m.containerState(&c, attempts[1])
		}
		if w, ok := run.Waiting[c.Name]; ok && cs.State.Terminated != nil {
			// Exited and waiting for its back-off: upstream shows the exit
			// as lastState and the container as waiting.
			cs.LastTerminationState = cs.State
			cs.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: w.Reason, Message: w.Message}}
		}
	} else {
		reason := "ContainerCreating"
		msg := ""
		if w, ok := run.Waiting[c.Name]; ok {
			reason, msg = w.Reason, w.Message
		} else if old != nil && old.State.Waiting != nil && old.State.Waiting.Reason != "" {
			reason, msg = old.State.Waiting.Reason, old.State.Waiting.Message
		}
		cs.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: msg}}
		started := false
		cs.Started = &started
	}
	return cs
}

// containerState is criState with what an exited container left as its
// termination message appended to the runtime's message.
func (m *Manager) containerState(c *corev1.Container, s *runtimeapi.ContainerStatus) corev1.ContainerState {
	st := criState(s)
	if t := st.Terminated; t != nil {
		if msg := m.messages.of(c, s); msg != "" {
			if t.Message != "" {
				t.Message += ": "
			}
			t.Message += msg
		}
	}
	return st
}

func criState(s *runtimeapi.ContainerStatus) corev1.ContainerState {
	switch s.State {
	case runtimeapi.ContainerState_CONTAINER_RUNNING:
		return corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(time.Unix(0, s.StartedAt))}}
	case runtimeapi.ContainerState_CONTAINER_EXITED:
		reason := s.Reason
		if reason == "" {
			reason = "Completed"
			if s.ExitCode != 0 {
				reason = "Error"
			}
		}
		return corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
			ExitCode: s.ExitCode, Reason: reason, Message: s.Message,
			StartedAt: metav1.NewTime(time.Unix(0, s.StartedAt)), FinishedAt: metav1.NewTime(time.Unix(0, s.FinishedAt)),
			ContainerID: "containerd://" + s.Id,
		}}
	}
	return corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}
}

// ephemeralStatuses reports the pod's ephemeral containers as the kubelet
// does: never ready, no started flag, no restarts, sorted by name. One
// the runtime no longer knows keeps its last termination, or is reported
// terminated with ContainerStatusUnknown if it was last seen running.
func (m *Manager) ephemeralStatuses(pod *corev1.Pod, run *podrun.Run) []corev1.ContainerStatus {
	var out []corev1.ContainerStatus
	for i := range pod.Spec.EphemeralContainers {
		c := corev1.Container(pod.Spec.EphemeralContainers[i].EphemeralContainerCommon)
		old := podrun.FindStatus(pod.Status.EphemeralContainerStatuses, c.Name)
		var cs corev1.ContainerStatus
		switch {
		case len(run.Containers[c.Name]) > 0 || !podrun.RanBefore(old):
			cs = m.containerStatus(c, run, old)
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
