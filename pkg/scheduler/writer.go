package scheduler

import (
	"context"
	"fmt"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
)

// writeTimeout bounds each binding, status or event write, so a slow API
// server holds a binder, an event writer or (for status writes on the
// unschedulable path) the scheduling loop up only so long.
const writeTimeout = 10 * time.Second

// setCondition sets a pod condition; false if it was already so.
func setCondition(pod *v1.Pod, c v1.PodCondition) bool {
	for i := range pod.Status.Conditions {
		cur := &pod.Status.Conditions[i]
		if cur.Type != c.Type {
			continue
		}
		if cur.Status == c.Status && cur.Reason == c.Reason && cur.Message == c.Message {
			return false
		}
		if cur.Status == c.Status {
			c.LastTransitionTime = cur.LastTransitionTime
		}
		*cur = c
		return true
	}
	pod.Status.Conditions = append(pod.Status.Conditions, c)
	return true
}

// markUnschedulable records PodScheduled=False/Unschedulable with msg and
// the nominated node ("" clears it) on the pod, if they changed.
func (s *Scheduler) markUnschedulable(ctx context.Context, pod *v1.Pod, msg, nominate string) error {
	cond := v1.PodCondition{Type: v1.PodScheduled, Status: v1.ConditionFalse, Reason: v1.PodReasonUnschedulable, Message: msg, LastTransitionTime: metav1.NewTime(s.now())}
	return s.updateStatus(ctx, pod, func(p *v1.Pod) bool {
		if p.Spec.NodeName != "" {
			return false // bound meanwhile
		}
		changed := setCondition(p, cond)
		if p.Status.NominatedNodeName != nominate {
			p.Status.NominatedNodeName = nominate
			changed = true
		}
		return changed
	})
}

// markDisruptionTarget tells a preemption victim why it goes, as upstream.
func (s *Scheduler) markDisruptionTarget(ctx context.Context, victim *v1.Pod) error {
	cond := v1.PodCondition{Type: v1.DisruptionTarget, Status: v1.ConditionTrue, Reason: v1.PodReasonPreemptionByScheduler,
		Message: SchedulerName + ": preempting to accommodate a higher priority pod", LastTransitionTime: metav1.NewTime(s.now())}
	return s.updateStatus(ctx, victim, func(p *v1.Pod) bool { return setCondition(p, cond) })
}

// updateStatus applies mutate to the pod's status and writes it, first
// from the cached copy, then from fresh reads on conflict.
func (s *Scheduler) updateStatus(ctx context.Context, pod *v1.Pod, mutate func(*v1.Pod) bool) error {
	ctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	pods := s.client.CoreV1().Pods(pod.Namespace)
	cur := pod.DeepCopy()
	first := true
	err := retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		if !first {
			fresh, err := pods.Get(ctx, pod.Name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			if fresh.UID != pod.UID {
				return nil // replaced by a namesake
			}
			cur = fresh
		}
		first = false
		if !mutate(cur) {
			return nil
		}
		_, err := pods.UpdateStatus(ctx, cur, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("update status of %s: %w", podKey(pod), err)
	}
	return nil
}

// event records an Event about pod as the default-scheduler. The
// recorder writes it asynchronously, so the scheduling loop never waits
// for it; action (upstream's events.k8s.io field) is not kept by the
// core Events the recorder writes.
func (s *Scheduler) event(pod *v1.Pod, eventType, reason, _ /* action */, msg string) {
	s.recorder.Event(pod, eventType, reason, msg)
}
