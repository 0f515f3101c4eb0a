package scheduler

import (
	v1 "k8s.io/api/core/v1"
)

// Resources is an amount per resource name: millicores for cpu, plain
// units (bytes, counts) for everything else.
type Resources map[v1.ResourceName]int64

// Scoring substitutes these for containers that request no cpu or memory,
// so a node full of request-less pods does not look empty (upstream's
// non-zero defaults: 100m and 200Mi).
const (
	defaultMilliCPURequest = 100
	defaultMemoryRequest   = 200 * 1024 * 1024
)

func quantityOf(name v1.ResourceName, list v1.ResourceList) (int64, bool) {
	q, ok := list[name]
	if !ok {
		return 0, false
	}
	if name == v1.ResourceCPU {
		return q.MilliValue(), true
	}
	return q.Value(), true
}

// fromList converts a ResourceList.
func fromList(list v1.ResourceList) Resources {
	r := Resources{}
	for name := range list {
		r[name], _ = quantityOf(name, list)
	}
	return r
}

func (r Resources) add(o Resources) {
	for k, v := range o {
		r[k] += v
	}
}

func (r Resources) setMax(o Resources) {
	for k, v := range o {
		if v > r[k] {
			r[k] = v
		}
	}
}

func (r Resources) clone() Resources {
	c := make(Resources, len(r))
	for k, v := range r {
		c[k] = v
	}
	return c
}

func isSidecar(c *v1.Container) bool {
	return c.RestartPolicy != nil && *c.RestartPolicy == v1.ContainerRestartPolicyAlways
}

// PodRequests is what a pod asks of its node: the larger of what its app
// containers and sidecars need together and what each regular init
// container needs alongside the sidecars started before it, plus the pod
// overhead. Pod-level requests (spec.resources), where set, replace the
// containers' sum for their resources.
func PodRequests(pod *v1.Pod) Resources {
	return podRequests(pod, func(c *v1.Container) Resources { return fromList(c.Resources.Requests) })
}

// nonZeroRequests is PodRequests with the scoring defaults for containers
// that request no cpu or memory.
func nonZeroRequests(pod *v1.Pod) Resources {
	return podRequests(pod, func(c *v1.Container) Resources {
		r := fromList(c.Resources.Requests)
		if _, ok := c.Resources.Requests[v1.ResourceCPU]; !ok {
			r[v1.ResourceCPU] = defaultMilliCPURequest
		}
		if _, ok := c.Resources.Requests[v1.ResourceMemory]; !ok {
			r[v1.ResourceMemory] = defaultMemoryRequest
		}
		return r
	})
}

func podRequests(pod *v1.Pod, of func(*v1.Container) Resources) Resources {
	total := Resources{}
	for i := range pod.Spec.Containers {
		total.add(of(&pod.Spec.Containers[i]))
	}
	sidecars := Resources{}
	initPeak := Resources{}
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		req := of(c)
		if isSidecar(c) {
			// A sidecar runs for the pod's whole life.
			total.add(req)
			sidecars.add(req)
			initPeak.setMax(sidecars)
			continue
		}
		during := sidecars.clone()
		during.add(req)
		initPeak.setMax(during)
	}
	total.setMax(initPeak)
	if pl := pod.Spec.Resources; pl != nil {
		for name := range pl.Requests {
			total[name], _ = quantityOf(name, pl.Requests)
		}
	}
	total.add(fromList(pod.Spec.Overhead))
	return total
}

// terminal pods hold nothing on their node any more.
func (r Resources) sub(o Resources) {
	for k, v := range o {
		r[k] -= v
	}
}
