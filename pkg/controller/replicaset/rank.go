package replicaset

import (
	"math"
	"sort"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/flotilla-io/flotilla/pkg/podutil"
)

// deletionCostAnnotation lets users order scale-down by hand: pods with a
// lower cost go first (upstream's PodDeletionCost, on by default).
const deletionCostAnnotation = "controller.kubernetes.io/pod-deletion-cost"

// ranked orders pods for deletion, the first the first to go. colocated
// holds, per pod, how many of the related pods share its node.
type ranked struct {
	pods      []*corev1.Pod
	colocated []int
	now       time.Time
}

// podsToDelete picks the n pods of pods (the workload's active pods) to
// delete. related are the pods counted for co-location (pods of the same
// workload, and of its siblings under one owner).
func podsToDelete(pods, related []*corev1.Pod, n int, now time.Time) []*corev1.Pod {
	if n >= len(pods) {
		return pods
	}
	perNode := map[string]int{}
	for _, p := range related {
		if p.Spec.NodeName != "" && podutil.IsPodActive(p) {
			perNode[p.Spec.NodeName]++
		}
	}
	r := ranked{pods: append([]*corev1.Pod(nil), pods...), colocated: make([]int, len(pods)), now: now}
	for i, p := range r.pods {
		if p.Spec.NodeName != "" {
			r.colocated[i] = perNode[p.Spec.NodeName]
		}
	}
	sort.Sort(r)
	return r.pods[:n]
}

func (r ranked) Len() int { return len(r.pods) }
func (r ranked) Swap(i, j int) {
	r.pods[i], r.pods[j] = r.pods[j], r.pods[i]
	r.colocated[i], r.colocated[j] = r.colocated[j], r.colocated[i]
}

// Less says pod i is a better candidate for deletion than pod j.
func (r ranked) Less(i, j int) bool {
	a, b := r.pods[i], r.pods[j]
	// Unscheduled before scheduled.
	if (a.Spec.NodeName == "") != (b.Spec.NodeName == "") {
		return a.Spec.NodeName == ""
	}
	// Pending before Unknown before Running.
	if pa, pb := phaseOrder(a.Status.Phase), phaseOrder(b.Status.Phase); pa != pb {
		return pa < pb
	}
	// Not ready before ready.
	if ra, rb := podutil.IsPodReady(a), podutil.IsPodReady(b); ra != rb {
		return !ra
	}
	// Lower deletion cost first.
	if ca, cb := deletionCost(a), deletionCost(b); ca != cb {
		return ca < cb
	}
	// More pods of the family on the same node first.
	if r.colocated[i] != r.colocated[j] {
		return r.colocated[i] > r.colocated[j]
	}
	// Ready for less time first, in logarithmic buckets.
	if podutil.IsPodReady(a) && podutil.IsPodReady(b) {
		ta, tb := readySince(a), readySince(b)
		if !ta.Equal(tb) {
			if ta.IsZero() || tb.IsZero() {
				return ta.IsZero()
			}
			if d := logBucket(ta, r.now) - logBucket(tb, r.now); d != 0 {
				return d < 0
			}
		}
	}
	// More restarts first.
	if ra, rb := maxRestarts(a), maxRestarts(b); ra != rb {
		return ra > rb
	}
	// Newer first, in logarithmic buckets.
	ta, tb := a.CreationTimestamp.Time, b.CreationTimestamp.Time
	if !ta.Equal(tb) {
		if ta.IsZero() || tb.IsZero() {
			return ta.IsZero()
		}
		if d := logBucket(ta, r.now) - logBucket(tb, r.now); d != 0 {
			return d < 0
		}
	}
	// Otherwise an arbitrary but stable choice, spreading deletions
	// among pods of about the same age.
	return a.UID < b.UID
}

func phaseOrder(p corev1.PodPhase) int {
	switch p {
	case corev1.PodPending:
		return 0
	case corev1.PodUnknown:
		return 1
	case corev1.PodRunning:
		return 2
	}
	return 3
}

func deletionCost(p *corev1.Pod) int32 {
	v, ok := p.Annotations[deletionCostAnnotation]
	if !ok {
		return 0
	}
	n, err := strconv.ParseInt(v, 10, 32)
	if err != nil {
		return 0 // the API server validates it; ignore what slipped through
	}
	return int32(n)
}

func maxRestarts(p *corev1.Pod) int32 {
	var m int32
	for _, s := range p.Status.ContainerStatuses {
		m = max(m, s.RestartCount)
	}
	return m
}

// logBucket is log2 of how long ago t was, in nanoseconds; -1 for now or
// the future. Times in one bucket count as equally old.
func logBucket(t, now time.Time) int {
	d := now.Sub(t)
	if d <= 0 {
		return -1
	}
	return int(math.Log2(float64(d)))
}

// Pod state.

// readySince is when a ready pod became ready (zero if unknown).
func readySince(p *corev1.Pod) time.Time {
	if c := podutil.GetPodReadyCondition(p); c != nil && c.Status == corev1.ConditionTrue {
		return c.LastTransitionTime.Time
	}
	return time.Time{}
}

// isTerminating: being deleted but not finished yet.
func isTerminating(p *corev1.Pod) bool {
	return !podutil.IsPodTerminal(p) && p.DeletionTimestamp != nil
}
