package scheduler

import (
	"math"
	"sort"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const msgTerminatingVictims = "not eligible due to a terminating pod on the nominated node."

// preemption is a node where deleting victims lets the pod in.
type preemption struct {
	node    string
	victims []*v1.Pod
}

// eligibleToPreempt says whether the pod may preempt at all, and if not
// why: its policy forbids it, or it already waits for lower-priority
// victims leaving its nominated node.
func eligibleToPreempt(pod *v1.Pod, prio int32, policy v1.PreemptionPolicy, snap *Snapshot, priority func(*v1.Pod) int32) (bool, string) {
	if policy == v1.PreemptNever {
		return false, msgPreemptNever
	}
	if ni := snap.Node(pod.Status.NominatedNodeName); ni != nil {
		for _, p := range ni.Pods {
			if p.DeletionTimestamp != nil && priority(p) < prio {
				return false, msgTerminatingVictims
			}
		}
	}
	return true, ""
}

// findPreemption looks, on every node where preemption could help, for
// the smallest set of lower-priority pods whose removal lets the pod fit,
// and picks the node whose victims matter least. Without a candidate it
// returns the per-node reasons.
func findPreemption(pod *v1.Pod, prio int32, snap *Snapshot, failed map[string]*Status, priority func(*v1.Pod) int32) (*preemption, map[string]*Status) {
	statuses := map[string]*Status{}
	var candidates []preemption
	for _, ni := range snap.Nodes {
		if st := failed[ni.Node.Name]; st != nil && st.Code == UnresolvableUnschedulable {
			statuses[ni.Node.Name] = unresolvable(msgPreemptNotHelpful)
			continue
		}
		victims, st := victimsOn(pod, prio, snap, ni, priority)
		if !st.OK() {
			statuses[ni.Node.Name] = st
			continue
		}
		candidates = append(candidates, preemption{node: ni.Node.Name, victims: victims})
	}
	if len(candidates) == 0 {
		return nil, statuses
	}
	best := 0
	for i := 1; i < len(candidates); i++ {
		if lessDisruptive(candidates[i].victims, candidates[best].victims, priority) {
			best = i
		}
	}
	return &candidates[best], nil
}

// victimsOn removes every lower-priority pod from the node, checks the
// pod fits, then gives back as many as still leave room, most important
// first.
func victimsOn(pod *v1.Pod, prio int32, snap *Snapshot, ni *NodeInfo, priority func(*v1.Pod) int32) ([]*v1.Pod, *Status) {
	var lower []*v1.Pod
	for _, p := range ni.Pods {
		if priority(p) < prio {
			lower = append(lower, p)
		}
	}
	if len(lower) == 0 {
		return nil, unresolvable(msgNoVictims)
	}
	isLower := map[*v1.Pod]bool{}
	for _, p := range lower {
		isLower[p] = true
	}
	reduced := ni.without(func(p *v1.Pod) bool { return isLower[p] })
	if st := newPodCycle(pod, snap.replace(reduced)).filter(reduced); !st.OK() {
		return nil, st
	}
	sort.SliceStable(lower, func(i, j int) bool { return moreImportant(lower[i], lower[j], priority) })
	var victims []*v1.Pod
	for _, p := range lower {
		back := reduced.with(p)
		if newPodCycle(pod, snap.replace(back)).filter(back).OK() {
			reduced = back
			continue
		}
		victims = append(victims, p)
	}
	return victims, nil
}

// moreImportant: higher priority, then running longer.
func moreImportant(a, b *v1.Pod, priority func(*v1.Pod) int32) bool {
	pa, pb := priority(a), priority(b)
	if pa != pb {
		return pa > pb
	}
	ta, tb := startTime(a), startTime(b)
	return ta.Before(tb)
}

func startTime(p *v1.Pod) *metav1.Time {
	if p.Status.StartTime != nil {
		return p.Status.StartTime
	}
	return &p.CreationTimestamp
}

// lessDisruptive orders victim sets: lower highest priority, then lower
// sum of priorities, then fewer pods.
func lessDisruptive(a, b []*v1.Pod, priority func(*v1.Pod) int32) bool {
	ha, sa := summary(a, priority)
	hb, sb := summary(b, priority)
	if ha != hb {
		return ha < hb
	}
	if sa != sb {
		return sa < sb
	}
	return len(a) < len(b)
}

func summary(victims []*v1.Pod, priority func(*v1.Pod) int32) (highest int64, sum int64) {
	highest = math.MinInt64
	for _, p := range victims {
		pr := int64(priority(p))
		highest = max(highest, pr)
		sum += pr + math.MaxInt32 + 1 // keeps negative priorities from rewarding more victims
	}
	return highest, sum
}
