package scheduler

import (
	"math/rand/v2"

	v1 "k8s.io/api/core/v1"
)

// podCycle holds what the filters need to judge one pod against one
// snapshot, computed once for all nodes.
type podCycle struct {
	pod      *v1.Pod
	snap     *Snapshot
	req      Resources
	interPod *interPodState
	spread   *spreadState
}

func newPodCycle(pod *v1.Pod, snap *Snapshot) *podCycle {
	return &podCycle{pod: pod, snap: snap, req: PodRequests(pod), interPod: newInterPodState(pod, snap), spread: newSpreadState(pod, snap)}
}

// filter runs the filters in upstream's order and stops at the first
// that rejects the node.
func (c *podCycle) filter(ni *NodeInfo) *Status {
	checks := []func() *Status{
		func() *Status { return filterUnschedulable(c.pod, ni) },
		func() *Status { return filterTaints(c.pod, ni) },
		func() *Status { return filterReady(c.pod, ni) },
		func() *Status { return filterNodeAffinity(c.pod, ni) },
		func() *Status { return filterPorts(c.pod, ni) },
		func() *Status { return filterResources(c.req, ni) },
		func() *Status { return filterSpread(c.pod, c.spread, ni) },
		func() *Status { return filterInterPod(c.pod, c.interPod, c.snap, ni) },
	}
	for _, check := range checks {
		if st := check(); !st.OK() {
			return st
		}
	}
	return nil
}

// findFeasible splits the nodes into those the pod fits and the failing
// statuses of the rest.
func findFeasible(pod *v1.Pod, snap *Snapshot) ([]*NodeInfo, map[string]*Status) {
	c := newPodCycle(pod, snap)
	var feasible []*NodeInfo
	failed := map[string]*Status{}
	for _, ni := range snap.Nodes {
		if st := c.filter(ni); !st.OK() {
			failed[ni.Node.Name] = st
			continue
		}
		feasible = append(feasible, ni)
	}
	return feasible, failed
}

// Score weights, as upstream's default profile.
const (
	weightTaints        = 3
	weightNodeAffinity  = 2
	weightSpread        = 2
	weightInterPod      = 2
	weightLeastAlloc    = 1
	weightBalanced      = 1
	weightImageLocality = 1
)

// scoreNodes gives each feasible node its weighted sum of scores.
func scoreNodes(pod *v1.Pod, snap *Snapshot, feasible []*NodeInfo) []int64 {
	n := len(feasible)
	total := make([]int64, n)
	nonZero := nonZeroRequests(pod)
	images := newImageIndex(snap)
	affinity := make([]int64, n)
	taints := make([]int64, n)
	var maxAffinity, maxTaints int64
	for i, ni := range feasible {
		affinity[i] = preferredNodeAffinity(pod, ni.Node)
		taints[i] = intolerablePreferNoSchedule(pod, ni.Node)
		maxAffinity, maxTaints = max(maxAffinity, affinity[i]), max(maxTaints, taints[i])
	}
	spread := spreadScores(pod, snap, feasible)
	interPod := interPodScores(pod, snap, feasible)
	for i, ni := range feasible {
		if maxAffinity > 0 {
			total[i] += weightNodeAffinity * affinity[i] * 100 / maxAffinity
		}
		taintScore := int64(100)
		if maxTaints > 0 {
			taintScore = 100 - taints[i]*100/maxTaints
		}
		total[i] += weightTaints * taintScore
		total[i] += weightSpread * spread[i]
		total[i] += weightInterPod * interPod[i]
		total[i] += weightLeastAlloc * leastAllocated(nonZero, ni)
		total[i] += weightBalanced * balancedAllocation(nonZero, ni)
		total[i] += weightImageLocality * imageLocality(pod, images, ni.Node)
	}
	return total
}

// selectHost picks the best score, choosing uniformly among ties.
func selectHost(feasible []*NodeInfo, scores []int64, rnd *rand.Rand) string {
	best, ties := -1, 0
	for i := range feasible {
		switch {
		case best < 0 || scores[i] > scores[best]:
			best, ties = i, 1
		case scores[i] == scores[best]:
			ties++
			if rnd.IntN(ties) == 0 {
				best = i
			}
		}
	}
	if best < 0 {
		return ""
	}
	return feasible[best].Node.Name
}

// schedule finds the node for pod, or explains why there is none.
func schedule(pod *v1.Pod, snap *Snapshot, rnd *rand.Rand) (string, *FitError) {
	feasible, failed := findFeasible(pod, snap)
	if len(feasible) == 0 {
		return "", &FitError{NumAllNodes: len(snap.Nodes), NodeStatus: failed}
	}
	if len(feasible) == 1 {
		return feasible[0].Node.Name, nil
	}
	return selectHost(feasible, scoreNodes(pod, snap, feasible), rnd), nil
}
