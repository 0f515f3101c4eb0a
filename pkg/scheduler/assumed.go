package scheduler

import (
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// assumeTTL bounds how long a bound pod is counted on its node without
// the informer confirming it.
const assumeTTL = 30 * time.Second

// assumedPods remembers the pods bound by this scheduler until the
// informer reports them assigned, so the next cycles count them on their
// node and back-to-back pods do not overcommit it.
type assumedPods struct {
	mu   sync.Mutex
	pods map[types.UID]assumedPod
	now  func() time.Time
}

type assumedPod struct {
	pod *v1.Pod
	at  time.Time
}

func newAssumedPods(now func() time.Time) *assumedPods {
	return &assumedPods{pods: map[types.UID]assumedPod{}, now: now}
}

// Assume records pod (with spec.nodeName set) as placed.
func (a *assumedPods) Assume(pod *v1.Pod) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.pods[pod.UID] = assumedPod{pod: pod, at: a.now()}
}

// Forget drops a pod: its binding failed, or it is gone.
func (a *assumedPods) Forget(uid types.UID) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.pods, uid)
}

// Has reports whether the pod is bound but unconfirmed.
func (a *assumedPods) Has(uid types.UID) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	_, ok := a.pods[uid]
	return ok
}

// Merge returns the assigned pods among listed plus the assumed pods the
// listing does not show assigned yet, dropping entries that are
// confirmed, gone or expired.
func (a *assumedPods) Merge(listed []*v1.Pod) []*v1.Pod {
	a.mu.Lock()
	defer a.mu.Unlock()
	seen := make(map[types.UID]*v1.Pod, len(listed))
	out := make([]*v1.Pod, 0, len(listed)+len(a.pods))
	for _, p := range listed {
		seen[p.UID] = p
		if p.Spec.NodeName != "" {
			out = append(out, p)
		}
	}
	now := a.now()
	for uid, ap := range a.pods {
		cur, ok := seen[uid]
		if !ok || cur.Spec.NodeName != "" || cur.DeletionTimestamp != nil || now.Sub(ap.at) > assumeTTL {
			delete(a.pods, uid)
			continue
		}
		out = append(out, ap.pod)
	}
	return out
}
