package printers

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func running(ready bool, restarts int32) corev1.ContainerStatus {
	return corev1.ContainerStatus{Ready: ready, RestartCount: restarts,
		State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}
}

func waiting(reason string, restarts int32) corev1.ContainerStatus {
	return corev1.ContainerStatus{RestartCount: restarts,
		State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}}}
}

func terminated(reason string, exit, signal int32) corev1.ContainerStatus {
	return corev1.ContainerStatus{
		State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: reason, ExitCode: exit, Signal: signal}}}
}

// lastDied marks a status as having last terminated ago before testNow.
func lastDied(cs corev1.ContainerStatus, ago time.Duration) corev1.ContainerStatus {
	cs.LastTerminationState.Terminated = &corev1.ContainerStateTerminated{FinishedAt: metav1.NewTime(testNow.Add(-ago))}
	return cs
}

func containers(names ...string) []corev1.Container {
	out := make([]corev1.Container, len(names))
	for i, n := range names {
		out[i] = corev1.Container{Name: n, Image: "img"}
	}
	return out
}

func sidecar(name string) corev1.Container {
	always := corev1.ContainerRestartPolicyAlways
	return corev1.Container{Name: name, Image: "img", RestartPolicy: &always}
}

func named(name string, cs corev1.ContainerStatus) corev1.ContainerStatus {
	cs.Name = name
	return cs
}

func condition(t corev1.PodConditionType, s corev1.ConditionStatus) corev1.PodCondition {
	return corev1.PodCondition{Type: t, Status: s}
}

