package agent

import (
	"context"
	"fmt"
	"os"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/flotilla-io/flotilla/pkg/agent/internal/podrun"
)

// syncPod moves a pod one step towards its spec and reports its status.
func (a *Agent) syncPod(ctx context.Context, pod *corev1.Pod, sandboxes []*runtimeapi.PodSandbox) error {
	if pod.DeletionTimestamp != nil {
		return a.terminate(ctx, pod, sandboxes)
	}
	finished := pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
	run := podrun.New()
	for _, sb := range sandboxes {
		if sb.State == runtimeapi.PodSandboxState_SANDBOX_READY && run.Sandbox == nil {
			run.Sandbox = sb
			continue
		}
		// Old or broken sandboxes (a reboot, a replaced sandbox) go.
		if err := a.teardown(ctx, sb, 0); err != nil {
			return err
		}
	}
	if finished {
		// A finished pod keeps its status; its sandbox (and address) go.
		if run.Sandbox != nil {
			return a.teardown(ctx, run.Sandbox, 0)
		}
		return nil
	}
	if ok, err := a.admitted(ctx, pod, sandboxes); !ok {
		return err
	}
	if pastDeadline(pod, time.Now()) {
		return a.enforceDeadline(ctx, pod, run)
	}
	sbConfig, err := a.sandboxConfig(pod, attemptAfter(sandboxes))
	if err != nil {
		return a.writeStatus(ctx, pod, run, err)
	}
	if run.Sandbox == nil {
		if err := os.MkdirAll(sbConfig.LogDirectory, 0o755); err != nil {
			return err
		}
		handler, err := a.runtimeHandler(ctx, pod)
		var resp *runtimeapi.RunPodSandboxResponse
		if err == nil {
			resp, err = a.runtime.Runtime.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: sbConfig, RuntimeHandler: handler})
		}
		if err != nil {
			a.events.Event(ctx, pod, corev1.EventTypeWarning, "FailedCreatePodSandBox", fmt.Sprintf("Failed to create pod sandbox: %v", err))
			return fmt.Errorf("run sandbox: %w", err)
		}
		run.Sandbox = &runtimeapi.PodSandbox{Id: resp.PodSandboxId, Metadata: sbConfig.Metadata, State: runtimeapi.PodSandboxState_SANDBOX_READY}
	}
	if err := a.observe(ctx, run); err != nil {
		return err
	}
	if err := a.startContainers(ctx, pod, run, sbConfig); err != nil {
		return err
	}
	if err := a.observe(ctx, run); err != nil {
		return err
	}
	a.syncProbes(ctx, pod, run)
	a.refreshVolumes(ctx, pod)
	return a.writeStatus(ctx, pod, run, nil)
}

func attemptAfter(sandboxes []*runtimeapi.PodSandbox) uint32 {
	var n uint32
	for _, sb := range sandboxes {
		if sb.Metadata != nil && sb.Metadata.Attempt >= n {
			n = sb.Metadata.Attempt + 1
		}
	}
	return n
}

// observe reads the sandbox's address and its containers' states.
func (a *Agent) observe(ctx context.Context, run *podrun.Run) error {
	st, err := a.runtime.Runtime.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: run.Sandbox.Id})
	if err != nil {
		return fmt.Errorf("sandbox status: %w", err)
	}
	if n := st.Status.GetNetwork(); n != nil {
		run.PodIP = n.Ip
	}
	list, err := a.runtime.Runtime.ListContainers(ctx, &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{PodSandboxId: run.Sandbox.Id}})
	if err != nil {
		return fmt.Errorf("list containers: %w", err)
	}
	run.Containers = map[string][]*runtimeapi.ContainerStatus{}
	for _, c := range list.Containers {
		cs, err := a.runtime.Runtime.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: c.Id})
		if err != nil {
			continue // removed meanwhile
		}
		name := c.Metadata.Name
		run.Containers[name] = append(run.Containers[name], cs.Status)
	}
	for _, l := range run.Containers {
		sort.Slice(l, func(i, j int) bool { return l[i].Metadata.Attempt > l[j].Metadata.Attempt })
	}
	return nil
}

