package prober

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/flotilla-io/flotilla/pkg/agent/internal/podrun"
)

// Sync starts probers for the pod's running containers and stops those of
// containers that no longer run.
func (p *Manager) Sync(ctx context.Context, pod *corev1.Pod, run *podrun.Run) {
	type want struct {
		c     *corev1.Container
		st    *runtimeapi.ContainerStatus
		probe *corev1.Probe
	}
	wanted := map[probeKey]want{}
	add := func(c *corev1.Container) {
		st := podrun.Newest(run.Containers[c.Name])
		if st == nil || st.State != runtimeapi.ContainerState_CONTAINER_RUNNING {
			return
		}
		for _, k := range []probeKind{liveness, readiness, startup} {
			if pr := k.of(c); pr != nil {
				wanted[probeKey{st.Id, k}] = want{c, st, pr}
			}
		}
	}
	for i := range pod.Spec.InitContainers {
		if c := &pod.Spec.InitContainers[i]; c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			add(c)
		}
	}
	for i := range pod.Spec.Containers {
		add(&pod.Spec.Containers[i])
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.workers == nil {
		p.workers, p.results = map[probeKey]*probeWorker{}, map[probeKey]bool{}
	}
	for k, w := range p.workers {
		if _, ok := wanted[k]; !ok && w.uid == pod.UID {
			w.cancel()
			delete(p.workers, k)
			delete(p.results, k)
		}
	}
	base := p.base
	if base == nil {
		base = ctx
	}
	if base.Err() != nil {
		return
	}
	podIP := run.PodIP
	if podIP == "" && pod.Spec.HostNetwork {
		podIP = p.nodeIP
	}
	var own *corev1.Pod // probers read the pod while syncs rewrite its status
	for k, w := range wanted {
		if _, ok := p.workers[k]; ok {
			continue
		}
		if own == nil {
			own = pod.DeepCopy()
		}
		wctx, cancel := context.WithCancel(base)
		p.workers[k] = &probeWorker{uid: pod.UID, cancel: cancel}
		if k.kind == liveness {
			p.results[k] = true // alive until proven otherwise
		}
		t := probeTarget{pod: own, c: specOf(own, w.c.Name), id: k.containerID, sandboxID: run.Sandbox.Id, podIP: podIP}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.probeLoop(wctx, base, k.kind, w.probe, t, time.Unix(0, w.st.StartedAt))
		}()
	}
}

// probeTarget is what a probe or hook acts on.
type probeTarget struct {
	pod       *corev1.Pod
	c         *corev1.Container
	id        string // container ID
	sandboxID string
	podIP     string
}

// probeLoop probes one container until ctx ends or the container is
// killed for failing. life is the agent's context, used for the kill so a
// re-sync cannot cut it short.
func (p *Manager) probeLoop(ctx, life context.Context, kind probeKind, pr *corev1.Probe, t probeTarget, startedAt time.Time) {
	key := probeKey{t.id, kind}
	if !sleepCtx(ctx, time.Until(startedAt.Add(seconds(pr.InitialDelaySeconds, 0)))) {
		return
	}
	tick := time.NewTicker(seconds(pr.PeriodSeconds, 10))
	defer tick.Stop()
	var cnt thresholdCounter
	for {
		gated := kind != startup && t.c.StartupProbe != nil && !p.result(t.id, startup)
		if kind == startup && p.result(t.id, startup) {
			return // started: upstream probes startup no more
		}
		if !gated {
			ok, msg := p.probeOnce(ctx, pr, t)
			if ctx.Err() != nil {
				return
			}
			if !ok && !p.runningByID(ctx, t.id) {
				return // exited meanwhile: the pod's sync takes over
			}
			if !ok {
				p.log.Debug("probe failed", "pod", t.pod.Namespace+"/"+t.pod.Name, "container", t.c.Name, "probe", kind, "msg", msg)
				p.events.Event(ctx, t.pod, corev1.EventTypeWarning, "Unhealthy", kind.String()+" probe failed: "+msg)
			}
			succ, fail := thresholds(pr)
			if res, decided := cnt.observe(ok, succ, fail); decided {
				if p.set(key, res) {
					p.changed(t.pod)
				}
				if !res && kind != readiness {
					p.killUnhealthy(life, kind, pr, t)
					p.changed(t.pod)
					return
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// killUnhealthy stops a container that failed its liveness or startup
// probe; the pod's sync restarts it as its restart policy says.
func (p *Manager) killUnhealthy(ctx context.Context, kind probeKind, pr *corev1.Probe, t probeTarget) {
	name := "liveness"
	if kind == startup {
		name = "startup"
	}
	p.events.Event(ctx, t.pod, corev1.EventTypeNormal, "Killing", "Container "+t.c.Name+" failed "+name+" probe, will be restarted")
	grace := podrun.Grace(t.pod)
	if pr.TerminationGracePeriodSeconds != nil {
		grace = *pr.TerminationGracePeriodSeconds
	}
	sctx, cancel := context.WithTimeout(ctx, time.Duration(grace)*time.Second+30*time.Second)
	defer cancel()
	if err := p.StopContainer(sctx, t.pod, t.c.Name, t.id, t.sandboxID, grace); err != nil && ctx.Err() == nil {
		p.log.Warn("kill unhealthy container", "pod", t.pod.Namespace+"/"+t.pod.Name, "container", t.c.Name, "err", err)
	}
}

// thresholdCounter turns single probe outcomes into a result once the
// same outcome was seen threshold times in a row.
type thresholdCounter struct {
	seen bool
	last bool
	run  int32
}

func (c *thresholdCounter) observe(ok bool, successThreshold, failureThreshold int32) (result, decided bool) {
	if c.seen && c.last == ok {
		c.run++
	} else {
		c.seen, c.last, c.run = true, ok, 1
	}
	need := failureThreshold
	if ok {
		need = successThreshold
	}
	return ok, c.run >= max(need, 1)
}

// thresholds applies the API defaults, for objects stored without them.
func thresholds(pr *corev1.Probe) (success, failure int32) {
	success, failure = pr.SuccessThreshold, pr.FailureThreshold
	if success <= 0 {
		success = 1
	}
	if failure <= 0 {
		failure = 3
	}
	return success, failure
}

func seconds(n int32, def int32) time.Duration {
	if n <= 0 {
		n = def
	}
	return time.Duration(n) * time.Second
}

// sleepCtx waits d and reports whether ctx is still alive.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func (p *Manager) runningByID(ctx context.Context, id string) bool {
	st, err := p.rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: id})
	return err == nil && st.Status.GetState() == runtimeapi.ContainerState_CONTAINER_RUNNING
}
