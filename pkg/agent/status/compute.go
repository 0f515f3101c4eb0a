package status

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flotilla-io/flotilla/pkg/agent/internal/podrun"
	"github.com/flotilla-io/flotilla/pkg/podutil"
)

// compute is the pod's status as run shows it.
func (m *Manager) compute(pod *corev1.Pod, run *podrun.Run) corev1.PodStatus {
	old := pod.Status
	st := corev1.PodStatus{
		QOSClass:   old.QOSClass,
		HostIP:     m.nodeIP,
		HostIPs:    []corev1.HostIP{{IP: m.nodeIP}},
		StartTime:  old.StartTime,
		Conditions: nil,
	}
	if st.StartTime == nil {
		now := metav1.Now()
		st.StartTime = &now
	}
	if run.PodIP != "" {
		st.PodIP, st.PodIPs = run.PodIP, []corev1.PodIP{{IP: run.PodIP}}
	} else if pod.Spec.HostNetwork {
		st.PodIP, st.PodIPs = m.nodeIP, []corev1.PodIP{{IP: m.nodeIP}}
	}
	for _, c := range pod.Spec.InitContainers {
		cs := m.probes.Apply(&c, m.containerStatus(c, run, podrun.FindStatus(old.InitContainerStatuses, c.Name)))
		// An init container that finished its work is ready, as upstream
		// shows it; a sidecar is ready as its probes say.
		if sidecar := c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways; !sidecar {
			cs.Ready = cs.State.Terminated != nil && cs.State.Terminated.ExitCode == 0
		}
		st.InitContainerStatuses = append(st.InitContainerStatuses, cs)
	}
	for _, c := range pod.Spec.Containers {
		st.ContainerStatuses = append(st.ContainerStatuses, m.probes.Apply(&c, m.containerStatus(c, run, podrun.FindStatus(old.ContainerStatuses, c.Name))))
	}
	st.EphemeralContainerStatuses = m.ephemeralStatuses(pod, run)
	initialized := true
	for i, c := range pod.Spec.InitContainers {
		cs := st.InitContainerStatuses[i]
		sidecar := c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
		done := (cs.State.Terminated != nil && cs.State.Terminated.ExitCode == 0 && !sidecar) || (sidecar && cs.State.Running != nil)
		if !done {
			initialized = false
		}
	}
	// Containers that never ran wait for PodInitializing while the init
	// containers work, as upstream shows them.
	for _, l := range [][]corev1.ContainerStatus{st.InitContainerStatuses, st.ContainerStatuses} {
		for i := range l {
			if w := l[i].State.Waiting; w != nil && w.Reason == "ContainerCreating" && l[i].ContainerID == "" && !initialized {
				w.Reason = "PodInitializing"
			}
		}
	}
	st.Phase = podPhase(pod, &st, initialized)
	if run.Terminal {
		st.Phase = terminalPhase(&st, old.ContainerStatuses)
	}
	ready := initialized && st.Phase == corev1.PodRunning
	for _, cs := range st.ContainerStatuses {
		ready = ready && cs.Ready
	}
	cond := func(t corev1.PodConditionType, ok bool, reason, message string) corev1.PodCondition {
		c := corev1.PodCondition{Type: t, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()}
		if !ok {
			c.Status, c.Reason, c.Message = corev1.ConditionFalse, reason, message
		}
		return c
	}
	// The messages name the containers holding a condition back, as
	// upstream's do.
	var incomplete, unready []string
	for i, c := range pod.Spec.InitContainers {
		cs := st.InitContainerStatuses[i]
		sidecar := c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
		if done := (cs.State.Terminated != nil && cs.State.Terminated.ExitCode == 0 && !sidecar) || (sidecar && cs.State.Running != nil); !done {
			incomplete = append(incomplete, c.Name)
		}
	}
	for _, cs := range st.ContainerStatuses {
		if !cs.Ready {
			unready = append(unready, cs.Name)
		}
	}
	initMsg := ""
	if len(incomplete) > 0 {
		initMsg = fmt.Sprintf("containers with incomplete status: %v", incomplete)
	}
	readyMsg := ""
	if len(unready) > 0 {
		readyMsg = fmt.Sprintf("containers with unready status: %v", unready)
	}
	containersReady := ready
	podReady := ready
	for _, g := range pod.Spec.ReadinessGates {
		gate := false
		for _, c := range old.Conditions {
			if c.Type == g.ConditionType && c.Status == corev1.ConditionTrue {
				gate = true
			}
		}
		podReady = podReady && gate
	}
	reason := "ContainersNotReady"
	if podutil.IsPodPhaseTerminal(st.Phase) {
		reason, readyMsg = "PodCompleted", ""
	}
	st.Conditions = []corev1.PodCondition{
		cond(corev1.PodReadyToStartContainers, run.Sandbox != nil, "", ""),
		cond(corev1.PodInitialized, initialized, "ContainersNotInitialized", initMsg),
		cond(corev1.PodReady, podReady, reason, readyMsg),
		cond(corev1.ContainersReady, containersReady, reason, readyMsg),
		cond(corev1.PodScheduled, true, "", ""),
	}
	if !podReady && ready {
		st.Conditions[2].Reason = "ReadinessGatesNotReady"
	}
	// Conditions set by others (readiness gates, disruption) are kept.
	for _, c := range old.Conditions {
		if findCondition(st.Conditions, c.Type) == nil {
			st.Conditions = append(st.Conditions, c)
		}
	}
	return st
}

