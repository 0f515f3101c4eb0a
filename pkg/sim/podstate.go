package sim

import (
	"net/netip"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// podState is what the sim holds about one pod on its nodes. Only the
// worker syncing the pod's key touches it.
type podState struct {
	uid      types.UID
	node     *simNode
	ip       netip.Addr
	plan     exitPlan
	exits    bool      // plan applies
	written  bool      // a status of ours is on the pod
	deleteAt time.Time // when a graceful deletion ends; zero if none
	done     bool      // final status written; waiting for the pod to go

	firstStart, started time.Time
	restarts            int32
	exited, last        *termination
}

// view is the status a write reports for st in phase.
func (st *podState) view(phase corev1.PodPhase) runView {
	return runView{
		hostIP: st.node.ip, podIP: st.ip,
		firstStart: st.firstStart, started: st.started,
		restarts: st.restarts, exited: st.exited, last: st.last,
		phase: phase,
	}
}

// adoptStatus takes over what an earlier sim process wrote on a running
// pod: its start times, restarts and exits. It reports false when pod
// carries no status of a sim's.
func (st *podState) adoptStatus(pod *corev1.Pod) bool {
	if pod.Status.Phase != corev1.PodRunning || pod.Status.StartTime == nil || len(pod.Status.ContainerStatuses) == 0 {
		return false
	}
	ip, err := netip.ParseAddr(pod.Status.PodIP)
	if err != nil || !st.node.pods.reserve(st.uid, ip) {
		return false
	}
	st.ip, st.written = ip, true
	st.firstStart = pod.Status.StartTime.Time
	cs := pod.Status.ContainerStatuses[0]
	st.restarts = cs.RestartCount
	switch {
	case cs.State.Running != nil:
		st.started = cs.State.Running.StartedAt.Time
	case cs.State.Terminated != nil:
		t := cs.State.Terminated
		st.started = t.StartedAt.Time
		st.exited = &termination{code: t.ExitCode, started: t.StartedAt.Time, finished: t.FinishedAt.Time}
	default:
		st.started = st.firstStart
	}
	if t := cs.LastTerminationState.Terminated; t != nil {
		st.last = &termination{code: t.ExitCode, started: t.StartedAt.Time, finished: t.FinishedAt.Time}
	}
	return true
}

// podStates maps pod keys to their state; workers of different keys
// share it.
type podStates struct {
	mu sync.Mutex
	m  map[string]*podState
}

func (p *podStates) get(key string) *podState {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.m[key]
}

func (p *podStates) set(key string, st *podState) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil {
		p.m = map[string]*podState{}
	}
	p.m[key] = st
}

func (p *podStates) remove(key string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.m, key)
}
