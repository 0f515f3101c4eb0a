package limitranger

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Annotation records on a pod which defaults LimitRanger set.
const Annotation = "kubernetes.io/limit-ranger"

// SetDefaults gives the pod's containers the Container defaults of lr
// they do not state: default as limits, defaultRequest as requests. The
// annotation lists them, e.g. "LimitRanger plugin set: cpu, memory
// request for container c; cpu limit for container c".
func SetDefaults(lr *corev1.LimitRange, pod *corev1.Pod) {
	var defaults corev1.ResourceRequirements
	for _, item := range lr.Spec.Limits {
		if item.Type != corev1.LimitTypeContainer {
			continue
		}
		defaults.Limits = merged(defaults.Limits, item.Default)
		defaults.Requests = merged(defaults.Requests, item.DefaultRequest)
	}
	if len(defaults.Limits) == 0 && len(defaults.Requests) == 0 {
		return
	}
	var notes []string
	for i := range pod.Spec.Containers {
		notes = fill(&pod.Spec.Containers[i], defaults, "container", notes)
	}
	for i := range pod.Spec.InitContainers {
		notes = fill(&pod.Spec.InitContainers[i], defaults, "init container", notes)
	}
	if len(notes) == 0 {
		return
	}
	if pod.Annotations == nil {
		pod.Annotations = map[string]string{}
	}
	pod.Annotations[Annotation] = "LimitRanger plugin set: " + strings.Join(notes, "; ")
}

func merged(into, from corev1.ResourceList) corev1.ResourceList {
	for k, v := range from {
		if into == nil {
			into = corev1.ResourceList{}
		}
		into[k] = v.DeepCopy()
	}
	return into
}

// fill sets what c lacks and appends what it set to notes.
func fill(c *corev1.Container, defaults corev1.ResourceRequirements, kind string, notes []string) []string {
	set := func(into *corev1.ResourceList, from corev1.ResourceList) []string {
		var names []string
		for k, v := range from {
			if _, ok := (*into)[k]; ok {
				continue
			}
			if *into == nil {
				*into = corev1.ResourceList{}
			}
			(*into)[k] = v.DeepCopy()
			names = append(names, string(k))
		}
		sort.Strings(names)
		return names
	}
	if reqs := set(&c.Resources.Requests, defaults.Requests); len(reqs) > 0 {
		notes = append(notes, fmt.Sprintf("%s request for %s %s", strings.Join(reqs, ", "), kind, c.Name))
	}
	if lims := set(&c.Resources.Limits, defaults.Limits); len(lims) > 0 {
		notes = append(notes, fmt.Sprintf("%s limit for %s %s", strings.Join(lims, ", "), kind, c.Name))
	}
	return notes
}