// startContainers runs the ephemeral containers that never ran, then init
// containers one by one, then the app containers, restarting exited ones
// as the restart policy says.
func (a *Agent) startContainers(ctx context.Context, pod *corev1.Pod, run *podrun.Run, sbConfig *runtimeapi.PodSandboxConfig) error {
	if err := a.startEphemeralContainers(ctx, pod, run, sbConfig); err != nil {
		return err
	}
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		sidecar := c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
		latest := podrun.Newest(run.Containers[c.Name])
		switch {
		case latest == nil:
			return a.startContainer(ctx, pod, c, run, sbConfig, 0)
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
			if a.mayRestart(pod, c.Name, latest, run) {
				return a.startContainer(ctx, pod, c, run, sbConfig, latest.Metadata.Attempt+1)
			}
			return nil
		}
	}
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		latest := podrun.Newest(run.Containers[c.Name])
		if latest == nil {
			if err := a.startContainer(ctx, pod, c, run, sbConfig, 0); err != nil {
				return err
			}
			continue
		}
		if latest.State != runtimeapi.ContainerState_CONTAINER_EXITED {
			continue
		}
		if !shouldRestart(pod.Spec.RestartPolicy, latest.ExitCode) || !a.mayRestart(pod, c.Name, latest, run) {
			continue
		}
		if err := a.startContainer(ctx, pod, c, run, sbConfig, latest.Metadata.Attempt+1); err != nil {
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
func (a *Agent) startContainer(ctx context.Context, pod *corev1.Pod, c *corev1.Container, run *podrun.Run, sbConfig *runtimeapi.PodSandboxConfig, attempt uint32) error {
	imageRef, err := a.images.Ensure(ctx, pod, c)
	if err != nil {
		reason := "ErrImagePull"
		if attempt > 0 || a.pullFailedBefore(pod, c.Name) {
			reason = "ImagePullBackOff"
		}
		run.Waiting[c.Name] = podrun.Waiting{Reason: reason, Message: err.Error()}
		a.events.Event(ctx, pod, corev1.EventTypeWarning, "Failed", fmt.Sprintf("Failed to pull image %q: %v", c.Image, err))
		return nil
	}
	cfg, err := a.containerConfig(ctx, pod, c, run, attempt, imageRef)
	if err != nil {
		run.Waiting[c.Name] = podrun.Waiting{Reason: "CreateContainerConfigError", Message: err.Error()}
		a.events.Event(ctx, pod, corev1.EventTypeWarning, "Failed", "Error: "+err.Error())
		return nil
	}
	created, err := a.runtime.Runtime.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: run.Sandbox.Id, Config: cfg, SandboxConfig: sbConfig})
	if err != nil {
		run.Waiting[c.Name] = podrun.Waiting{Reason: "CreateContainerError", Message: err.Error()}
		a.events.Event(ctx, pod, corev1.EventTypeWarning, "Failed", "Error: "+err.Error())
		return nil
	}
	a.events.Event(ctx, pod, corev1.EventTypeNormal, "Created", "Created container "+c.Name)
	if _, err := a.runtime.Runtime.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: created.ContainerId}); err != nil {
		run.Waiting[c.Name] = podrun.Waiting{Reason: "RunContainerError", Message: err.Error()}
		a.events.Event(ctx, pod, corev1.EventTypeWarning, "Failed", "Error: "+err.Error())
		return nil
	}
	a.events.Event(ctx, pod, corev1.EventTypeNormal, "Started", "Started container "+c.Name)
	a.postStart(ctx, pod, c, created.ContainerId, run)
	// Keep the newest dead attempt (for lastState and logs), drop older.
	for _, old := range run.Containers[c.Name] {
		if old.Metadata.Attempt+1 < attempt {
			_, _ = a.runtime.Runtime.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: old.Id})
		}
	}
	return nil
}

