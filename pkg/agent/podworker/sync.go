package podworker

import (
	"context"
	"fmt"
	"os"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/flotilla-io/flotilla/pkg/agent/internal/podrun"
	"github.com/flotilla-io/flotilla/pkg/podutil"
)

// syncPod moves a pod one step towards its spec and reports its status.
func (w *Worker) syncPod(ctx context.Context, pod *corev1.Pod, sandboxes []*runtimeapi.PodSandbox) error {
	if pod.DeletionTimestamp != nil {
		return w.terminate(ctx, pod, sandboxes)
	}
	finished := podutil.IsPodTerminal(pod)
	run := podrun.New()
	for _, sb := range sandboxes {
		if sb.State == runtimeapi.PodSandboxState_SANDBOX_READY && run.Sandbox == nil {
			run.Sandbox = sb
			continue
		}
		// Old or broken sandboxes (a reboot, a replaced sandbox) go.
		if err := w.teardown(ctx, sb, 0); err != nil {
			return err
		}
	}
	if finished {
		// A finished pod keeps its status; its sandbox (and address) go,
		// and its volumes, as upstream's kubelet unmounts a terminated
		// pod's: an evicted pod's emptyDir gives its space back.
		// The pod's directory and its logs stay until the pod is
		// deleted: `kubectl logs` of a finished pod reads them.
		if run.Sandbox != nil {
			if err := w.teardown(ctx, run.Sandbox, 0); err != nil {
				return err
			}
			w.volumes.Forget(pod.UID)
			if _, err := w.volumes.TeardownVolumes(pod.UID); err != nil {
				return fmt.Errorf("tear down the volumes of finished pod %s/%s: %w", pod.Namespace, pod.Name, err)
			}
		}
		w.evictions.done(pod.UID)
		return nil
	}
	if evicted, err := w.evict(ctx, pod, run); evicted {
		return err
	}
	if ok, err := w.admitted(ctx, pod, sandboxes); !ok {
		return err
	}
	if pastDeadline(pod, time.Now()) {
		return w.enforceDeadline(ctx, pod, run)
	}
	sbConfig, err := w.configs.Sandbox(pod, attemptAfter(sandboxes))
	if err != nil {
		return w.status.Write(ctx, pod, run, err)
	}
	if run.Sandbox == nil {
		if err := os.MkdirAll(sbConfig.LogDirectory, 0o755); err != nil {
			return err
		}
		handler, err := w.configs.RuntimeHandler(ctx, pod)
		var resp *runtimeapi.RunPodSandboxResponse
		if err == nil {
			resp, err = w.rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: sbConfig, RuntimeHandler: handler})
		}
		if err != nil {
			w.events.Event(ctx, pod, corev1.EventTypeWarning, "FailedCreatePodSandBox", fmt.Sprintf("Failed to create pod sandbox: %v", err))
			return fmt.Errorf("run sandbox: %w", err)
		}
		run.Sandbox = &runtimeapi.PodSandbox{Id: resp.PodSandboxId, Metadata: sbConfig.Metadata, State: runtimeapi.PodSandboxState_SANDBOX_READY}
	}
	if err := w.observe(ctx, run); err != nil {
		return err
	}
	if err := w.startContainers(ctx, pod, run, sbConfig); err != nil {
		return err
	}
	if err := w.observe(ctx, run); err != nil {
		return err
	}
	w.probes.Sync(ctx, pod, run)
	w.volumes.Refresh(ctx, pod)
	return w.status.Write(ctx, pod, run, nil)
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
func (w *Worker) observe(ctx context.Context, run *podrun.Run) error {
	st, err := w.rt.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: run.Sandbox.Id})
	if err != nil {
		return fmt.Errorf("sandbox status: %w", err)
	}
	if n := st.Status.GetNetwork(); n != nil {
		run.PodIP = n.Ip
	}
	list, err := w.rt.ListContainers(ctx, &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{PodSandboxId: run.Sandbox.Id}})
	if err != nil {
		return fmt.Errorf("list containers: %w", err)
	}
	run.Containers = map[string][]*runtimeapi.ContainerStatus{}
	for _, c := range list.Containers {
		cs, err := w.rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: c.Id})
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
