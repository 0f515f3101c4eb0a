package sim

import (
	"net/netip"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestPodStatus(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	now := t0.Add(time.Minute)
	base := runView{hostIP: netip.MustParseAddr("10.200.0.1"), podIP: netip.MustParseAddr("10.128.0.2"), firstStart: t0, started: t0, phase: corev1.PodRunning}
	exited := &termination{code: 1, started: t0, finished: now}
	gated := func(p *corev1.Pod) {
		p.Spec.ReadinessGates = []corev1.PodReadinessGate{{ConditionType: "example.com/ready"}}
	}
	for _, tc := range []struct {
		name      string
		pod       func(*corev1.Pod)
		view      func(*runView)
		ready     corev1.ConditionStatus
		toStart   corev1.ConditionStatus
		running   bool
		exitCode  int32
		restarts  int32
		sidecarUp bool
		qos       corev1.PodQOSClass
	}{
		{name: "running", ready: "True", toStart: "True", running: true, sidecarUp: true, qos: corev1.PodQOSBestEffort},
		{name: "waiting to restart", view: func(v *runView) { v.exited = exited }, ready: "False", toStart: "True", exitCode: 1, sidecarUp: true, qos: corev1.PodQOSBestEffort},
		{name: "restarted", view: func(v *runView) { v.last, v.restarts, v.started = exited, 1, now }, ready: "True", toStart: "True", running: true, restarts: 1, sidecarUp: true, qos: corev1.PodQOSBestEffort},
		{name: "failed", view: func(v *runView) { v.exited, v.phase = exited, corev1.PodFailed }, ready: "False", toStart: "False", exitCode: 1, qos: corev1.PodQOSBestEffort},
		{name: "readiness gate not met", pod: gated, ready: "False", toStart: "True", running: true, sidecarUp: true, qos: corev1.PodQOSBestEffort},
		{name: "readiness gate met", pod: func(p *corev1.Pod) {
			gated(p)
			p.Status.Conditions = []corev1.PodCondition{{Type: "example.com/ready", Status: "True"}}
		}, ready: "True", toStart: "True", running: true, sidecarUp: true, qos: corev1.PodQOSBestEffort},
		{name: "guaranteed", pod: func(p *corev1.Pod) {
			r := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("1Gi")}
			for i := range p.Spec.Containers {
				p.Spec.Containers[i].Resources = corev1.ResourceRequirements{Requests: r, Limits: r}
			}
			for i := range p.Spec.InitContainers {
				p.Spec.InitContainers[i].Resources = corev1.ResourceRequirements{Requests: r, Limits: r}
			}
		}, ready: "True", toStart: "True", running: true, sidecarUp: true, qos: corev1.PodQOSGuaranteed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := simPod("p", "n", corev1.RestartPolicyAlways, nil)
			pod.UID = "u1"
			if tc.pod != nil {
				tc.pod(pod)
			}
			v := base
			if tc.view != nil {
				tc.view(&v)
			}
			st := podStatus(pod, v, now)
			if st.Phase != v.phase || st.PodIP != "10.128.0.2" || st.HostIP != "10.200.0.1" || st.StartTime == nil || !st.StartTime.Time.Equal(t0) {
				t.Errorf("phase %s, IPs %s %s, start %v", st.Phase, st.PodIP, st.HostIP, st.StartTime)
			}
			if st.QOSClass != tc.qos {
				t.Errorf("QoS %s, want %s", st.QOSClass, tc.qos)
			}
			if got := conditionOf(st, corev1.PodReady); got != tc.ready {
				t.Errorf("Ready %s, want %s", got, tc.ready)
			}
			if got := conditionOf(st, corev1.PodReadyToStartContainers); got != tc.toStart {
				t.Errorf("PodReadyToStartContainers %s, want %s", got, tc.toStart)
			}
			if got := conditionOf(st, corev1.PodScheduled); got != "True" {
				t.Errorf("PodScheduled %s", got)
			}
			for _, c := range st.ContainerStatuses {
				if c.RestartCount != tc.restarts || c.Ready != tc.running || (c.State.Running != nil) != tc.running {
					t.Errorf("container %+v", c)
				}
				if !tc.running && (c.State.Terminated == nil || c.State.Terminated.ExitCode != tc.exitCode || c.State.Terminated.Reason != "Error") {
					t.Errorf("terminated %+v", c.State)
				}
				if tc.restarts > 0 && (c.LastTerminationState.Terminated == nil || c.ContainerID == c.LastTerminationState.Terminated.ContainerID) {
					t.Errorf("after a restart: %+v", c)
				}
			}
			if init := st.InitContainerStatuses[0]; init.State.Terminated == nil || init.State.Terminated.Reason != "Completed" {
				t.Errorf("init container %+v", init)
			}
			if side := st.InitContainerStatuses[1]; (side.State.Running != nil) != tc.sidecarUp {
				t.Errorf("sidecar %+v", side)
			}
		})
	}
}

func TestPodStatusKeepsOthers(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	pod := simPod("p", "n", corev1.RestartPolicyAlways, nil)
	pod.Status = corev1.PodStatus{
		QOSClass:          corev1.PodQOSBurstable,
		NominatedNodeName: "keep",
		Conditions: []corev1.PodCondition{
			{Type: corev1.DisruptionTarget, Status: "True"},
			{Type: corev1.PodReady, Status: "True", LastTransitionTime: metav1.NewTime(t0)},
		},
	}
	v := runView{hostIP: netip.MustParseAddr("10.200.0.1"), podIP: netip.MustParseAddr("10.128.0.2"), firstStart: t0, started: t0, phase: corev1.PodRunning}
	st := podStatus(pod, v, t0.Add(time.Hour))
	if st.QOSClass != corev1.PodQOSBurstable || st.NominatedNodeName != "keep" || conditionOf(st, corev1.DisruptionTarget) != "True" {
		t.Errorf("lost others' fields: %+v", st)
	}
	for _, c := range st.Conditions {
		if c.Type == corev1.PodReady && !c.LastTransitionTime.Time.Equal(t0) {
			t.Errorf("Ready transition moved without a change: %v", c.LastTransitionTime)
		}
	}
	if pod.Status.ContainerStatuses != nil {
		t.Error("podStatus changed its input")
	}
}

func conditionOf(st corev1.PodStatus, typ corev1.PodConditionType) corev1.ConditionStatus {
	for _, c := range st.Conditions {
		if c.Type == typ {
			return c.Status
		}
	}
	return ""
}
