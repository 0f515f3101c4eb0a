package disruption

import (
	"fmt"
	"net/http"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/flotilla-io/flotilla/pkg/podutil"
)

// MaxDisruptedPods bounds status.disruptedPods: past it evictions are
// refused until the controller catches up (upstream's MaxDisruptedPodSize).
const MaxDisruptedPods = 2000

// Upstream's eviction refusals.
const (
	MessageViolatesBudget  = "Cannot evict pod as it would violate the pod's disruption budget."
	MessageMultipleBudgets = "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support."
)

// CheckEviction decides whether evicting pod is allowed by the PDBs
// (already listed by the caller) that select it, with the semantics of
// upstream's eviction subresource. It returns the PDB to decrement (nil
// if none applies) or the error to answer with, an *apierrors.StatusError:
//
//   - a pod that is Pending, Succeeded or Failed, or already being
//     deleted, may go without consulting any budget: nil, nil;
//   - PDBs of other namespaces, with an invalid selector, or with a nil or
//     empty selector (which here match nothing, as upstream) are ignored;
//     no PDB left: nil, nil;
//   - more than one: a 500 with MessageMultipleBudgets;
//   - a pod that is not Ready may go without touching the budget when the
//     PDB's unhealthyPodEvictionPolicy is AlwaysAllow, or (IfHealthyBudget,
//     the default) when the budget's currentHealthy >= desiredHealthy > 0:
//     nil, nil — upstream then deletes with a resourceVersion
//     precondition so that the pod cannot turn Ready meanwhile;
//   - a budget not yet processed (status.observedGeneration <
//     generation) or without disruptions left: 429 TooManyRequests,
//     MessageViolatesBudget, with a DisruptionBudget cause; a negative
//     disruptionsAllowed or an overfull disruptedPods: 403 Forbidden;
//   - otherwise the PDB (a copy) is returned, unchanged: the caller
//     applies RecordEviction to it and writes its status (retrying
//     CheckEviction on a conflict) before deleting the pod.
func CheckEviction(pod *corev1.Pod, pdbs []policyv1.PodDisruptionBudget) (*policyv1.PodDisruptionBudget, error) {
	if podutil.IsPodTerminal(pod) || pod.Status.Phase == corev1.PodPending || pod.DeletionTimestamp != nil {
		return nil, nil
	}
	var matching []*policyv1.PodDisruptionBudget
	for i := range pdbs {
		pdb := &pdbs[i]
		if pdb.Namespace != pod.Namespace {
			continue
		}
		sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
		if err != nil || sel.Empty() || !sel.Matches(labels.Set(pod.Labels)) {
			continue
		}
		matching = append(matching, pdb)
	}
	switch {
	case len(matching) == 0:
		return nil, nil
	case len(matching) > 1:
		return nil, &apierrors.StatusError{ErrStatus: metav1.Status{
			Status: metav1.StatusFailure, Code: http.StatusInternalServerError, Message: MessageMultipleBudgets,
		}}
	}
	pdb := matching[0]
	if !podutil.IsPodReady(pod) {
		policy := pdb.Spec.UnhealthyPodEvictionPolicy
		if policy != nil && *policy == policyv1.AlwaysAllow {
			return nil, nil
		}
		if pdb.Status.CurrentHealthy >= pdb.Status.DesiredHealthy && pdb.Status.DesiredHealthy > 0 {
			return nil, nil
		}
	}
	if pdb.Status.ObservedGeneration < pdb.Generation {
		err := apierrors.NewTooManyRequests(MessageViolatesBudget, 10)
		err.ErrStatus.Details.Causes = append(err.ErrStatus.Details.Causes, metav1.StatusCause{
			Type: policyv1.DisruptionBudgetCause, Message: fmt.Sprintf("The disruption budget %s is still being processed by the server.", pdb.Name),
		})
		return nil, err
	}
	if pdb.Status.DisruptionsAllowed < 0 {
		return nil, apierrors.NewForbidden(policyv1.Resource("poddisruptionbudget"), pdb.Name, fmt.Errorf("pdb disruptions allowed is negative"))
	}
	if len(pdb.Status.DisruptedPods) > MaxDisruptedPods {
		return nil, apierrors.NewForbidden(policyv1.Resource("poddisruptionbudget"), pdb.Name, fmt.Errorf("DisruptedPods map too big - too many evictions not confirmed by PDB controller"))
	}
	if pdb.Status.DisruptionsAllowed == 0 {
		err := apierrors.NewTooManyRequests(MessageViolatesBudget, 0)
		err.ErrStatus.Details.Causes = append(err.ErrStatus.Details.Causes, metav1.StatusCause{
			Type: policyv1.DisruptionBudgetCause, Message: fmt.Sprintf("The disruption budget %s needs %d healthy pods and has %d currently", pdb.Name, pdb.Status.DesiredHealthy, pdb.Status.CurrentHealthy),
		})
		return nil, err
	}
	return pdb.DeepCopy(), nil
}

// RecordEviction applies to pdb (as returned by CheckEviction) the
// eviction of the pod named podName at now, as upstream's eviction
// handler does before deleting: one disruption fewer (the condition
// following when none is left) and the pod noted in disruptedPods, so
// that the controller counts it as gone until DefaultDeletionTimeout
// passes. The caller writes the status (skipping it on a dry run).
func RecordEviction(pdb *policyv1.PodDisruptionBudget, podName string, now time.Time) {
	pdb.Status.DisruptionsAllowed--
	if pdb.Status.DisruptionsAllowed == 0 {
		setDisruptionAllowed(pdb)
	}
	if pdb.Status.DisruptedPods == nil {
		pdb.Status.DisruptedPods = map[string]metav1.Time{}
	}
	pdb.Status.DisruptedPods[podName] = metav1.NewTime(now)
}
