package sim

import (
	"crypto/sha256"
	"fmt"
	"net/netip"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/flotilla-io/flotilla/pkg/defaults"
	"github.com/flotilla-io/flotilla/pkg/podutil"
)

// termination is one exit of a pod's containers.
type termination struct {
	code              int32
	started, finished time.Time
}

func (t termination) state(containerID string) *corev1.ContainerStateTerminated {
	return &corev1.ContainerStateTerminated{
		ExitCode: t.code, Reason: terminationReason(t.code), ContainerID: containerID,
		StartedAt: metav1.NewTime(t.started), FinishedAt: metav1.NewTime(t.finished),
	}
}

// runView is what a status write reports about a pod.
type runView struct {
	hostIP, podIP netip.Addr
	firstStart    time.Time    // when the sim first started the pod
	started       time.Time    // when the current containers started
	restarts      int32        // restarts so far
	exited        *termination // set while the containers are terminated
	last          *termination // the previous exit, after a restart
	phase         corev1.PodPhase
}

// podStatus renders the status of pod as a kubelet would report it for
// v, keeping what others own (conditions of other types, nominations).
func podStatus(pod *corev1.Pod, v runView, now time.Time) corev1.PodStatus {
	st := *pod.Status.DeepCopy()
	terminal := podutil.IsPodPhaseTerminal(v.phase)
	st.Phase, st.Reason, st.Message = v.phase, "", ""
	st.HostIP, st.HostIPs = v.hostIP.String(), []corev1.HostIP{{IP: v.hostIP.String()}}
	st.PodIP, st.PodIPs = v.podIP.String(), []corev1.PodIP{{IP: v.podIP.String()}}
	if st.StartTime == nil {
		st.StartTime = ptr.To(metav1.NewTime(v.firstStart))
	}
	if st.QOSClass == "" {
		st.QOSClass = defaults.PodQOSClass(pod)
	}

	st.InitContainerStatuses = st.InitContainerStatuses[:0]
	for _, c := range pod.Spec.InitContainers {
		cs := containerBase(pod, c, 0)
		sidecar := c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
		switch {
		case sidecar && !terminal:
			cs.State.Running = &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(v.firstStart)}
			cs.Ready, cs.Started = true, ptr.To(true)
		case sidecar:
			cs.State.Terminated = termination{started: v.firstStart, finished: now}.state(cs.ContainerID)
		default:
			cs.State.Terminated = termination{started: v.firstStart, finished: v.firstStart}.state(cs.ContainerID)
			cs.Ready = true
		}
		st.InitContainerStatuses = append(st.InitContainerStatuses, cs)
	}

	st.ContainerStatuses = st.ContainerStatuses[:0]
	for _, c := range pod.Spec.Containers {
		cs := containerBase(pod, c, v.restarts)
		if v.exited != nil {
			cs.State.Terminated = v.exited.state(cs.ContainerID)
			cs.Started = ptr.To(false)
		} else {
			cs.State.Running = &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(v.started)}
			cs.Ready, cs.Started = true, ptr.To(true)
		}
		if v.last != nil {
			cs.LastTerminationState.Terminated = v.last.state(containerID(pod, c.Name, v.restarts-1))
		}
		st.ContainerStatuses = append(st.ContainerStatuses, cs)
	}

	containersReady := v.exited == nil && !terminal
	notReady := "ContainersNotReady"
	if terminal {
		notReady = "PodCompleted"
	}
	t := metav1.NewTime(now)
	setCondition(&st, corev1.PodReadyToStartContainers, !terminal, "", t)
	setCondition(&st, corev1.PodInitialized, true, "", t)
	setCondition(&st, corev1.ContainersReady, containersReady, notReady, t)
	setCondition(&st, corev1.PodReady, containersReady && gatesPass(pod, &st), notReady, t)
	setCondition(&st, corev1.PodScheduled, true, "", t)
	return st
}

// containerBase is a status for container c with its identity filled in.
func containerBase(pod *corev1.Pod, c corev1.Container, restarts int32) corev1.ContainerStatus {
	return corev1.ContainerStatus{
		Name:         c.Name,
		Image:        c.Image,
		ImageID:      fmt.Sprintf("sim://sha256:%x", sha256.Sum256([]byte(c.Image))),
		ContainerID:  containerID(pod, c.Name, restarts),
		RestartCount: restarts,
	}
}

// containerID names a container instance; each restart makes a new one.
func containerID(pod *corev1.Pod, name string, restarts int32) string {
	if restarts == 0 {
		return fmt.Sprintf("sim://%s-%s", pod.UID, name)
	}
	return fmt.Sprintf("sim://%s-%s-%d", pod.UID, name, restarts)
}

// gatesPass reports whether every readiness gate's condition is True.
func gatesPass(pod *corev1.Pod, st *corev1.PodStatus) bool {
	for _, g := range pod.Spec.ReadinessGates {
		ok := false
		for _, c := range st.Conditions {
			if c.Type == g.ConditionType && c.Status == corev1.ConditionTrue {
				ok = true
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// setCondition sets a condition, moving its transition time only when
// its status changes.
func setCondition(st *corev1.PodStatus, typ corev1.PodConditionType, ok bool, reasonIfNot string, now metav1.Time) {
	c := corev1.PodCondition{Type: typ, Status: corev1.ConditionTrue, LastTransitionTime: now}
	if !ok {
		c.Status, c.Reason = corev1.ConditionFalse, reasonIfNot
	}
	for i := range st.Conditions {
		if st.Conditions[i].Type != typ {
			continue
		}
		if st.Conditions[i].Status == c.Status {
			c.LastTransitionTime = st.Conditions[i].LastTransitionTime
		}
		c.LastProbeTime = st.Conditions[i].LastProbeTime
		st.Conditions[i] = c
		return
	}
	st.Conditions = append(st.Conditions, c)
}
