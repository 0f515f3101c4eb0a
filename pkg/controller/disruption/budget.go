package disruption

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/flotilla-io/flotilla/pkg/podutil"
)

// DefaultDeletionTimeout is how long a pod recorded in a budget's
// status.disruptedPods counts as gone while it has not been deleted yet,
// upstream's DeletionTimeout.
const DefaultDeletionTimeout = 2 * time.Minute

// scaleFinder resolves the controller of a pod to the controller that
// owns the replica count (a Deployment for its ReplicaSets) and that
// count. found is false when no supported controller matches the
// reference.
type scaleFinder func(ref *metav1.OwnerReference, namespace string) (uid types.UID, scale int32, found bool, err error)

// expectedPodCount computes a budget's expected and desired healthy pod
// counts, as upstream's getExpectedPodCount: an integer minAvailable
// needs no controller and expects as many pods as are selected; a
// percentage minAvailable and any maxUnavailable are taken of the sum of
// the replica counts of the pods' controllers (percentages rounded up).
// Pods without a controller add nothing to that sum and are returned as
// unmanaged; a controller reference to an unsupported or missing
// controller is an error.
func expectedPodCount(pdb *policyv1.PodDisruptionBudget, pods []*corev1.Pod, find scaleFinder) (expected, desired int32, unmanaged []string, err error) {
	switch {
	case pdb.Spec.MaxUnavailable != nil:
		expected, unmanaged, err = expectedScale(pods, find)
		if err != nil {
			return 0, 0, nil, err
		}
		maxUnavailable, err := intstr.GetScaledValueFromIntOrPercent(pdb.Spec.MaxUnavailable, int(expected), true)
		if err != nil {
			return 0, 0, nil, err
		}
		desired = max(expected-int32(maxUnavailable), 0)
	case pdb.Spec.MinAvailable != nil && pdb.Spec.MinAvailable.Type == intstr.Int:
		desired, expected = pdb.Spec.MinAvailable.IntVal, int32(len(pods))
	case pdb.Spec.MinAvailable != nil:
		expected, unmanaged, err = expectedScale(pods, find)
		if err != nil {
			return 0, 0, nil, err
		}
		minAvailable, err := intstr.GetScaledValueFromIntOrPercent(pdb.Spec.MinAvailable, int(expected), true)
		if err != nil {
			return 0, 0, nil, err
		}
		desired = int32(minAvailable)
	}
	return expected, desired, unmanaged, nil
}

func expectedScale(pods []*corev1.Pod, find scaleFinder) (int32, []string, error) {
	scales := map[types.UID]int32{}
	var unmanaged []string
	for _, pod := range pods {
		ref := metav1.GetControllerOf(pod)
		if ref == nil {
			unmanaged = append(unmanaged, pod.Name)
			continue
		}
		if _, ok := scales[ref.UID]; ok {
			continue
		}
		uid, scale, found, err := find(ref, pod.Namespace)
		if err != nil {
			return 0, nil, err
		}
		if !found {
			return 0, nil, fmt.Errorf("found no controllers for pod %q", pod.Name)
		}
		scales[uid] = scale
	}
	var sum int32
	for _, s := range scales {
		sum += s
	}
	return sum, unmanaged, nil
}

// countHealthy counts the pods that are Running and Ready, not being
// deleted, and not recorded as disrupted within the last timeout.
func countHealthy(pods []*corev1.Pod, disrupted map[string]metav1.Time, now time.Time, timeout time.Duration) int32 {
	var n int32
	for _, pod := range pods {
		if pod.DeletionTimestamp != nil {
			continue
		}
		if at, ok := disrupted[pod.Name]; ok && at.Add(timeout).After(now) {
			continue
		}
		if pod.Status.Phase == corev1.PodRunning && podutil.IsPodReady(pod) {
			n++
		}
	}
	return n
}

// pruneDisrupted keeps the disruptedPods entries of selected pods that
// are not being deleted yet and whose deletion is not overdue. recheck is
// when the earliest kept entry expires (zero if none). overdue lists the
// pods expected to be deleted that were not.
func pruneDisrupted(pods []*corev1.Pod, disrupted map[string]metav1.Time, now time.Time, timeout time.Duration) (kept map[string]metav1.Time, recheck time.Time, overdue []string) {
	kept = map[string]metav1.Time{}
	if len(disrupted) == 0 {
		return kept, recheck, nil
	}
	for _, pod := range pods {
		if pod.DeletionTimestamp != nil {
			continue
		}
		at, ok := disrupted[pod.Name]
		if !ok {
			continue
		}
		expiry := at.Add(timeout)
		if expiry.Before(now) {
			overdue = append(overdue, pod.Name)
			continue
		}
		kept[pod.Name] = at
		if recheck.IsZero() || expiry.Before(recheck) {
			recheck = expiry
		}
	}
	return kept, recheck, overdue
}

// setDisruptionAllowed updates the DisruptionAllowed condition from
// status.disruptionsAllowed, as upstream's UpdateDisruptionAllowedCondition.
func setDisruptionAllowed(pdb *policyv1.PodDisruptionBudget) {
	if pdb.Status.Conditions == nil {
		pdb.Status.Conditions = []metav1.Condition{}
	}
	cond := metav1.Condition{
		Type: policyv1.DisruptionAllowedCondition, Status: metav1.ConditionFalse, Reason: policyv1.InsufficientPodsReason,
		ObservedGeneration: pdb.Status.ObservedGeneration,
	}
	if pdb.Status.DisruptionsAllowed > 0 {
		cond.Status, cond.Reason = metav1.ConditionTrue, policyv1.SufficientPodsReason
	}
	apimeta.SetStatusCondition(&pdb.Status.Conditions, cond)
}

// conditionsUpToDate tells whether the DisruptionAllowed condition agrees
// with the rest of the status.
func conditionsUpToDate(pdb *policyv1.PodDisruptionBudget) bool {
	cond := apimeta.FindStatusCondition(pdb.Status.Conditions, policyv1.DisruptionAllowedCondition)
	if cond == nil || pdb.Status.ObservedGeneration != pdb.Generation {
		return false
	}
	if pdb.Status.DisruptionsAllowed > 0 {
		return cond.Status == metav1.ConditionTrue && cond.Reason == policyv1.SufficientPodsReason
	}
	return cond.Status == metav1.ConditionFalse && cond.Reason == policyv1.InsufficientPodsReason
}

// disruptionsAllowed is currentHealthy - desiredHealthy, never negative,
// and 0 while no pod is expected (so a budget whose first pods appear
// before the controller saw them is safe).
func disruptionsAllowed(currentHealthy, desiredHealthy, expected int32) int32 {
	if expected <= 0 || currentHealthy <= desiredHealthy {
		return 0
	}
	return currentHealthy - desiredHealthy
}

func sameTimes(a, b map[string]metav1.Time) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		w, ok := b[k]
		if !ok || !v.Equal(&w) {
			return false
		}
	}
	return true
}
