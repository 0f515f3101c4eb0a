package cronjob

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/robfig/cron/v3"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
)

// tooManyMissed is upstream's threshold for reporting missed start times.
const tooManyMissed = 100

// nextPad is added to requeue delays so the clock has passed the time.
const nextPad = 100 * time.Millisecond

// sync reconciles one CronJob; requeue is when to look again.
func (c *Controller) sync(ctx context.Context, key string) (requeue time.Duration, err error) {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return 0, nil
	}
	shared, err := c.cronJobs.CronJobs(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	cj := shared.DeepCopy()
	all, err := c.jobs.Jobs(ns).List(labels.Everything())
	if err != nil {
		return 0, fmt.Errorf("list jobs: %w", err)
	}
	var children []*batchv1.Job
	for _, j := range all {
		if ref := metav1.GetControllerOf(j); ref != nil && ref.Kind == "CronJob" && ref.UID == cj.UID {
			children = append(children, j)
		}
	}
	if err := c.reconcileActive(ctx, cj, children); err != nil {
		return 0, err
	}
	requeue, createErr := c.schedule(ctx, cj)
	pruneErr := c.pruneHistory(ctx, cj, children)
	if !apiequality.Semantic.DeepEqual(cj.Status, shared.Status) {
		if _, err := c.client.BatchV1().CronJobs(ns).UpdateStatus(ctx, cj, metav1.UpdateOptions{FieldManager: fieldManager}); err != nil && !apierrors.IsNotFound(err) {
			return 0, errors.Join(createErr, fmt.Errorf("update status: %w", err))
		}
	}
	return requeue, errors.Join(createErr, pruneErr)
}

// reconcileActive brings status.active and lastSuccessfulTime in line
// with the Jobs.
func (c *Controller) reconcileActive(ctx context.Context, cj *batchv1.CronJob, children []*batchv1.Job) error {
	// A running Job missing from status.active is most often one this
	// controller just created, recorded in a status write its CronJob
	// cache has not caught up with. Trusting that cache would start a
	// second Job under Forbid (make test at dc449fd did): read the
	// CronJob from the API first, as upstream does.
	if slices.ContainsFunc(children, func(j *batchv1.Job) bool { done, _ := finished(j); return !done && !inActive(cj, j.UID) }) {
		fresh, err := c.client.BatchV1().CronJobs(cj.Namespace).Get(ctx, cj.Name, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("get cronjob: %w", err)
		}
		if fresh.UID == cj.UID {
			*cj = *fresh
		}
	}
	byUID := map[types.UID]*batchv1.Job{}
	for _, j := range children {
		byUID[j.UID] = j
		active := inActive(cj, j.UID)
		done, cond := finished(j)
		switch {
		case !active && !done:
			c.event(ctx, cj, corev1.EventTypeWarning, "UnexpectedJob", "Saw a job that the controller did not create or forgot: "+j.Name)
		case active && done:
			removeActive(cj, j.UID)
			c.event(ctx, cj, corev1.EventTypeNormal, "SawCompletedJob", fmt.Sprintf("Saw completed job: %s, condition: %v", j.Name, cond))
		}
		if cond == batchv1.JobComplete && j.Status.CompletionTime != nil {
			if t := cj.Status.LastSuccessfulTime; t == nil || j.Status.CompletionTime.After(t.Time) {
				cj.Status.LastSuccessfulTime = j.Status.CompletionTime.DeepCopy()
			}
		}
	}
	// Jobs of the list the cache does not show: ask the API before
	// forgetting them.
	for _, ref := range slices.Clone(cj.Status.Active) {
		if byUID[ref.UID] != nil {
			continue
		}
		j, err := c.client.BatchV1().Jobs(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err) || (err == nil && j.UID != ref.UID):
			removeActive(cj, ref.UID)
			c.event(ctx, cj, corev1.EventTypeNormal, "MissingJob", "Active job went missing: "+ref.Name)
		case err != nil:
			return fmt.Errorf("get job %s: %w", ref.Name, err)
		}
	}
	return nil
}

