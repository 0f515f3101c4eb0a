package defaults

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Pod-level resources (spec.resources) are completed from the containers'
// once the user gave some of them, as upstream does with PodLevelResources.

// podLevel says whether name may be set at pod level.
func podLevel(name corev1.ResourceName) bool {
	return name == corev1.ResourceCPU || name == corev1.ResourceMemory || hugePages(name)
}

func hugePages(name corev1.ResourceName) bool {
	return strings.HasPrefix(string(name), corev1.ResourceHugePagesPrefix)
}

// overcommit says whether requests of name may be lower than limits.
func overcommit(name corev1.ResourceName) bool {
	return name == corev1.ResourceCPU || name == corev1.ResourceMemory
}

func podLevelResources(s *corev1.PodSpec) {
	r := s.Resources
	if r == nil {
		return
	}
	// Hugepages limits, unless the pod requested that size itself.
	if len(r.Limits) > 0 || len(r.Requests) > 0 {
		for name, q := range aggregate(s, func(c *corev1.Container) corev1.ResourceList { return c.Resources.Limits }) {
			if !hugePages(name) {
				continue
			}
			if _, ok := r.Requests[name]; ok {
				continue
			}
			if _, ok := r.Limits[name]; !ok {
				if r.Limits == nil {
					r.Limits = corev1.ResourceList{}
				}
				r.Limits[name] = q.DeepCopy()
			}
		}
	}
	// Requests: what the containers request, else the pod limit.
	if len(r.Limits) > 0 {
		reqs := r.Requests
		if reqs == nil {
			reqs = corev1.ResourceList{}
		}
		for name, q := range aggregate(s, func(c *corev1.Container) corev1.ResourceList { return c.Resources.Requests }) {
			if _, ok := reqs[name]; !ok && podLevel(name) && overcommit(name) {
				reqs[name] = q.DeepCopy()
			}
		}
		for name, q := range r.Limits {
			if _, ok := reqs[name]; !ok && podLevel(name) {
				reqs[name] = q.DeepCopy()
			}
		}
		if len(reqs) > 0 {
			r.Requests = reqs
		}
	}
	// Limits: the sum of the containers' when every container has one.
	if !hasPodLevel(r.Limits) && hasPodLevel(r.Requests) {
		lims := r.Limits
		if lims == nil {
			lims = corev1.ResourceList{}
		}
		for name, q := range aggregate(s, func(c *corev1.Container) corev1.ResourceList { return c.Resources.Limits }) {
			if _, ok := lims[name]; ok || !podLevel(name) || !overcommit(name) || !allLimit(s, name) {
				continue
			}
			lims[name] = q.DeepCopy()
		}
		if len(lims) > 0 {
			r.Limits = lims
		}
	}
}

func hasPodLevel(l corev1.ResourceList) bool {
	for name := range l {
		if podLevel(name) {
			return true
		}
	}
	return false
}

func allLimit(s *corev1.PodSpec, name corev1.ResourceName) bool {
	for _, cs := range [][]corev1.Container{s.InitContainers, s.Containers} {
		for i := range cs {
			if _, ok := cs[i].Resources.Limits[name]; !ok {
				return false
			}
		}
	}
	return true
}

// aggregate is what the pod needs at its peak: all regular containers
// and sidecars together, or an init container plus the sidecars started
// before it, whichever is larger.
func aggregate(s *corev1.PodSpec, list func(*corev1.Container) corev1.ResourceList) corev1.ResourceList {
	total := corev1.ResourceList{}
	for i := range s.Containers {
		add(total, list(&s.Containers[i]))
	}
	sidecars, initPeak := corev1.ResourceList{}, corev1.ResourceList{}
	for i := range s.InitContainers {
		c := &s.InitContainers[i]
		var running corev1.ResourceList
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			add(total, list(c))
			add(sidecars, list(c))
			running = sidecars
		} else {
			running = corev1.ResourceList{}
			add(running, list(c))
			add(running, sidecars)
		}
		maxInto(initPeak, running)
	}
	maxInto(total, initPeak)
	return total
}

func add(into, l corev1.ResourceList) {
	for name, q := range l {
		if cur, ok := into[name]; ok {
			cur.Add(q)
			into[name] = cur
		} else {
			into[name] = q.DeepCopy()
		}
	}
}

func maxInto(into, l corev1.ResourceList) {
	for name, q := range l {
		if cur, ok := into[name]; !ok || q.Cmp(cur) > 0 {
			into[name] = q.DeepCopy()
		}
	}
}
