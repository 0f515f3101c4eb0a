package job

import (
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Messages of the conditions, as upstream's.
const (
	msgBackoffLimit     = "Job has reached the specified backoff limit"
	msgDeadline         = "Job was active longer than specified deadline"
	msgMaxFailedIndexes = "Job has exceeded the specified maximal number of failed indexes"
	msgFailedIndexes    = "Job has failed indexes"
	msgCompletions      = "Reached expected number of succeeded pods"
)

func newCondition(t batchv1.JobConditionType, reason, message string, now metav1.Time) *batchv1.JobCondition {
	return &batchv1.JobCondition{Type: t, Status: corev1.ConditionTrue, Reason: reason, Message: message, LastProbeTime: now, LastTransitionTime: now}
}

// findCondition returns the condition of type t when it is True.
func findCondition(job *batchv1.Job, t batchv1.JobConditionType) *batchv1.JobCondition {
	for i := range job.Status.Conditions {
		if c := &job.Status.Conditions[i]; c.Type == t && c.Status == corev1.ConditionTrue {
			return c
		}
	}
	return nil
}

// IsFinished reports whether a Job has its Complete or Failed condition.
func IsFinished(job *batchv1.Job) bool {
	return findCondition(job, batchv1.JobComplete) != nil || findCondition(job, batchv1.JobFailed) != nil
}

// setCondition adds or updates a condition; it reports a change.
func setCondition(job *batchv1.Job, t batchv1.JobConditionType, status corev1.ConditionStatus, reason, message string, now metav1.Time) bool {
	for i := range job.Status.Conditions {
		c := &job.Status.Conditions[i]
		if c.Type != t {
			continue
		}
		if c.Status == status && c.Reason == reason && c.Message == message {
			return false
		}
		if c.Status != status {
			c.LastTransitionTime = now
		}
		c.Status, c.Reason, c.Message, c.LastProbeTime = status, reason, message, now
		return true
	}
	if status != corev1.ConditionTrue {
		return false // absent means not so
	}
	job.Status.Conditions = append(job.Status.Conditions, *newCondition(t, reason, message, now))
	return true
}

// finalType is the terminal condition an interim one leads to.
func finalType(t batchv1.JobConditionType) batchv1.JobConditionType {
	switch t {
	case batchv1.JobFailureTarget:
		return batchv1.JobFailed
	case batchv1.JobSuccessCriteriaMet:
		return batchv1.JobComplete
	}
	return t
}

func suspended(job *batchv1.Job) bool { return job.Spec.Suspend != nil && *job.Spec.Suspend }
