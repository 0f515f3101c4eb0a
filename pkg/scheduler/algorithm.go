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
	fit      fitRequest
	ports    []hostPort
	nodeReq  nodeRequirements
	interPod *interPodState
	spread   *spreadState
	volumes  *volumeConstraint
}

func newPodCycle(pod *v1.Pod, snap *Snapshot) *podCycle {
	c := &podCycle{pod: pod, snap: snap, fit: newFitRequest(PodRequests(pod)), ports: hostPorts(pod), nodeReq: newNodeRequirements(pod)}
	c.interPod = newInterPodState(pod, snap)
	c.spread = newSpreadState(pod, &c.nodeReq, snap)
	if snap.Volumes != nil {
		c.volumes = snap.Volumes(pod)
	}
	return c
}

// filter runs the filters in upstream's order and stops at the first
// that rejects the node.
func (c *podCycle) filter(ni *NodeInfo) *Status {
	if st := filterUnschedulable(c.pod, ni); !st.OK() {
		return st
	}
	if st := filterTaints(c.pod, ni); !st.OK() {
		return st
	}
	if st := filterReady(c.pod, ni); !st.OK() {
		return st
	}
	if !c.nodeReq.matches(ni.Node) {
		return unresolvable(msgNodeAffinity)
	}
	if st := c.volumes.filter(ni); !st.OK() {
		return st
	}
	if st := filterHostPorts(c.ports, ni); !st.OK() {
		return st
	}
	if st := c.fit.filter(ni); !st.OK() {
		return st
	}
	if st := filterSpread(c.pod, c.spread, ni); !st.OK() {
		return st
	}
	return filterInterPod(c.pod, c.interPod, c.snap, ni)
}

// Node sampling, as upstream's percentageOfNodesToScore default: in a
// large cluster filtering stops once enough feasible nodes are found.
const (
	minFeasibleNodesToFind           = 100
	minFeasibleNodesPercentageToFind = 5
)

// numFeasibleNodesToFind is how many feasible nodes to look for among n:
// all up to 100 nodes, else 50% less one point per 125 nodes, at least
// 5% and at least 100.
func numFeasibleNodesToFind(n int) int {
	if n <= minFeasibleNodesToFind {
		return n
	}
	pct := max(50-n/125, minFeasibleNodesPercentageToFind)
	return max(n*pct/100, minFeasibleNodesToFind)
}

// findFeasibleFrom filters the nodes round robin from start until want
// feasible ones are found. The failing statuses are kept only while none
// fits, so a pod that fits nowhere has every node's reason. processed is
// how many nodes were looked at.
func (c *podCycle) findFeasibleFrom(start, want int) (feasible []*NodeInfo, failed map[string]*Status, processed int) {
	nodes := c.snap.Nodes
	n := len(nodes)
	feasible = make([]*NodeInfo, 0, min(want, n))
	for i := 0; i < n && len(feasible) < want; i++ {
		ni := nodes[(start+i)%n]
		processed++
		if st := c.filter(ni); !st.OK() {
			if len(feasible) == 0 {
				if failed == nil {
					failed = map[string]*Status{}
				}
				failed[ni.Node.Name] = st
			}
			continue
		}
		feasible = append(feasible, ni)
	}
	if len(feasible) > 0 {
		failed = nil
	}
	return feasible, failed, processed
}

// findFeasible splits all the nodes into those the pod fits and the
// failing statuses of the rest.
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
	nonZero := scalarsOf(nonZeroRequests(pod))
	images := snap.imageIndex()
	podImgs := podImages(pod)
	affinity := make([]int64, n)
	taints := make([]int64, n)
	var maxAffinity, maxTaints int64
	preferred := preferredNodeAffinity(pod)
	for i, ni := range feasible {
		affinity[i] = preferred.Score(ni.Node)
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
		total[i] += weightLeastAlloc * leastAllocatedScalars(nonZero, ni)
		total[i] += weightBalanced * balancedAllocationScalars(nonZero, ni)
		total[i] += weightImageLocality * imageLocalityOf(podImgs, images, ni)
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

// algorithm is the scheduling goroutine's state across cycles.
type algorithm struct {
	rnd *rand.Rand
	// nextStart is where the next cycle starts filtering, so that
	// sampled cycles take turns over the nodes.
	nextStart int
}

// schedule finds the node for pod, or explains why there is none.
func (a *algorithm) schedule(pod *v1.Pod, snap *Snapshot) (string, *FitError) {
	n := len(snap.Nodes)
	if n == 0 {
		return "", &FitError{NumAllNodes: 0, NodeStatus: map[string]*Status{}}
	}
	c := newPodCycle(pod, snap)
	feasible, failed, processed := c.findFeasibleFrom(a.nextStart%n, numFeasibleNodesToFind(n))
	a.nextStart = (a.nextStart + processed) % n
	if len(feasible) == 0 {
		return "", &FitError{NumAllNodes: n, NodeStatus: failed}
	}
	if len(feasible) == 1 {
		return feasible[0].Node.Name, nil
	}
	return selectHost(feasible, scoreNodes(pod, snap, feasible), a.rnd), nil
}

// schedule is one cycle without history.
func schedule(pod *v1.Pod, snap *Snapshot, rnd *rand.Rand) (string, *FitError) {
	return (&algorithm{rnd: rnd}).schedule(pod, snap)
}
