package podworker

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/flotilla-io/flotilla/pkg/agent/internal/podrun"
	"github.com/flotilla-io/flotilla/pkg/cri"
	"github.com/flotilla-io/flotilla/pkg/podutil"
)

// terminate stops a deleted pod's containers within its grace period,
// removes its sandbox, and then lets the API forget the pod.
func (w *Worker) terminate(ctx context.Context, pod *corev1.Pod, sandboxes []*runtimeapi.PodSandbox) error {
	grace := int64(0)
	if pod.DeletionGracePeriodSeconds != nil {
		grace = *pod.DeletionGracePeriodSeconds
	}
	for _, sb := range sandboxes {
		if err := w.stopContainers(ctx, sb, grace, pod); err != nil {
			return err
		}
	}
	// As upstream's kubelet, the pod reaches a terminal phase before it
	// goes: controllers holding it with a finalizer (the Job's pod failure
	// policy) decide on that phase and its exit codes.
	if err := w.writeTerminalStatus(ctx, pod, sandboxes); err != nil {
		return err
	}
	for _, sb := range sandboxes {
		if err := cri.RemoveSandbox(ctx, w.rt, sb.Id); err != nil {
			return err
		}
	}
	w.backoffs.forget(pod.UID)
	w.volumes.Forget(pod.UID)
	if err := w.volumes.Cleanup(pod.UID); err != nil {
		// As the kubelet, the pod stays until its volumes are gone.
		return fmt.Errorf("clean up pod directory: %w", err)
	}
	err := w.cs.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: new(int64),
		Preconditions:      &metav1.Preconditions{UID: &pod.UID},
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("final delete: %w", err)
	}
	return nil
}

// teardown stops a sandbox's containers (SIGTERM, SIGKILL after grace
// seconds) and removes the sandbox with its network.
func (w *Worker) teardown(ctx context.Context, sb *runtimeapi.PodSandbox, grace int64) error {
	if err := w.stopContainers(ctx, sb, grace, nil); err != nil {
		return err
	}
	return cri.RemoveSandbox(ctx, w.rt, sb.Id)
}

// writeTerminalStatus reports a deleted pod whose containers have stopped
// as Succeeded (every container exited 0) or Failed, unless it already is.
func (w *Worker) writeTerminalStatus(ctx context.Context, pod *corev1.Pod, sandboxes []*runtimeapi.PodSandbox) error {
	if podutil.IsPodTerminal(pod) {
		return nil
	}
	run := podrun.New()
	run.Terminal = true
	for _, sb := range sandboxes {
		if run.Sandbox == nil || sb.State == runtimeapi.PodSandboxState_SANDBOX_READY || sb.Metadata.GetAttempt() > run.Sandbox.Metadata.GetAttempt() {
			run.Sandbox = sb
		}
	}
	if run.Sandbox != nil {
		if err := w.observe(ctx, run); err != nil {
			return err
		}
	}
	return w.status.Write(ctx, pod, run, nil)
}

// stopContainers stops a sandbox's running containers: preStop hooks
// (when the pod is known), SIGTERM, SIGKILL after grace seconds.
func (w *Worker) stopContainers(ctx context.Context, sb *runtimeapi.PodSandbox, grace int64, pod *corev1.Pod) error {
	list, err := w.rt.ListContainers(ctx, &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{PodSandboxId: sb.Id}})
	if err != nil {
		return fmt.Errorf("list containers: %w", err)
	}
	done := make(chan error, len(list.Containers))
	for _, c := range list.Containers {
		w.probes.Forget(c.Id)
		go func() {
			if c.State != runtimeapi.ContainerState_CONTAINER_RUNNING {
				done <- nil
				return
			}
			sctx, cancel := context.WithTimeout(ctx, time.Duration(grace)*time.Second+30*time.Second)
			defer cancel()
			done <- w.probes.StopContainer(sctx, pod, c.Metadata.Name, c.Id, sb.Id, grace)
		}()
	}
	for range list.Containers {
		if err := <-done; err != nil {
			return fmt.Errorf("stop container: %w", err)
		}
	}
	return nil
}