// schedule creates the Job of the most recent unmet schedule time.
func (c *Controller) schedule(ctx context.Context, cj *batchv1.CronJob) (time.Duration, error) {
	if cj.DeletionTimestamp != nil || ptr.Deref(cj.Spec.Suspend, false) {
		return 0, nil
	}
	now := c.clock.Now()
	loc := time.Local
	if tz := cj.Spec.TimeZone; tz != nil {
		l, err := time.LoadLocation(*tz)
		if err != nil {
			c.event(ctx, cj, corev1.EventTypeWarning, "UnknownTimeZone", fmt.Sprintf("invalid timeZone: %q: %s", *tz, err))
			return 0, nil
		}
		loc = l
	}
	sched, err := cron.ParseStandard(cj.Spec.Schedule)
	if err != nil {
		c.event(ctx, cj, corev1.EventTypeWarning, "UnparseableSchedule", fmt.Sprintf("unparseable schedule: %q : %s", cj.Spec.Schedule, err))
		return 0, nil
	}
	untilNext := func() time.Duration {
		next := sched.Next(now.In(loc))
		if next.IsZero() {
			return 0
		}
		return next.Sub(now) + nextPad
	}
	scheduled, missed := mostRecent(sched, earliest(cj, now), now.In(loc))
	if missed > tooManyMissed {
		c.event(ctx, cj, corev1.EventTypeWarning, "TooManyMissedTimes",
			fmt.Sprintf("too many missed start times: %d. Set or decrease .spec.startingDeadlineSeconds or check clock skew", missed))
	}
	if scheduled.IsZero() {
		return untilNext(), nil
	}
	if sds := cj.Spec.StartingDeadlineSeconds; sds != nil && scheduled.Add(time.Duration(*sds)*time.Second).Before(now) {
		c.event(ctx, cj, corev1.EventTypeWarning, "MissSchedule", fmt.Sprintf("Missed scheduled time to start a job: %s", scheduled.UTC().Format(time.RFC1123Z)))
		return untilNext(), nil
	}
	name := jobName(cj, scheduled)
	if slices.ContainsFunc(cj.Status.Active, func(r corev1.ObjectReference) bool { return r.Name == name }) ||
		(cj.Status.LastScheduleTime != nil && cj.Status.LastScheduleTime.Equal(&metav1.Time{Time: scheduled})) {
		return untilNext(), nil // done already
	}
	switch cj.Spec.ConcurrencyPolicy {
	case batchv1.ForbidConcurrent:
		if len(cj.Status.Active) > 0 {
			c.event(ctx, cj, corev1.EventTypeNormal, "JobAlreadyActive", "Not starting job because prior execution is running and concurrency policy is Forbid")
			return untilNext(), nil
		}
	case batchv1.ReplaceConcurrent:
		for _, ref := range slices.Clone(cj.Status.Active) {
			err := c.client.BatchV1().Jobs(ref.Namespace).Delete(ctx, ref.Name, metav1.DeleteOptions{
				PropagationPolicy: ptr.To(metav1.DeletePropagationBackground),
				Preconditions:     metav1.NewUIDPreconditions(string(ref.UID)),
			})
			if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
				c.event(ctx, cj, corev1.EventTypeWarning, "FailedDelete", fmt.Sprintf("Deleted job: %v", err))
				return 0, fmt.Errorf("replace job %s: %w", ref.Name, err)
			}
			removeActive(cj, ref.UID)
			c.event(ctx, cj, corev1.EventTypeNormal, "SuccessfulDelete", "Deleted job "+ref.Name)
		}
	}
	job, err := c.client.BatchV1().Jobs(cj.Namespace).Create(ctx, jobFor(cj, scheduled, name), metav1.CreateOptions{FieldManager: fieldManager})
	switch {
	case apierrors.IsAlreadyExists(err):
		existing, gerr := c.client.BatchV1().Jobs(cj.Namespace).Get(ctx, name, metav1.GetOptions{})
		if gerr != nil {
			return 0, fmt.Errorf("get job %s: %w", name, gerr)
		}
		if ref := metav1.GetControllerOf(existing); ref == nil || ref.UID != cj.UID {
			c.event(ctx, cj, corev1.EventTypeWarning, "FailedCreate", fmt.Sprintf("Error creating job: job %s exists and is not ours", name))
			return untilNext(), nil
		}
		job = existing
	case err != nil:
		c.event(ctx, cj, corev1.EventTypeWarning, "FailedCreate", fmt.Sprintf("Error creating job: %v", err))
		return 0, fmt.Errorf("create job: %w", err)
	default:
		c.event(ctx, cj, corev1.EventTypeNormal, "SuccessfulCreate", "Created job "+job.Name)
	}
	if done, _ := finished(job); !done && !inActive(cj, job.UID) {
		cj.Status.Active = append(cj.Status.Active, corev1.ObjectReference{
			Kind: "Job", APIVersion: "batch/v1", Namespace: job.Namespace, Name: job.Name, UID: job.UID, ResourceVersion: job.ResourceVersion,
		})
	}
	cj.Status.LastScheduleTime = &metav1.Time{Time: scheduled}
	return untilNext(), nil
}