// terminalPhase is the phase of a deleted pod whose containers stopped:
// Succeeded when every container exited 0, else Failed. A container the
// runtime no longer knows but that had run ends as upstream's
// ContainerStatusUnknown.
func terminalPhase(st *corev1.PodStatus, old []corev1.ContainerStatus) corev1.PodPhase {
	phase := corev1.PodSucceeded
	for i := range st.ContainerStatuses {
		cs := &st.ContainerStatuses[i]
		if cs.State.Terminated == nil {
			if prev := podrun.FindStatus(old, cs.Name); prev != nil && prev.State.Terminated != nil {
				cs.State = prev.State
				cs.ContainerID = prev.ContainerID
			} else if prev != nil && prev.State.Running != nil {
				cs.State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
					ExitCode: 137,
					Reason:   "ContainerStatusUnknown",
					Message:  "The container could not be located when the pod was terminated",
				}}
				cs.ContainerID = prev.ContainerID
			}
			cs.Ready = false
		}
		if t := cs.State.Terminated; t == nil || t.ExitCode != 0 {
			phase = corev1.PodFailed
		}
	}
	return phase
}

// podPhase follows upstream's rules for what containers' states mean.
func podPhase(pod *corev1.Pod, st *corev1.PodStatus, initialized bool) corev1.PodPhase {
	for i, cs := range st.InitContainerStatuses {
		c := pod.Spec.InitContainers[i]
		sidecar := c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
		if !sidecar && pod.Spec.RestartPolicy == corev1.RestartPolicyNever && cs.State.Terminated != nil && cs.State.Terminated.ExitCode != 0 {
			return corev1.PodFailed
		}
	}
	if !initialized {
		return corev1.PodPending
	}
	var running, waiting, succeeded, failed int
	for _, cs := range st.ContainerStatuses {
		switch {
		case cs.State.Running != nil:
			running++
		case cs.State.Terminated != nil && cs.State.Terminated.ExitCode == 0:
			succeeded++
		case cs.State.Terminated != nil:
			failed++
		case cs.LastTerminationState.Terminated != nil:
			// Waiting to restart after an exit.
			running++
		default:
			waiting++
		}
	}
	switch {
	case waiting > 0:
		return corev1.PodPending
	case running > 0:
		return corev1.PodRunning
	case succeeded+failed == 0:
		return corev1.PodPending
	case pod.Spec.RestartPolicy == corev1.RestartPolicyAlways:
		return corev1.PodRunning // all exited; they start again
	case failed == 0:
		return corev1.PodSucceeded
	case pod.Spec.RestartPolicy == corev1.RestartPolicyNever:
		return corev1.PodFailed
	}
	return corev1.PodRunning // OnFailure: the failed ones start again
}

func findCondition(l []corev1.PodCondition, t corev1.PodConditionType) *corev1.PodCondition {
	for i := range l {
		if l[i].Type == t {
			return &l[i]
		}
	}
	return nil
}

// keepTransitions carries over lastTransitionTime of conditions whose
// status did not change, so a status write happens only on real change.
func keepTransitions(st, old *corev1.PodStatus) {
	for i := range st.Conditions {
		c := &st.Conditions[i]
		if o := findCondition(old.Conditions, c.Type); o != nil && o.Status == c.Status {
			c.LastTransitionTime = o.LastTransitionTime
			c.LastProbeTime = o.LastProbeTime
		}
	}
	// Second-precision times round-trip through the API; compare so.
	if old.StartTime != nil && st.StartTime != nil && old.StartTime.Unix() == st.StartTime.Unix() {
		st.StartTime = old.StartTime
	}
}