func TestPodReadyStatusRestarts(t *testing.T) {
	deleted := metav1.NewTime(testNow)
	tests := []struct {
		name                    string
		pod                     corev1.Pod
		ready, status, restarts string
	}{
		{
			name:  "pending, no statuses yet",
			pod:   corev1.Pod{Spec: corev1.PodSpec{Containers: containers("a")}, Status: corev1.PodStatus{Phase: corev1.PodPending}},
			ready: "0/1", status: "Pending", restarts: "0",
		},
		{
			name: "running and ready",
			pod: corev1.Pod{Spec: corev1.PodSpec{Containers: containers("a", "b")}, Status: corev1.PodStatus{Phase: corev1.PodRunning,
				ContainerStatuses: []corev1.ContainerStatus{running(true, 0), running(false, 0)}}},
			ready: "1/2", status: "Running", restarts: "0",
		},
		{
			name: "image pull backoff",
			pod: corev1.Pod{Spec: corev1.PodSpec{Containers: containers("a")}, Status: corev1.PodStatus{Phase: corev1.PodPending,
				ContainerStatuses: []corev1.ContainerStatus{waiting("ImagePullBackOff", 0)}}},
			ready: "0/1", status: "ImagePullBackOff", restarts: "0",
		},
		{
			name: "crash loop with last restart",
			pod: corev1.Pod{Spec: corev1.PodSpec{Containers: containers("a")}, Status: corev1.PodStatus{Phase: corev1.PodRunning,
				ContainerStatuses: []corev1.ContainerStatus{lastDied(waiting("CrashLoopBackOff", 5), 5*time.Minute)}}},
			ready: "0/1", status: "CrashLoopBackOff", restarts: "5 (5m ago)",
		},
		{
			name: "restarts without a termination time have no suffix",
			pod: corev1.Pod{Spec: corev1.PodSpec{Containers: containers("a")}, Status: corev1.PodStatus{Phase: corev1.PodRunning,
				ContainerStatuses: []corev1.ContainerStatus{running(true, 3)}}},
			ready: "1/1", status: "Running", restarts: "3",
		},
		{
			name: "the latest termination across containers wins",
			pod: corev1.Pod{Spec: corev1.PodSpec{Containers: containers("a", "b")}, Status: corev1.PodStatus{Phase: corev1.PodRunning,
				ContainerStatuses: []corev1.ContainerStatus{lastDied(running(true, 1), 2*time.Hour), lastDied(running(true, 2), 90*time.Second)}}},
			ready: "2/2", status: "Running", restarts: "3 (90s ago)",
		},
		{
			name: "completed",
			pod: corev1.Pod{Spec: corev1.PodSpec{Containers: containers("a")}, Status: corev1.PodStatus{Phase: corev1.PodSucceeded,
				ContainerStatuses: []corev1.ContainerStatus{terminated("Completed", 0, 0)}}},
			ready: "0/1", status: "Completed", restarts: "0",
		},
		{
			name: "error",
			pod: corev1.Pod{Spec: corev1.PodSpec{Containers: containers("a")}, Status: corev1.PodStatus{Phase: corev1.PodFailed,
				ContainerStatuses: []corev1.ContainerStatus{terminated("Error", 1, 0)}}},
			ready: "0/1", status: "Error", restarts: "0",
		},
		{
			name: "terminated by signal without reason",
			pod: corev1.Pod{Spec: corev1.PodSpec{Containers: containers("a")}, Status: corev1.PodStatus{Phase: corev1.PodFailed,
				ContainerStatuses: []corev1.ContainerStatus{terminated("", 137, 9)}}},
			ready: "0/1", status: "Signal:9", restarts: "0",
		},
		{
			name: "terminated by exit code without reason",
			pod: corev1.Pod{Spec: corev1.PodSpec{Containers: containers("a")}, Status: corev1.PodStatus{Phase: corev1.PodFailed,
				ContainerStatuses: []corev1.ContainerStatus{terminated("", 2, 0)}}},
			ready: "0/1", status: "ExitCode:2", restarts: "0",
		},
		{
			name: "first container's state is reported (statuses walked backwards)",
			pod: corev1.Pod{Spec: corev1.PodSpec{Containers: containers("a", "b")}, Status: corev1.PodStatus{Phase: corev1.PodRunning,
				ContainerStatuses: []corev1.ContainerStatus{waiting("ErrImagePull", 0), waiting("ContainerCreating", 0)}}},
			ready: "0/2", status: "ErrImagePull", restarts: "0",
		},
		{
			name: "completed container next to a running one, pod ready",
			pod: corev1.Pod{Spec: corev1.PodSpec{Containers: containers("a", "b")}, Status: corev1.PodStatus{Phase: corev1.PodRunning,
				Conditions:        []corev1.PodCondition{condition(corev1.PodReady, corev1.ConditionTrue)},
				ContainerStatuses: []corev1.ContainerStatus{terminated("Completed", 0, 0), running(true, 0)}}},
			ready: "1/2", status: "Running", restarts: "0",
		},
		{
			name: "completed container next to a running one, pod not ready",
			pod: corev1.Pod{Spec: corev1.PodSpec{Containers: containers("a", "b")}, Status: corev1.PodStatus{Phase: corev1.PodRunning,
				ContainerStatuses: []corev1.ContainerStatus{terminated("Completed", 0, 0), running(true, 0)}}},
			ready: "1/2", status: "NotReady", restarts: "0",
		},
		{
			name:  "status.reason overrides the phase",
			pod:   corev1.Pod{Spec: corev1.PodSpec{Containers: containers("a")}, Status: corev1.PodStatus{Phase: corev1.PodFailed, Reason: "Evicted"}},
			ready: "0/1", status: "Evicted", restarts: "0",
		},
		{
			name: "scheduling gated",
			pod: corev1.Pod{Spec: corev1.PodSpec{Containers: containers("a")}, Status: corev1.PodStatus{Phase: corev1.PodPending,
				Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonSchedulingGated}}}},
			ready: "0/1", status: "SchedulingGated", restarts: "0",
		},
		{
			name: "terminating",
			pod: corev1.Pod{ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: &deleted}, Spec: corev1.PodSpec{Containers: containers("a")},
				Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{running(true, 0)}}},
			ready: "1/1", status: "Terminating", restarts: "0",
		},
		{
			name: "deleted after completion keeps its final status",
			pod: corev1.Pod{ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: &deleted}, Spec: corev1.PodSpec{Containers: containers("a")},
				Status: corev1.PodStatus{Phase: corev1.PodSucceeded, ContainerStatuses: []corev1.ContainerStatus{terminated("Completed", 0, 0)}}},
			ready: "0/1", status: "Completed", restarts: "0",
		},
		{
			name: "node lost",
			pod: corev1.Pod{ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: &deleted}, Spec: corev1.PodSpec{Containers: containers("a")},
				Status: corev1.PodStatus{Phase: corev1.PodRunning, Reason: "NodeLost", ContainerStatuses: []corev1.ContainerStatus{running(true, 0)}}},
			ready: "1/1", status: "Unknown", restarts: "0",
		},
		{
			name: "init container running",
			pod: corev1.Pod{Spec: corev1.PodSpec{InitContainers: containers("i1", "i2"), Containers: containers("a")}, Status: corev1.PodStatus{Phase: corev1.PodPending,
				InitContainerStatuses: []corev1.ContainerStatus{terminated("Completed", 0, 0), running(false, 0)},
				ContainerStatuses:     []corev1.ContainerStatus{waiting("PodInitializing", 0)}}},
			ready: "0/1", status: "Init:1/2", restarts: "0",
		},
		{
			name: "init container waiting with PodInitializing counts as progress",
			pod: corev1.Pod{Spec: corev1.PodSpec{InitContainers: containers("i1"), Containers: containers("a")}, Status: corev1.PodStatus{Phase: corev1.PodPending,
				InitContainerStatuses: []corev1.ContainerStatus{waiting("PodInitializing", 0)}}},
			ready: "0/1", status: "Init:0/1", restarts: "0",
		},
		{
			name: "init container crash looping, its restarts count",
			pod: corev1.Pod{Spec: corev1.PodSpec{InitContainers: containers("i1"), Containers: containers("a")}, Status: corev1.PodStatus{Phase: corev1.PodPending,
				InitContainerStatuses: []corev1.ContainerStatus{lastDied(waiting("CrashLoopBackOff", 4), time.Minute)},
				ContainerStatuses:     []corev1.ContainerStatus{lastDied(waiting("PodInitializing", 7), time.Second)}}},
			ready: "0/1", status: "Init:CrashLoopBackOff", restarts: "4 (60s ago)",
		},
		{
			name: "init container failed with a reason",
			pod: corev1.Pod{Spec: corev1.PodSpec{InitContainers: containers("i1"), Containers: containers("a")}, Status: corev1.PodStatus{Phase: corev1.PodFailed,
				InitContainerStatuses: []corev1.ContainerStatus{terminated("Error", 1, 0)}}},
			ready: "0/1", status: "Init:Error", restarts: "0",
		},
		{
			name: "init container killed by signal",
			pod: corev1.Pod{Spec: corev1.PodSpec{InitContainers: containers("i1"), Containers: containers("a")}, Status: corev1.PodStatus{Phase: corev1.PodPending,
				InitContainerStatuses: []corev1.ContainerStatus{terminated("", 137, 9)}}},
			ready: "0/1", status: "Init:Signal:9", restarts: "0",
		},
		{
			name: "init container exit code",
			pod: corev1.Pod{Spec: corev1.PodSpec{InitContainers: containers("i1"), Containers: containers("a")}, Status: corev1.PodStatus{Phase: corev1.PodPending,
				InitContainerStatuses: []corev1.ContainerStatus{terminated("", 3, 0)}}},
			ready: "0/1", status: "Init:ExitCode:3", restarts: "0",
		},
		{
			name: "sidecar started and ready counts in READY",
			pod: corev1.Pod{Spec: corev1.PodSpec{InitContainers: []corev1.Container{sidecar("s")}, Containers: containers("a")}, Status: corev1.PodStatus{Phase: corev1.PodRunning,
				Conditions: []corev1.PodCondition{condition(corev1.PodInitialized, corev1.ConditionTrue)},
				InitContainerStatuses: []corev1.ContainerStatus{named("s", func() corev1.ContainerStatus {
					cs := lastDied(running(true, 2), 10*time.Minute)
					started := true
					cs.Started = &started
					return cs
				}())},
				ContainerStatuses: []corev1.ContainerStatus{lastDied(running(true, 1), 3*time.Minute)}}},
			ready: "2/2", status: "Running", restarts: "3 (3m ago)",
		},
		{
			name: "sidecar not started yet blocks initialization",
			pod: corev1.Pod{Spec: corev1.PodSpec{InitContainers: []corev1.Container{sidecar("s")}, Containers: containers("a")}, Status: corev1.PodStatus{Phase: corev1.PodPending,
				InitContainerStatuses: []corev1.ContainerStatus{named("s", running(false, 0))},
				ContainerStatuses:     []corev1.ContainerStatus{waiting("PodInitializing", 0)}}},
			ready: "0/2", status: "Init:0/1", restarts: "0",
		},
		{
			name: "regular init container restarts are forgotten once initialized",
			pod: corev1.Pod{Spec: corev1.PodSpec{InitContainers: containers("i1"), Containers: containers("a")}, Status: corev1.PodStatus{Phase: corev1.PodRunning,
				InitContainerStatuses: []corev1.ContainerStatus{func() corev1.ContainerStatus {
					cs := terminated("Completed", 0, 0)
					cs.RestartCount = 3
					return cs
				}()},
				ContainerStatuses: []corev1.ContainerStatus{running(true, 0)}}},
			ready: "1/1", status: "Running", restarts: "0",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.pod.Name = "p"
			tt.pod.CreationTimestamp = fiveMinutes
			row := podRow(&tt.pod, testNow)
			if got := row.Cells[1]; got != tt.ready {
				t.Errorf("READY = %v, want %s", got, tt.ready)
			}
			if got := row.Cells[2]; got != tt.status {
				t.Errorf("STATUS = %v, want %s", got, tt.status)
			}
			if got := row.Cells[3]; got != tt.restarts {
				t.Errorf("RESTARTS = %v, want %s", got, tt.restarts)
			}
			if got := row.Cells[4]; got != "5m" {
				t.Errorf("AGE = %v, want 5m", got)
			}
		})
	}
}