// terminate stops a deleted pod's containers within its grace period,
// removes its sandbox, and then lets the API forget the pod.
func (a *Agent) terminate(ctx context.Context, pod *corev1.Pod, sandboxes []*runtimeapi.PodSandbox) error {
	grace := int64(0)
	if pod.DeletionGracePeriodSeconds != nil {
		grace = *pod.DeletionGracePeriodSeconds
	}
	for _, sb := range sandboxes {
		if err := a.stopContainers(ctx, sb, grace, pod); err != nil {
			return err
		}
	}
	// As upstream's kubelet, the pod reaches a terminal phase before it
	// goes: controllers holding it with a finalizer (the Job's pod failure
	// policy) decide on that phase and its exit codes.
	if err := a.writeTerminalStatus(ctx, pod, sandboxes); err != nil {
		return err
	}
	for _, sb := range sandboxes {
		if err := a.removeSandbox(ctx, sb); err != nil {
			return err
		}
	}
	a.forgetBackoffs(pod)
	a.volumes.forget(string(pod.UID))
	a.cleanupPodDir(pod)
	err := a.cs.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
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
func (a *Agent) teardown(ctx context.Context, sb *runtimeapi.PodSandbox, grace int64) error {
	return a.teardownPod(ctx, sb, grace, nil)
}

// teardownPod is teardown with the pod, when known, whose containers'
// preStop hooks run first.
func (a *Agent) teardownPod(ctx context.Context, sb *runtimeapi.PodSandbox, grace int64, pod *corev1.Pod) error {
	if err := a.stopContainers(ctx, sb, grace, pod); err != nil {
		return err
	}
	return a.removeSandbox(ctx, sb)
}

// writeTerminalStatus reports a deleted pod whose containers have stopped
// as Succeeded (every container exited 0) or Failed, unless it already is.
func (a *Agent) writeTerminalStatus(ctx context.Context, pod *corev1.Pod, sandboxes []*runtimeapi.PodSandbox) error {
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
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
		if err := a.observe(ctx, run); err != nil {
			return err
		}
	}
	return a.writeStatus(ctx, pod, run, nil)
}

// stopContainers stops a sandbox's running containers: preStop hooks
// (when the pod is known), SIGTERM, SIGKILL after grace seconds.
func (a *Agent) stopContainers(ctx context.Context, sb *runtimeapi.PodSandbox, grace int64, pod *corev1.Pod) error {
	list, err := a.runtime.Runtime.ListContainers(ctx, &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{PodSandboxId: sb.Id}})
	if err != nil {
		return fmt.Errorf("list containers: %w", err)
	}
	done := make(chan error, len(list.Containers))
	for _, c := range list.Containers {
		a.probes.forget(c.Id)
		go func() {
			if c.State != runtimeapi.ContainerState_CONTAINER_RUNNING {
				done <- nil
				return
			}
			sctx, cancel := context.WithTimeout(ctx, time.Duration(grace)*time.Second+30*time.Second)
			defer cancel()
			done <- a.stopContainer(sctx, pod, c.Metadata.Name, c.Id, sb.Id, grace)
		}()
	}
	for range list.Containers {
		if err := <-done; err != nil {
			return fmt.Errorf("stop container: %w", err)
		}
	}
	return nil
}

// removeSandbox stops a sandbox (releasing its network) and removes it.
func (a *Agent) removeSandbox(ctx context.Context, sb *runtimeapi.PodSandbox) error {
	if _, err := a.runtime.Runtime.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: sb.Id}); err != nil {
		return fmt.Errorf("stop sandbox: %w", err)
	}
	if _, err := a.runtime.Runtime.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: sb.Id}); err != nil {
		return fmt.Errorf("remove sandbox: %w", err)
	}
	return nil
}
