package scheduler

import (
	v1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
)

// The built-in classes, valid even when no object for them exists.
var builtinPriorities = map[string]int32{
	"system-cluster-critical": 2000000000,
	"system-node-critical":    2000001000,
}

// priorityOf resolves a pod's priority and preemption policy. The API
// server does not apply PriorityClasses at admission, so the scheduler
// does: spec.priority when set, else the named class, else the global
// default class (the lowest-valued, should there be several), else 0.
// spec.preemptionPolicy wins over the class's.
func priorityOf(pod *v1.Pod, classes []*schedulingv1.PriorityClass) (int32, v1.PreemptionPolicy) {
	var class *schedulingv1.PriorityClass
	if name := pod.Spec.PriorityClassName; name != "" {
		for _, pc := range classes {
			if pc.Name == name {
				class = pc
			}
		}
	} else {
		for _, pc := range classes {
			if pc.GlobalDefault && (class == nil || pc.Value < class.Value) {
				class = pc
			}
		}
	}
	var prio int32
	policy := v1.PreemptLowerPriority
	switch {
	case class != nil:
		prio = class.Value
		if class.PreemptionPolicy != nil {
			policy = *class.PreemptionPolicy
		}
	default:
		prio = builtinPriorities[pod.Spec.PriorityClassName]
	}
	if pod.Spec.Priority != nil {
		prio = *pod.Spec.Priority
	}
	if pod.Spec.PreemptionPolicy != nil {
		policy = *pod.Spec.PreemptionPolicy
	}
	return prio, policy
}
