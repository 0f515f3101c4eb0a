package defaults

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

// Upstream fills these on pod create in mutating admission plugins rather
// than in defaulting; Flotilla has no admission chain, so they live here.
// They only touch Pods, never pod templates.

// Built-in priority classes every cluster has.
var systemPriorities = map[string]int32{
	"system-cluster-critical": 2000000000,
	"system-node-critical":    2000001000,
}

// notReadyTolerationSeconds is how long DefaultTolerationSeconds lets a pod
// stay on a node that went not-ready or unreachable.
const notReadyTolerationSeconds = 300

func admitPod(p *corev1.Pod) {
	s := &p.Spec
	// ServiceAccount: pods run as "default" unless told otherwise; mirror
	// pods (from static manifests) are exempt.
	if s.ServiceAccountName == "" && p.Annotations[corev1.MirrorPodAnnotationKey] == "" {
		s.ServiceAccountName = "default"
		s.DeprecatedServiceAccount = "default"
	}

	// Priority: resolved from the priority class. Without a class (and no
	// globalDefault class known) it is 0 and may preempt lower priorities.
	// A user-defined class is resolved by whoever stores it; only the
	// built-in ones are known here.
	if s.Priority == nil {
		if s.PriorityClassName == "" {
			s.Priority = ptr.To[int32](0)
		} else if v, ok := systemPriorities[s.PriorityClassName]; ok {
			s.Priority = ptr.To(v)
		}
	}
	if s.PreemptionPolicy == nil && (s.PriorityClassName == "" || systemPriorities[s.PriorityClassName] != 0) {
		s.PreemptionPolicy = ptr.To(corev1.PreemptLowerPriority)
	}

	// DefaultTolerationSeconds: evict from a failed node after 5 minutes
	// unless the pod already tolerates that taint (an empty key or effect
	// tolerates it too).
	notReady, unreachable := false, false
	for _, t := range s.Tolerations {
		noExecute := t.Effect == "" || t.Effect == corev1.TaintEffectNoExecute
		if noExecute && (t.Key == "" || t.Key == corev1.TaintNodeNotReady) {
			notReady = true
		}
		if noExecute && (t.Key == "" || t.Key == corev1.TaintNodeUnreachable) {
			unreachable = true
		}
	}
	if !notReady {
		s.Tolerations = append(s.Tolerations, nodeToleration(corev1.TaintNodeNotReady))
	}
	if !unreachable {
		s.Tolerations = append(s.Tolerations, nodeToleration(corev1.TaintNodeUnreachable))
	}
}

func nodeToleration(key string) corev1.Toleration {
	return corev1.Toleration{
		Key:               key,
		Operator:          corev1.TolerationOpExists,
		Effect:            corev1.TaintEffectNoExecute,
		TolerationSeconds: ptr.To[int64](notReadyTolerationSeconds),
	}
}
