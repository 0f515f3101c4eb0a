package scheduler

import (
	"sort"

	v1 "k8s.io/api/core/v1"
)

// allocatable is what the node offers pods.
func allocatable(node *v1.Node) Resources { return fromList(node.Status.Allocatable) }

// scalars are the resources the filters and scores look at on every
// node, out of their maps.
type scalars struct{ cpu, memory, ephemeral int64 }

func scalarsOf(r Resources) scalars {
	return scalars{cpu: r[v1.ResourceCPU], memory: r[v1.ResourceMemory], ephemeral: r[v1.ResourceEphemeralStorage]}
}

// fitRequest is a pod's requests as filterResources checks them.
type fitRequest struct {
	basic    scalars
	extended []v1.ResourceName // other requested resources, by name
	req      Resources
}

func newFitRequest(req Resources) fitRequest {
	f := fitRequest{basic: scalarsOf(req), req: req}
	for name, want := range req {
		switch name {
		case v1.ResourcePods, v1.ResourceCPU, v1.ResourceMemory, v1.ResourceEphemeralStorage:
			continue
		}
		if want > 0 {
			f.extended = append(f.extended, name)
		}
	}
	sort.Slice(f.extended, func(i, j int) bool { return f.extended[i] < f.extended[j] })
	return f
}

// filterResources is the NodeResourcesFit filter: every resource the pod
// requests must fit in the node's allocatable minus what its pods
// request, and the node must have room for one more pod.
func filterResources(req Resources, ni *NodeInfo) *Status {
	f := newFitRequest(req)
	return f.filter(ni)
}

func (f *fitRequest) filter(ni *NodeInfo) *Status {
	short := f.insufficient(ni)
	if len(short) == 0 {
		return nil
	}
	reasons := make([]string, len(short))
	for i, r := range short {
		reasons[i] = r.reason()
	}
	return fail(reasons...)
}

// InsufficientResource is a resource a pod asks more of than its node
// has left: requested, used by the node's pods and allocatable, in
// millicores for cpu and plain units otherwise.
type InsufficientResource struct {
	Name                      v1.ResourceName
	Requested, Used, Capacity int64
}

func (r InsufficientResource) reason() string {
	if r.Name == v1.ResourcePods {
		return msgTooManyPods
	}
	return msgInsufficient(string(r.Name))
}

// insufficient lists what does not fit, as upstream orders it: the pod
// count, cpu, memory, ephemeral storage, then the other resources by name.
func (f *fitRequest) insufficient(ni *NodeInfo) []InsufficientResource {
	var out []InsufficientResource
	if n := int64(len(ni.Pods)); n+1 > ni.allocPods {
		out = append(out, InsufficientResource{Name: v1.ResourcePods, Requested: 1, Used: n, Capacity: ni.allocPods})
	}
	for _, r := range []struct {
		name              v1.ResourceName
		want, alloc, used int64
	}{
		{v1.ResourceCPU, f.basic.cpu, ni.alloc.cpu, ni.used.cpu},
		{v1.ResourceMemory, f.basic.memory, ni.alloc.memory, ni.used.memory},
		{v1.ResourceEphemeralStorage, f.basic.ephemeral, ni.alloc.ephemeral, ni.used.ephemeral},
	} {
		if r.want > 0 && r.want > r.alloc-r.used {
			out = append(out, InsufficientResource{Name: r.name, Requested: r.want, Used: r.used, Capacity: r.alloc})
		}
	}
	for _, name := range f.extended {
		if f.req[name] > ni.allocatable[name]-ni.Requested[name] {
			out = append(out, InsufficientResource{Name: name, Requested: f.req[name], Used: ni.Requested[name], Capacity: ni.allocatable[name]})
		}
	}
	return out
}

// leastAllocated favours nodes with the most room left once the pod is
// placed: the mean over cpu and memory of free/allocatable, 0..100.
func leastAllocated(nonZeroReq Resources, ni *NodeInfo) int64 {
	return leastAllocatedScalars(scalarsOf(nonZeroReq), ni)
}

func leastAllocatedScalars(req scalars, ni *NodeInfo) int64 {
	var sum, n int64
	for _, r := range [2][2]int64{{ni.alloc.cpu, ni.nonZero.cpu + req.cpu}, {ni.alloc.memory, ni.nonZero.memory + req.memory}} {
		capacity, used := r[0], r[1]
		if capacity == 0 {
			continue
		}
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
	return balancedAllocationScalars(scalarsOf(nonZeroReq), ni)
}

func balancedAllocationScalars(req scalars, ni *NodeInfo) int64 {
	var fractions [2]float64
	n := 0
	for _, r := range [2][2]int64{{ni.alloc.cpu, ni.nonZero.cpu + req.cpu}, {ni.alloc.memory, ni.nonZero.memory + req.memory}} {
		capacity, used := r[0], r[1]
		if capacity == 0 {
			continue
		}
		fractions[n] = min(float64(used)/float64(capacity), 1)
		n++
	}
	if n < 2 {
		return 100
	}
	// Two values: the standard deviation is half their distance.
	d := fractions[0] - fractions[1]
	if d < 0 {
		d = -d
	}
	return int64((1 - d/2) * 100)
}
