package agent

import (
	"context"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/flotilla-io/flotilla/pkg/agent/internal/podrun"
)

type probeKind int

const (
	liveness probeKind = iota
	readiness
	startup
)

func (k probeKind) String() string {
	return [...]string{"Liveness", "Readiness", "Startup"}[k]
}

func (k probeKind) of(c *corev1.Container) *corev1.Probe {
	return [...]*corev1.Probe{c.LivenessProbe, c.ReadinessProbe, c.StartupProbe}[k]
}

// probeKey names one prober: a probe kind of one container attempt, so a
// restarted container gets fresh probers and fresh results.
type probeKey struct {
	containerID string
	kind        probeKind
}

type probeWorker struct {
	uid    types.UID
	cancel context.CancelFunc
}

// prober owns the probe goroutines and their results. Its zero value is
// ready; attach gives it the agent's lifetime and the way to requeue pods.
type prober struct {
	mu      sync.Mutex
	base    context.Context
	notify  func(podKey string)
	wg      sync.WaitGroup
	workers map[probeKey]*probeWorker
	results map[probeKey]bool
}

// attach ties probers to ctx and routes result changes to notify; the
// returned func waits for all probers to end (after ctx is cancelled).
func (p *prober) attach(ctx context.Context, notify func(podKey string)) (wait func()) {
	p.mu.Lock()
	p.base, p.notify = ctx, notify
	p.mu.Unlock()
	return p.wg.Wait
}

func (p *prober) result(id string, k probeKind) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.results[probeKey{id, k}]
}

// set stores a result and reports whether it changed.
func (p *prober) set(key probeKey, ok bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, live := p.workers[key]; !live {
		return false // forgotten meanwhile
	}
	old, had := p.results[key]
	p.results[key] = ok
	return !had || old != ok
}

func (p *prober) changed(pod *corev1.Pod) {
	p.mu.Lock()
	n := p.notify
	p.mu.Unlock()
	if n != nil {
		n(pod.Namespace + "/" + pod.Name)
	}
}

// forget stops the probers of a container and drops their results.
func (p *prober) forget(containerID string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, w := range p.workers {
		if k.containerID == containerID {
			w.cancel()
			delete(p.workers, k)
			delete(p.results, k)
		}
	}
}

// apply sets ready and started from the probe results, as upstream:
// ready needs a passed readiness probe, both need a passed startup probe.
func (p *prober) apply(c *corev1.Container, cs corev1.ContainerStatus) corev1.ContainerStatus {
	if cs.State.Running == nil {
		return cs
	}
	id := trimRuntime(cs.ContainerID)
	started := c.StartupProbe == nil || p.result(id, startup)
	cs.Started = &started
	cs.Ready = started && (c.ReadinessProbe == nil || p.result(id, readiness))
	return cs
}

func trimRuntime(id string) string {
	for i := 0; i+3 <= len(id); i++ {
		if id[i:i+3] == "://" {
			return id[i+3:]
		}
	}
	return id
}

// syncProbes starts probers for the pod's running containers and stops
// those of containers that no longer run.
func (a *Agent) syncProbes(ctx context.Context, pod *corev1.Pod, run *podrun.Run) {
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
	p := &a.probes
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
		podIP = a.nodeIP
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
			a.probeLoop(wctx, base, k.kind, w.probe, t, time.Unix(0, w.st.StartedAt))
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
func (a *Agent) probeLoop(ctx, life context.Context, kind probeKind, pr *corev1.Probe, t probeTarget, startedAt time.Time) {
	key := probeKey{t.id, kind}
	if !sleepCtx(ctx, time.Until(startedAt.Add(seconds(pr.InitialDelaySeconds, 0)))) {
		return
	}
	tick := time.NewTicker(seconds(pr.PeriodSeconds, 10))
	defer tick.Stop()
	var cnt thresholdCounter
	for {
		gated := kind != startup && t.c.StartupProbe != nil && !a.probes.result(t.id, startup)
		if kind == startup && a.probes.result(t.id, startup) {
			return // started: upstream probes startup no more
		}
		if !gated {
			ok, msg := a.probeOnce(ctx, pr, t)
			if ctx.Err() != nil {
				return
			}
			if !ok && !a.runningByID(ctx, t.id) {
				return // exited meanwhile: the pod's sync takes over
			}
			if !ok {
				a.log.Debug("probe failed", "pod", t.pod.Namespace+"/"+t.pod.Name, "container", t.c.Name, "probe", kind, "msg", msg)
				a.events.Event(ctx, t.pod, corev1.EventTypeWarning, "Unhealthy", kind.String()+" probe failed: "+msg)
			}
			succ, fail := thresholds(pr)
			if res, decided := cnt.observe(ok, succ, fail); decided {
				if a.probes.set(key, res) {
					a.probes.changed(t.pod)
				}
				if !res && kind != readiness {
					a.killUnhealthy(life, kind, pr, t)
					a.probes.changed(t.pod)
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
func (a *Agent) killUnhealthy(ctx context.Context, kind probeKind, pr *corev1.Probe, t probeTarget) {
	name := "liveness"
	if kind == startup {
		name = "startup"
	}
	a.events.Event(ctx, t.pod, corev1.EventTypeNormal, "Killing", "Container "+t.c.Name+" failed "+name+" probe, will be restarted")
	grace := podrun.Grace(t.pod)
	if pr.TerminationGracePeriodSeconds != nil {
		grace = *pr.TerminationGracePeriodSeconds
	}
	sctx, cancel := context.WithTimeout(ctx, time.Duration(grace)*time.Second+30*time.Second)
	defer cancel()
	if err := a.stopContainer(sctx, t.pod, t.c.Name, t.id, t.sandboxID, grace); err != nil && ctx.Err() == nil {
		a.log.Warn("kill unhealthy container", "pod", t.pod.Namespace+"/"+t.pod.Name, "container", t.c.Name, "err", err)
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

func (a *Agent) runningByID(ctx context.Context, id string) bool {
	st, err := a.runtime.Runtime.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: id})
	return err == nil && st.Status.GetState() == runtimeapi.ContainerState_CONTAINER_RUNNING
}
