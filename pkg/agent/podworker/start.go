package podworker

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/flotilla-io/flotilla/pkg/agent/images"
	"github.com/flotilla-io/flotilla/pkg/agent/internal/podrun"
)

// startContainers runs the ephemeral containers that never ran, then init
// containers one by one, then the app containers, restarting exited ones
// as the restart policy says.
func (w *Worker) startContainers(ctx context.Context, pod *corev1.Pod, run *podrun.Run, sbConfig *runtimeapi.PodSandboxConfig) error {
	if err := w.startEphemeralContainers(ctx, pod, run, sbConfig); err != nil {
		return err
	}
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		sidecar := c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
		latest := podrun.Newest(run.Containers[c.Name])
		switch {
		case latest == nil:
			return w.startContainer(ctx, pod, c, run, sbConfig, 0)
		case latest.State == runtimeapi.ContainerState_CONTAINER_RUNNING || latest.State == runtimeapi.ContainerState_CONTAINER_CREATED:
			if sidecar {
				continue
			}
			return nil // wait for it to finish
		case latest.State == runtimeapi.ContainerState_CONTAINER_EXITED && latest.ExitCode == 0 && !sidecar:
			continue
		default: // exited with an error, or a sidecar that stopped
			if pod.Spec.RestartPolicy == corev1.RestartPolicyNever && !sidecar {
				return nil // the pod fails
			}
			if w.backoffs.mayRestart(pod, c.Name, latest, run) {
				return w.startContainer(ctx, pod, c, run, sbConfig, latest.Metadata.Attempt+1)
			}
			return nil
		}
	}
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		latest := podrun.Newest(run.Containers[c.Name])
		if latest == nil {
			if err := w.startContainer(ctx, pod, c, run, sbConfig, 0); err != nil {
				return err
			}
			continue
		}
		if latest.State != runtimeapi.ContainerState_CONTAINER_EXITED {
			continue
		}
		if !shouldRestart(pod.Spec.RestartPolicy, latest.ExitCode) || !w.backoffs.mayRestart(pod, c.Name, latest, run) {
			continue
		}
		if err := w.startContainer(ctx, pod, c, run, sbConfig, latest.Metadata.Attempt+1); err != nil {
			return err
		}
	}
	return nil
}

// startEphemeralContainers starts the ephemeral containers (kubectl
// debug) that never ran. As the kubelet does, each starts once, before
// the init containers (so a pod stuck initializing can be debugged), and
// is never restarted: not after it exits, not when the runtime lost it.
func (w *Worker) startEphemeralContainers(ctx context.Context, pod *corev1.Pod, run *podrun.Run, sbConfig *runtimeapi.PodSandboxConfig) error {
	for i := range pod.Spec.EphemeralContainers {
		c := (*corev1.Container)(&pod.Spec.EphemeralContainers[i].EphemeralContainerCommon)
		if len(run.Containers[c.Name]) > 0 || podrun.RanBefore(podrun.FindStatus(pod.Status.EphemeralContainerStatuses, c.Name)) {
			continue
		}
		if err := w.startContainer(ctx, pod, c, run, sbConfig, 0); err != nil {
			return err
		}
	}
	return nil
}

func shouldRestart(policy corev1.RestartPolicy, exitCode int32) bool {
	switch policy {
	case corev1.RestartPolicyNever:
		return false
	case corev1.RestartPolicyOnFailure:
		return exitCode != 0
	}
	return true
}

// startContainer makes sure the image is there, then creates and starts
// one attempt of c. Failures that the user must fix become the
// container's waiting reason rather than errors.
func (w *Worker) startContainer(ctx context.Context, pod *corev1.Pod, c *corev1.Container, run *podrun.Run, sbConfig *runtimeapi.PodSandboxConfig, attempt uint32) error {
	image, err := w.images.Ensure(ctx, pod, c)
	if err != nil {
		// The puller recorded what happened; the kubelet adds the
		// container's error as an Event of its own. Not while backing
		// off: this worker retries pending pods on every relist (the
		// kubelet every 10 s), and a Warning per second would spend the
		// pod's Warning budget in the recorder's spam filter (25, then
		// one per 5 min) before the next real pull failure.
		reason := images.ReasonOf(err)
		run.Waiting[c.Name] = podrun.Waiting{Reason: reason, Message: err.Error()}
		if reason != images.ReasonImagePullBackOff {
			w.events.Event(ctx, pod, corev1.EventTypeWarning, "Failed", "Error: "+reason)
		}
		return nil
	}
	cfg, err := w.configs.Container(ctx, pod, c, run, attempt, image)
	if err != nil {
		run.Waiting[c.Name] = podrun.Waiting{Reason: "CreateContainerConfigError", Message: err.Error()}
		w.events.Event(ctx, pod, corev1.EventTypeWarning, "Failed", "Error: "+err.Error())
		return nil
	}
	created, err := w.rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: run.Sandbox.Id, Config: cfg, SandboxConfig: sbConfig})
	if err != nil {
		run.Waiting[c.Name] = podrun.Waiting{Reason: "CreateContainerError", Message: err.Error()}
		w.events.Event(ctx, pod, corev1.EventTypeWarning, "Failed", "Error: "+err.Error())
		return nil
	}
	w.events.Event(ctx, pod, corev1.EventTypeNormal, "Created", "Created container "+c.Name)
	if _, err := w.rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: created.ContainerId}); err != nil {
		run.Waiting[c.Name] = podrun.Waiting{Reason: "RunContainerError", Message: err.Error()}
		w.events.Event(ctx, pod, corev1.EventTypeWarning, "Failed", "Error: "+err.Error())
		return nil
	}
	w.events.Event(ctx, pod, corev1.EventTypeNormal, "Started", "Started container "+c.Name)
	w.probes.PostStart(ctx, pod, c, created.ContainerId, run)
	// Keep the newest dead attempt (for lastState and logs), drop older.
	for _, old := range run.Containers[c.Name] {
		if old.Metadata.Attempt+1 < attempt {
			_, _ = w.rt.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: old.Id})
		}
	}
	return nil
}