// earliest is when missed times start: the last schedule (or creation),
// no earlier than startingDeadlineSeconds ago.
func earliest(cj *batchv1.CronJob, now time.Time) time.Time {
	t := cj.CreationTimestamp.Time
	if cj.Status.LastScheduleTime != nil {
		t = cj.Status.LastScheduleTime.Time
	}
	if sds := cj.Spec.StartingDeadlineSeconds; sds != nil {
		if d := now.Add(-time.Duration(*sds) * time.Second); d.After(t) {
			t = d
		}
	}
	return t
}

// jobName is <cronjob>-<minutes since the epoch>.
func jobName(cj *batchv1.CronJob, scheduled time.Time) string {
	return fmt.Sprintf("%s-%d", cj.Name, scheduled.Unix()/60)
}

func jobFor(cj *batchv1.CronJob, scheduled time.Time, name string) *batchv1.Job {
	t := cj.Spec.JobTemplate.DeepCopy()
	annotations := t.Annotations
	if annotations == nil {
		annotations = map[string]string{}
	}
	annotations[batchv1.CronJobScheduledTimestampAnnotation] = scheduled.Format(time.RFC3339)
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: cj.Namespace, Labels: t.Labels, Annotations: annotations,
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "batch/v1", Kind: "CronJob", Name: cj.Name, UID: cj.UID,
				Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true),
			}},
		},
		Spec: t.Spec,
	}
}

// finished reports whether a Job ended and how.
func finished(j *batchv1.Job) (bool, batchv1.JobConditionType) {
	for _, c := range j.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			return true, c.Type
		}
	}
	return false, ""
}

func inActive(cj *batchv1.CronJob, uid types.UID) bool {
	return slices.ContainsFunc(cj.Status.Active, func(r corev1.ObjectReference) bool { return r.UID == uid })
}

func removeActive(cj *batchv1.CronJob, uid types.UID) {
	cj.Status.Active = slices.DeleteFunc(cj.Status.Active, func(r corev1.ObjectReference) bool { return r.UID == uid })
}

// pruneHistory deletes the oldest finished Jobs beyond the limits.
func (c *Controller) pruneHistory(ctx context.Context, cj *batchv1.CronJob, children []*batchv1.Job) error {
	if cj.Spec.SuccessfulJobsHistoryLimit == nil && cj.Spec.FailedJobsHistoryLimit == nil {
		return nil
	}
	var ok, failed []*batchv1.Job
	for _, j := range children {
		switch _, cond := finished(j); cond {
		case batchv1.JobComplete:
			ok = append(ok, j)
		case batchv1.JobFailed:
			failed = append(failed, j)
		}
	}
	var errs []error
	for _, set := range []struct {
		jobs  []*batchv1.Job
		limit *int32
	}{{ok, cj.Spec.SuccessfulJobsHistoryLimit}, {failed, cj.Spec.FailedJobsHistoryLimit}} {
		if set.limit == nil || len(set.jobs) <= int(*set.limit) {
			continue
		}
		slices.SortFunc(set.jobs, func(a, b *batchv1.Job) int { return startTime(a).Compare(startTime(b)) })
		for _, j := range set.jobs[:len(set.jobs)-int(*set.limit)] {
			err := c.client.BatchV1().Jobs(j.Namespace).Delete(ctx, j.Name, metav1.DeleteOptions{
				PropagationPolicy: ptr.To(metav1.DeletePropagationBackground),
				Preconditions:     metav1.NewUIDPreconditions(string(j.UID)),
			})
			if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
				errs = append(errs, fmt.Errorf("delete job %s: %w", j.Name, err))
				continue
			}
			removeActive(cj, j.UID)
			c.event(ctx, cj, corev1.EventTypeNormal, "SuccessfulDelete", "Deleted job "+j.Name)
		}
	}
	return errors.Join(errs...)
}

// startTime orders Jobs for pruning: start time, else creation.
func startTime(j *batchv1.Job) time.Time {
	if j.Status.StartTime != nil {
		return j.Status.StartTime.Time
	}
	return j.CreationTimestamp.Time
}
