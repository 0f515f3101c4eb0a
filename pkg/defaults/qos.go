package defaults

import (
	corev1 "k8s.io/api/core/v1"
)

// qosResources are the resources the QoS class looks at.
var qosResources = []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory}

// PodQOSClass computes the pod's QoS class as upstream does. With
// pod-level resources those alone decide; otherwise every container and
// init container (ephemeral ones have no resources) is classified and the
// pod is Guaranteed or BestEffort only if all of them are, else Burstable.
func PodQOSClass(p *corev1.Pod) corev1.PodQOSClass {
	if p == nil {
		return corev1.PodQOSBestEffort
	}
	if p.Spec.Resources != nil {
		return requirementsQOS(p.Spec.Resources)
	}
	var class corev1.PodQOSClass
	for _, cs := range [][]corev1.Container{p.Spec.InitContainers, p.Spec.Containers} {
		for i := range cs {
			c := requirementsQOS(&cs[i].Resources)
			switch {
			case c == corev1.PodQOSBurstable:
				return c
			case class == "":
				class = c
			case class != c:
				return corev1.PodQOSBurstable
			}
		}
	}
	if class == "" {
		return corev1.PodQOSBestEffort
	}
	return class
}

// requirementsQOS classifies one set of requests and limits: Guaranteed
// when cpu and memory both have equal non-zero requests and limits,
// BestEffort when neither has any, Burstable otherwise.
func requirementsQOS(r *corev1.ResourceRequirements) corev1.PodQOSClass {
	if len(r.Requests) == 0 && len(r.Limits) == 0 {
		return corev1.PodQOSBestEffort
	}
	var class corev1.PodQOSClass
	for _, name := range qosResources {
		req, lim := r.Requests[name], r.Limits[name]
		if !req.Equal(lim) {
			return corev1.PodQOSBurstable
		}
		unset := req.IsZero()
		c := corev1.PodQOSGuaranteed
		if unset {
			c = corev1.PodQOSBestEffort
		}
		if class != "" && class != c {
			return corev1.PodQOSBurstable
		}
		class = c
	}
	return class
}
