package podworker

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/flotilla-io/flotilla/pkg/agent/internal/podrun"
	"github.com/flotilla-io/flotilla/pkg/agent/status"
)

const deadlineMessage = "Pod was active on the node longer than the specified deadline"

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
func (w *Worker) enforceDeadline(ctx context.Context, pod *corev1.Pod, run *podrun.Run) error {
	killed, err := w.killContainers(ctx, pod, run, podrun.Grace(pod))
	if err != nil {
		return err
	}
	if run.Sandbox != nil && (killed > 0 || pod.Status.Reason != "DeadlineExceeded") {
		w.events.Event(ctx, pod, corev1.EventTypeWarning, "DeadlineExceeded", deadlineMessage)
	}
	return w.status.Write(ctx, pod, run, &status.Failure{Reason: "DeadlineExceeded", Message: deadlineMessage})
}

// killContainers stops the running containers of the pod's sandbox
// within grace seconds and reads their final states into run; it returns
// how many were running.
func (w *Worker) killContainers(ctx context.Context, pod *corev1.Pod, run *podrun.Run, grace int64) (int, error) {
	if run.Sandbox == nil {
		return 0, nil
	}
	list, err := w.rt.ListContainers(ctx, &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{PodSandboxId: run.Sandbox.Id}})
	if err != nil {
		return 0, fmt.Errorf("list containers: %w", err)
	}
	done := make(chan error, len(list.Containers))
	n := 0
	for _, c := range list.Containers {
		w.probes.Forget(c.Id)
		if c.State != runtimeapi.ContainerState_CONTAINER_RUNNING {
			continue
		}
		n++
		go func() {
			sctx, cancel := context.WithTimeout(ctx, time.Duration(grace)*time.Second+30*time.Second)
			defer cancel()
			done <- w.probes.StopContainer(sctx, pod, c.Metadata.Name, c.Id, run.Sandbox.Id, grace)
		}()
	}
	for range n {
		if err := <-done; err != nil {
			return n, err
		}
	}
	return n, w.observe(ctx, run)
}
