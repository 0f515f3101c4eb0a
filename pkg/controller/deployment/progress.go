package deployment

import (
	"context"
	"fmt"
	"reflect"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Condition reasons, as upstream's.
const (
	NewRSReason                = "NewReplicaSetCreated"
	FoundNewRSReason           = "FoundNewReplicaSet"
	RSUpdatedReason            = "ReplicaSetUpdated"
	NewRSAvailableReason       = "NewReplicaSetAvailable"
	TimedOutReason             = "ProgressDeadlineExceeded"
	FailedRSCreateReason       = "ReplicaSetCreateError"
	PausedReason               = "DeploymentPaused"
	ResumedReason              = "DeploymentResumed"
	MinimumReplicasAvailable   = "MinimumReplicasAvailable"
	MinimumReplicasUnavailable = "MinimumReplicasUnavailable"
)

func hasProgressDeadline(d *appsv1.Deployment) bool {
	return d.Spec.ProgressDeadlineSeconds != nil && *d.Spec.ProgressDeadlineSeconds != (1<<31)-1
}

func (c *Controller) newCondition(t appsv1.DeploymentConditionType, s corev1.ConditionStatus, reason, msg string) *appsv1.DeploymentCondition {
	now := metav1.NewTime(c.now())
	return &appsv1.DeploymentCondition{Type: t, Status: s, Reason: reason, Message: msg, LastUpdateTime: now, LastTransitionTime: now}
}

func condition(st appsv1.DeploymentStatus, t appsv1.DeploymentConditionType) *appsv1.DeploymentCondition {
	for i := range st.Conditions {
		if st.Conditions[i].Type == t {
			return &st.Conditions[i]
		}
	}
	return nil
}

// setCondition sets cond unless one of its type already has its status
// and reason; a same-status change keeps the transition time.
func setCondition(st *appsv1.DeploymentStatus, cond appsv1.DeploymentCondition) {
	cur := condition(*st, cond.Type)
	if cur != nil && cur.Status == cond.Status && cur.Reason == cond.Reason {
		return
	}
	if cur != nil && cur.Status == cond.Status {
		cond.LastTransitionTime = cur.LastTransitionTime
	}
	removeCondition(st, cond.Type)
	st.Conditions = append(st.Conditions, cond)
}

func removeCondition(st *appsv1.DeploymentStatus, t appsv1.DeploymentConditionType) {
	var out []appsv1.DeploymentCondition
	for _, c := range st.Conditions {
		if c.Type != t {
			out = append(out, c)
		}
	}
	st.Conditions = out
}

// calculateStatus sums the ReplicaSets' counts and sets Available.
func (c *Controller) calculateStatus(d *appsv1.Deployment, all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) appsv1.DeploymentStatus {
	avail := statusSum(all, available)
	st := appsv1.DeploymentStatus{
		ObservedGeneration:  d.Generation,
		Replicas:            statusSum(all, actual),
		UpdatedReplicas:     statusSum([]*appsv1.ReplicaSet{newRS}, actual),
		ReadyReplicas:       statusSum(all, ready),
		AvailableReplicas:   avail,
		UnavailableReplicas: max(specSum(all)-avail, 0),
		CollisionCount:      d.Status.CollisionCount,
	}
	st.Conditions = append(st.Conditions, d.Status.Conditions...)
	if avail >= replicas(d)-maxUnavailable(d) {
		setCondition(&st, *c.newCondition(appsv1.DeploymentAvailable, corev1.ConditionTrue, MinimumReplicasAvailable, "Deployment has minimum availability."))
	} else {
		setCondition(&st, *c.newCondition(appsv1.DeploymentAvailable, corev1.ConditionFalse, MinimumReplicasUnavailable, "Deployment does not have minimum availability."))
	}
	return st
}

// deploymentComplete: every wanted replica is updated and available, and
// the status is of the current generation.
func deploymentComplete(d *appsv1.Deployment, st *appsv1.DeploymentStatus) bool {
	n := replicas(d)
	return st.UpdatedReplicas == n && st.Replicas == n && st.AvailableReplicas == n && st.ObservedGeneration >= d.Generation
}

// deploymentProgressing: the new status moved toward the new template.
func deploymentProgressing(d *appsv1.Deployment, st *appsv1.DeploymentStatus) bool {
	was := d.Status
	return st.UpdatedReplicas > was.UpdatedReplicas ||
		st.Replicas-st.UpdatedReplicas < was.Replicas-was.UpdatedReplicas ||
		st.ReadyReplicas > was.ReadyReplicas ||
		st.AvailableReplicas > was.AvailableReplicas
}

// deploymentTimedOut: no progress for progressDeadlineSeconds.
func (c *Controller) deploymentTimedOut(d *appsv1.Deployment, st *appsv1.DeploymentStatus) bool {
	if !hasProgressDeadline(d) {
		return false
	}
	cond := condition(*st, appsv1.DeploymentProgressing)
	if cond == nil || cond.Reason == NewRSAvailableReason {
		return false
	}
	if cond.Reason == TimedOutReason {
		return true
	}
	deadline := cond.LastUpdateTime.Add(time.Duration(*d.Spec.ProgressDeadlineSeconds) * time.Second)
	return deadline.Before(c.now())
}

// syncRolloutStatus writes the status of a rollout step, with the
// Progressing condition, and schedules the deadline check.
func (c *Controller) syncRolloutStatus(ctx context.Context, d *appsv1.Deployment, all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) error {
	st := c.calculateStatus(d, all, newRS)
	if !hasProgressDeadline(d) {
		removeCondition(&st, appsv1.DeploymentProgressing)
	}
	cur := condition(d.Status, appsv1.DeploymentProgressing)
	complete := st.Replicas == st.UpdatedReplicas && cur != nil && cur.Reason == NewRSAvailableReason
	if hasProgressDeadline(d) && !complete {
		subject := fmt.Sprintf("Deployment %q", d.Name)
		if newRS != nil {
			subject = fmt.Sprintf("ReplicaSet %q", newRS.Name)
		}
		switch {
		case deploymentComplete(d, &st):
			setCondition(&st, *c.newCondition(appsv1.DeploymentProgressing, corev1.ConditionTrue, NewRSAvailableReason, subject+" has successfully progressed."))
		case deploymentProgressing(d, &st):
			cond := c.newCondition(appsv1.DeploymentProgressing, corev1.ConditionTrue, RSUpdatedReason, subject+" is progressing.")
			if cur != nil {
				if cur.Status == corev1.ConditionTrue {
					cond.LastTransitionTime = cur.LastTransitionTime
				}
				removeCondition(&st, appsv1.DeploymentProgressing)
			}
			setCondition(&st, *cond)
		case c.deploymentTimedOut(d, &st):
			setCondition(&st, *c.newCondition(appsv1.DeploymentProgressing, corev1.ConditionFalse, TimedOutReason, subject+" has timed out progressing."))
		}
	}
	if failure := replicaFailure(all, newRS); failure != nil {
		setCondition(&st, *failure)
	} else {
		removeCondition(&st, appsv1.DeploymentReplicaFailure)
	}
	if reflect.DeepEqual(d.Status, st) {
		c.requeueStuck(d, st)
		return nil
	}
	d.Status = st
	return c.writeStatus(ctx, d)
}

// replicaFailure lifts a ReplicaSet's ReplicaFailure condition, the new
// ReplicaSet's first.
func replicaFailure(all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) *appsv1.DeploymentCondition {
	from := func(rs *appsv1.ReplicaSet) *appsv1.DeploymentCondition {
		for _, c := range rs.Status.Conditions {
			if c.Type == appsv1.ReplicaSetReplicaFailure {
				return &appsv1.DeploymentCondition{Type: appsv1.DeploymentReplicaFailure, Status: c.Status, Reason: c.Reason, Message: c.Message,
					LastUpdateTime: c.LastTransitionTime, LastTransitionTime: c.LastTransitionTime}
			}
		}
		return nil
	}
	if newRS != nil {
		if c := from(newRS); c != nil {
			return c
		}
	}
	for _, rs := range all {
		if rs != nil && rs != newRS {
			if c := from(rs); c != nil {
				return c
			}
		}
	}
	return nil
}

// requeueStuck schedules a sync for when a stalled rollout would pass its
// progress deadline; nothing else would wake the controller then.
func (c *Controller) requeueStuck(d *appsv1.Deployment, st appsv1.DeploymentStatus) {
	cur := condition(d.Status, appsv1.DeploymentProgressing)
	if !hasProgressDeadline(d) || cur == nil || deploymentComplete(d, &st) || cur.Reason == TimedOutReason {
		return
	}
	after := cur.LastUpdateTime.Add(time.Duration(*d.Spec.ProgressDeadlineSeconds) * time.Second).Sub(c.now())
	if after < time.Second {
		if key, err := keyOf(d); err == nil {
			c.queue.AddRateLimited(key)
		}
		return
	}
	c.enqueueAfter(d, after+time.Second)
}
