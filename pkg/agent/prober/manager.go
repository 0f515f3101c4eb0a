package prober

import (
	"context"
	"log/slog"
	"sync"

	"google.golang.org/grpc"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Runtime is the CRI calls probes and hooks make.
type Runtime interface {
	ExecSync(ctx context.Context, in *runtimeapi.ExecSyncRequest, opts ...grpc.CallOption) (*runtimeapi.ExecSyncResponse, error)
	ContainerStatus(ctx context.Context, in *runtimeapi.ContainerStatusRequest, opts ...grpc.CallOption) (*runtimeapi.ContainerStatusResponse, error)
	StopContainer(ctx context.Context, in *runtimeapi.StopContainerRequest, opts ...grpc.CallOption) (*runtimeapi.StopContainerResponse, error)
	PodSandboxStatus(ctx context.Context, in *runtimeapi.PodSandboxStatusRequest, opts ...grpc.CallOption) (*runtimeapi.PodSandboxStatusResponse, error)
}

// Recorder records an event about a pod.
type Recorder interface {
	Event(ctx context.Context, pod *corev1.Pod, eventType, reason, message string)
}

// Manager owns the probe goroutines and their results. Start gives it
// the agent's lifetime and the way to requeue pods.
type Manager struct {
	rt     Runtime
	events Recorder
	log    *slog.Logger
	nodeIP string // a host-network pod's address

	mu      sync.Mutex
	base    context.Context
	notify  func(podKey string)
	wg      sync.WaitGroup
	workers map[probeKey]*probeWorker
	results map[probeKey]bool
}

// New is a Manager probing through rt on the node with address nodeIP.
func New(rt Runtime, events Recorder, log *slog.Logger, nodeIP string) *Manager {
	return &Manager{rt: rt, events: events, log: log, nodeIP: nodeIP}
}

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

// Start ties probers to ctx and routes result changes to notify; the
// returned func waits for all probers to end (after ctx is cancelled).
func (p *Manager) Start(ctx context.Context, notify func(podKey string)) (wait func()) {
	p.mu.Lock()
	p.base, p.notify = ctx, notify
	p.mu.Unlock()
	return p.wg.Wait
}

func (p *Manager) result(id string, k probeKind) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.results[probeKey{id, k}]
}

// set stores a result and reports whether it changed.
func (p *Manager) set(key probeKey, ok bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, live := p.workers[key]; !live {
		return false // forgotten meanwhile
	}
	old, had := p.results[key]
	p.results[key] = ok
	return !had || old != ok
}

func (p *Manager) changed(pod *corev1.Pod) {
	p.mu.Lock()
	n := p.notify
	p.mu.Unlock()
	if n != nil {
		n(pod.Namespace + "/" + pod.Name)
	}
}

// Forget stops the probers of a container and drops their results.
func (p *Manager) Forget(containerID string) {
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

// Apply sets ready and started from the probe results, as upstream:
// ready needs a passed readiness probe, both need a passed startup probe.
func (p *Manager) Apply(c *corev1.Container, cs corev1.ContainerStatus) corev1.ContainerStatus {
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

// RetainPods stops the probers of every pod live says is gone, drops
// their results and returns how many pods it dropped.
func (p *Manager) RetainPods(live func(types.UID) bool) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	gone := map[types.UID]bool{}
	for k, w := range p.workers {
		if gone[w.uid] || !live(w.uid) {
			gone[w.uid] = true
			w.cancel()
			delete(p.workers, k)
			delete(p.results, k)
		}
	}
	return len(gone)
}

// PodCount is how many pods have probers running.
func (p *Manager) PodCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	pods := map[types.UID]bool{}
	for _, w := range p.workers {
		pods[w.uid] = true
	}
	return len(pods)
}
