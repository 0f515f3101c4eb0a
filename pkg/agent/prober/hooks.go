package prober

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/flotilla-io/flotilla/pkg/agent/internal/podrun"
)

// minStopGrace is what a container still gets after its preStop hook used
// up the grace period, as upstream, so it is not killed without warning.
const minStopGrace = 2

// postStartTimeout bounds a postStart hook, which blocks the pod's sync.
const postStartTimeout = 2 * time.Minute

// PostStart runs the container's postStart hook right after it started;
// a failing hook kills the container, which then restarts per policy, and
// is the container's waiting reason in run.
func (p *Manager) PostStart(ctx context.Context, pod *corev1.Pod, c *corev1.Container, id string, run *podrun.Run) {
	if c.Lifecycle == nil || c.Lifecycle.PostStart == nil {
		return
	}
	hctx, cancel := context.WithTimeout(ctx, postStartTimeout)
	defer cancel()
	t := probeTarget{pod: pod, c: c, id: id, sandboxID: run.Sandbox.Id, podIP: run.PodIP}
	err := p.runHook(hctx, c.Lifecycle.PostStart, t, postStartTimeout)
	if err == nil || ctx.Err() != nil {
		return
	}
	msg := fmt.Sprintf("PostStartHook failed: %v", err)
	p.events.Event(ctx, pod, corev1.EventTypeWarning, "FailedPostStartHook", msg)
	run.Waiting[c.Name] = podrun.Waiting{Reason: "PostStartHookError", Message: msg}
	grace := podrun.Grace(pod)
	sctx, cancel2 := context.WithTimeout(ctx, time.Duration(grace)*time.Second+30*time.Second)
	defer cancel2()
	if err := p.StopContainer(sctx, pod, c.Name, id, run.Sandbox.Id, grace); err != nil {
		p.log.Warn("kill container after postStart failure", "pod", pod.Namespace+"/"+pod.Name, "container", c.Name, "err", err)
	}
}

// StopContainer runs the container's preStop hook when the pod is known
// and there is grace to spend, then stops it (SIGTERM, SIGKILL after the
// grace that remains).
func (p *Manager) StopContainer(ctx context.Context, pod *corev1.Pod, name, id, sandboxID string, grace int64) error {
	if c := specOf(pod, name); c != nil && grace > 0 && c.Lifecycle != nil && c.Lifecycle.PreStop != nil {
		start := time.Now()
		hctx, cancel := context.WithTimeout(ctx, time.Duration(grace)*time.Second)
		t := probeTarget{pod: pod, c: c, id: id, sandboxID: sandboxID}
		if err := p.runHook(hctx, c.Lifecycle.PreStop, t, time.Duration(grace)*time.Second); err != nil && ctx.Err() == nil {
			p.events.Event(ctx, pod, corev1.EventTypeWarning, "FailedPreStopHook", fmt.Sprintf("PreStopHook failed: %v", err))
		}
		cancel()
		grace = max(grace-int64(time.Since(start).Seconds()), minStopGrace)
	}
	if _, err := p.rt.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: id, Timeout: grace}); err != nil {
		return fmt.Errorf("stop container %s: %w", name, err)
	}
	return nil
}

// specOf finds a container of the pod by name; nil when pod is nil.
func specOf(pod *corev1.Pod, name string) *corev1.Container {
	if pod == nil {
		return nil
	}
	for _, l := range [][]corev1.Container{pod.Spec.Containers, pod.Spec.InitContainers} {
		for i := range l {
			if l[i].Name == name {
				return &l[i]
			}
		}
	}
	return nil
}

// runHook runs one lifecycle handler against the container.
func (p *Manager) runHook(ctx context.Context, h *corev1.LifecycleHandler, t probeTarget, timeout time.Duration) error {
	switch {
	case h.Exec != nil:
		resp, err := p.rt.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: t.id, Cmd: h.Exec.Command, Timeout: int64(timeout / time.Second)})
		if err != nil {
			return fmt.Errorf("exec %q: %w", strings.Join(h.Exec.Command, " "), err)
		}
		if resp.ExitCode != 0 {
			return fmt.Errorf("exec %q exited with %d: %s", strings.Join(h.Exec.Command, " "), resp.ExitCode, strings.TrimSpace(string(resp.Stdout)+string(resp.Stderr)))
		}
		return nil
	case h.HTTPGet != nil:
		host := t.podIP
		if host == "" && h.HTTPGet.Host == "" {
			ip, err := p.sandboxIP(ctx, t.sandboxID)
			if err != nil {
				return err
			}
			host = ip
		}
		// As upstream, only a failed request fails the hook, not its status.
		if _, err := httpGet(ctx, h.HTTPGet, t.c, host, timeout); err != nil {
			return fmt.Errorf("http hook: %w", err)
		}
		return nil
	case h.Sleep != nil:
		if !sleepCtx(ctx, time.Duration(h.Sleep.Seconds)*time.Second) {
			return fmt.Errorf("sleep hook: %w", ctx.Err())
		}
		return nil
	}
	return fmt.Errorf("lifecycle hook has no handler")
}

func (p *Manager) sandboxIP(ctx context.Context, sandboxID string) (string, error) {
	st, err := p.rt.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: sandboxID})
	if err != nil {
		return "", fmt.Errorf("sandbox status: %w", err)
	}
	return st.Status.GetNetwork().GetIp(), nil
}
