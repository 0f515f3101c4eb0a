package agent

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/flotilla-io/flotilla/pkg/agent/internal/podrun"
)

const deadlineMessage = "Pod was active on the node longer than the specified deadline"

// podFailure is a sync outcome that fails the pod for good; writeStatus
// turns it into phase Failed with its reason.
type podFailure struct{ reason, message string }

func (f *podFailure) Error() string { return f.reason + ": " + f.message }

// pastDeadline reports whether the pod ran longer than its
// activeDeadlineSeconds, counted from status.startTime as upstream.
func pastDeadline(pod *corev1.Pod, now time.Time) bool {
	d := pod.Spec.ActiveDeadlineSeconds
	if d == nil || pod.Status.StartTime == nil {
		return false
	}
	return now.Sub(pod.Status.StartTime.Time) >= time.Duration(*d)*time.Second
}

// enforceDeadline kills the pod's containers and marks it Failed; the
// next sync of the finished pod removes its sandbox.
func (a *Agent) enforceDeadline(ctx context.Context, pod *corev1.Pod, run *podrun.Run) error {
	if run.Sandbox != nil {
		list, err := a.runtime.Runtime.ListContainers(ctx, &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{PodSandboxId: run.Sandbox.Id}})
		if err != nil {
			return fmt.Errorf("list containers: %w", err)
		}
		grace := podrun.Grace(pod)
		done := make(chan error, len(list.Containers))
		n := 0
		for _, c := range list.Containers {
			a.probes.forget(c.Id)
			if c.State != runtimeapi.ContainerState_CONTAINER_RUNNING {
				continue
			}
			n++
			go func() {
				sctx, cancel := context.WithTimeout(ctx, time.Duration(grace)*time.Second+30*time.Second)
				defer cancel()
				done <- a.stopContainer(sctx, pod, c.Metadata.Name, c.Id, run.Sandbox.Id, grace)
			}()
		}
		for range n {
			if err := <-done; err != nil {
				return err
			}
		}
		if n > 0 || pod.Status.Reason != "DeadlineExceeded" {
			a.events.Event(ctx, pod, corev1.EventTypeWarning, "DeadlineExceeded", deadlineMessage)
		}
		if err := a.observe(ctx, run); err != nil {
			return err
		}
	}
	return a.writeStatus(ctx, pod, run, &podFailure{"DeadlineExceeded", deadlineMessage})
}
