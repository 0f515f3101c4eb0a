package job

import (
	"fmt"
	"slices"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
)

// matchFailurePolicy applies the first rule of policy matching a failed
// pod. It returns the message to fail the Job with (FailJob), whether the
// failure counts against the back-off limits (all but Ignore), and the
// action matched (nil when none did: the failure counts).
func matchFailurePolicy(policy *batchv1.PodFailurePolicy, pod *corev1.Pod) (failJob *string, counts bool, action *batchv1.PodFailurePolicyAction) {
	if policy == nil {
		return nil, true, nil
	}
	for i, rule := range policy.Rules {
		var why string
		switch {
		case rule.OnExitCodes != nil:
			c := matchExitCodes(rule.OnExitCodes, pod)
			if c == nil {
				continue
			}
			why = fmt.Sprintf("Container %s for pod %s/%s failed with exit code %d matching %v rule at index %d",
				c.Name, pod.Namespace, pod.Name, c.State.Terminated.ExitCode, rule.Action, i)
		case len(rule.OnPodConditions) > 0:
			cond := matchPodConditions(rule.OnPodConditions, pod)
			if cond == nil {
				continue
			}
			why = fmt.Sprintf("Pod %s/%s has condition %v matching %v rule at index %d", pod.Namespace, pod.Name, cond.Type, rule.Action, i)
		default:
			continue
		}
		act := rule.Action
		switch act {
		case batchv1.PodFailurePolicyActionIgnore:
			return nil, false, &act
		case batchv1.PodFailurePolicyActionFailJob:
			return &why, true, &act
		default: // Count, FailIndex
			return nil, true, &act
		}
	}
	return nil, true, nil
}

// matchExitCodes returns the first terminated container (init containers
// included) whose non-zero exit code satisfies req.
func matchExitCodes(req *batchv1.PodFailurePolicyOnExitCodesRequirement, pod *corev1.Pod) *corev1.ContainerStatus {
	statuses := append(slices.Clone(pod.Status.InitContainerStatuses), pod.Status.ContainerStatuses...)
	for i := range statuses {
		st := &statuses[i]
		if req.ContainerName != nil && *req.ContainerName != st.Name {
			continue
		}
		t := st.State.Terminated
		if t == nil || t.ExitCode == 0 {
			continue
		}
		in := slices.Contains(req.Values, t.ExitCode)
		if (req.Operator == batchv1.PodFailurePolicyOnExitCodesOpIn) == in {
			return st
		}
	}
	return nil
}

func matchPodConditions(reqs []batchv1.PodFailurePolicyOnPodConditionsPattern, pod *corev1.Pod) *corev1.PodCondition {
	for i := range pod.Status.Conditions {
		c := &pod.Status.Conditions[i]
		for _, r := range reqs {
			status := r.Status
			if status == "" {
				status = corev1.ConditionTrue
			}
			if c.Type == r.Type && c.Status == status {
				return c
			}
		}
	}
	return nil
}
