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
	ip, ok := adoptableIP(pod)
	if !ok || !st.node.pods.reserve(st.uid, ip) {
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

// adoptableIP is the address of a running pod whose status an earlier
// sim process wrote, which a restarted sim takes over.
func adoptableIP(pod *corev1.Pod) (netip.Addr, bool) {
	if pod.Status.Phase != corev1.PodRunning || pod.Status.StartTime == nil || len(pod.Status.ContainerStatuses) == 0 {
		return netip.Addr{}, false
	}
	ip, err := netip.ParseAddr(pod.Status.PodIP)
	return ip, err == nil
}

// reserveAdoptedAddresses reserves, in their nodes' pools, the addresses
// of the running pods an earlier sim process left (objs: the synced pod
// store). It runs before any worker: otherwise a new pod synced before
// such a pod could be given its address (make test at 10f4f68 saw it).
func (s *Sim) reserveAdoptedAddresses(objs []any) {
	for _, obj := range objs {
		pod, ok := obj.(*corev1.Pod)
		if !ok {
			continue
		}
		n := s.byName[pod.Spec.NodeName]
		if n == nil {
			continue
		}
		if ip, ok := adoptableIP(pod); ok && !n.pods.reserve(pod.UID, ip) {
			s.log.Warn("address of a running pod not in its node's range or taken; the pod gets a new one", "pod", pod.Namespace+"/"+pod.Name, "ip", ip)
		}
	}
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