func TestPodWideCells(t *testing.T) {
	tests := []struct {
		name string
		pod  corev1.Pod
		want []any // IP, NODE, NOMINATED NODE, READINESS GATES
	}{
		{"unscheduled", corev1.Pod{}, []any{"<none>", "<none>", "<none>", "<none>"}},
		{"scheduled with gates", corev1.Pod{
			Spec: corev1.PodSpec{NodeName: "n1", ReadinessGates: []corev1.PodReadinessGate{{ConditionType: "g1"}, {ConditionType: "g2"}}},
			Status: corev1.PodStatus{PodIPs: []corev1.PodIP{{IP: "10.0.0.5"}, {IP: "fd00::5"}}, NominatedNodeName: "n2",
				Conditions: []corev1.PodCondition{condition("g1", corev1.ConditionTrue), condition("g2", corev1.ConditionFalse)}},
		}, []any{"10.0.0.5", "n1", "n2", "1/2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			row := podRow(&tt.pod, testNow)
			for i, w := range tt.want {
				if got := row.Cells[5+i]; got != w {
					t.Errorf("cell %s = %v, want %v", podColumns[5+i].Name, got, w)
				}
			}
		})
	}
}

func TestPodRowConditions(t *testing.T) {
	for phase, want := range map[corev1.PodPhase]string{corev1.PodSucceeded: "Succeeded", corev1.PodFailed: "Failed", corev1.PodRunning: ""} {
		row := podRow(&corev1.Pod{Status: corev1.PodStatus{Phase: phase}}, testNow)
		got := ""
		if len(row.Conditions) == 1 && row.Conditions[0].Type == metav1.RowCompleted {
			got = row.Conditions[0].Reason
		}
		if got != want {
			t.Errorf("%s: completed condition reason %q, want %q", phase, got, want)
		}
	}
}
