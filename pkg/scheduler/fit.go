package scheduler

import (
	"sort"

	v1 "k8s.io/api/core/v1"
)

// allocatable is what the node offers pods.
func allocatable(node *v1.Node) Resources { return fromList(node.Status.Allocatable) }

// filterResources is the NodeResourcesFit filter: every resource the pod
// requests must fit in the node's allocatable minus what its pods
// request, and the node must have room for one more pod.
func filterResources(req Resources, ni *NodeInfo) *Status {
	alloc := allocatable(ni.Node)
	var reasons []string
	if int64(len(ni.Pods))+1 > alloc[v1.ResourcePods] {
		reasons = append(reasons, msgTooManyPods)
	}
	for _, name := range []v1.ResourceName{v1.ResourceCPU, v1.ResourceMemory, v1.ResourceEphemeralStorage} {
		if want := req[name]; want > 0 && want > alloc[name]-ni.Requested[name] {
			reasons = append(reasons, msgInsufficient(string(name)))
		}
	}
	var extended []string
	for name, want := range req {
		switch name {
		case v1.ResourcePods, v1.ResourceCPU, v1.ResourceMemory, v1.ResourceEphemeralStorage:
			continue
		}
		if want > 0 && want > alloc[name]-ni.Requested[name] {
			extended = append(extended, string(name))
		}
	}
	sort.Strings(extended)
	for _, name := range extended {
		reasons = append(reasons, msgInsufficient(name))
	}
	if len(reasons) == 0 {
		return nil
	}
	return fail(reasons...)
}

// scoredResources are what the resource scores weigh, equally.
var scoredResources = []v1.ResourceName{v1.ResourceCPU, v1.ResourceMemory}

// leastAllocated favours nodes with the most room left once the pod is
// placed: the mean over cpu and memory of free/allocatable, 0..100.
func leastAllocated(nonZeroReq Resources, ni *NodeInfo) int64 {
	alloc := allocatable(ni.Node)
	var sum, n int64
	for _, r := range scoredResources {
		capacity := alloc[r]
		if capacity == 0 {
			continue
		}
		used := ni.NonZero[r] + nonZeroReq[r]
		n++
		if used > capacity {
			continue
		}
		sum += (capacity - used) * 100 / capacity
	}
	if n == 0 {
		return 0
	}
	return sum / n
}

// balancedAllocation favours nodes whose cpu and memory would be used in
// the same proportion: 100 * (1 - standard deviation of the fractions).
func balancedAllocation(nonZeroReq Resources, ni *NodeInfo) int64 {
	alloc := allocatable(ni.Node)
	var fractions []float64
	for _, r := range scoredResources {
		capacity := alloc[r]
		if capacity == 0 {
			continue
		}
		f := float64(ni.NonZero[r]+nonZeroReq[r]) / float64(capacity)
		if f > 1 {
			f = 1
		}
		fractions = append(fractions, f)
	}
	if len(fractions) < 2 {
		return 100
	}
	// Two values: the standard deviation is half their distance.
	d := fractions[0] - fractions[1]
	if d < 0 {
		d = -d
	}
	return int64((1 - d/2) * 100)
}
