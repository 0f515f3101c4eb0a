package printers

import (
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"
)

var jobColumns = []metav1.TableColumnDefinition{
	nameColumn(),
	column("Status", "string", "Status of the job."),
	column("Completions", "string", batchv1.JobStatus{}.SwaggerDoc()["succeeded"]),
	column("Duration", "string", "Time required to complete the job."),
	ageColumn(),
	containersColumn(),
	imagesColumn(),
	wide(column("Selector", "string", batchv1.JobSpec{}.SwaggerDoc()["selector"])),
}

func jobRow(job *batchv1.Job, now time.Time) metav1.TableRow {
	names, images := containerCells(job.Spec.Template.Spec.Containers)
	return cells(job.Name, jobStatus(job), jobCompletions(job), jobDuration(job, now), age(job.CreationTimestamp, now),
		names, images, metav1.FormatLabelSelector(job.Spec.Selector))
}

// jobStatus mirrors the 1.32 STATUS column: terminal conditions win over
// deletion, which wins over the transient conditions.
func jobStatus(job *batchv1.Job) string {
	switch {
	case jobCondition(job, batchv1.JobComplete):
		return "Complete"
	case jobCondition(job, batchv1.JobFailed):
		return "Failed"
	case job.DeletionTimestamp != nil:
		return "Terminating"
	case jobCondition(job, batchv1.JobSuspended):
		return "Suspended"
	case jobCondition(job, batchv1.JobFailureTarget):
		return "FailureTarget"
	}
	return "Running"
}

// jobCondition reports whether the first condition of type t is True.
func jobCondition(job *batchv1.Job, t batchv1.JobConditionType) bool {
	for _, c := range job.Status.Conditions {
		if c.Type == t {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// jobCompletions is "succeeded/completions"; work-queue jobs (no
// completions) need one success, and show their parallelism when > 1.
func jobCompletions(job *batchv1.Job) string {
	if job.Spec.Completions != nil {
		return fmt.Sprintf("%d/%d", job.Status.Succeeded, *job.Spec.Completions)
	}
	if p := job.Spec.Parallelism; p != nil && *p > 1 {
		return fmt.Sprintf("%d/1 of %d", job.Status.Succeeded, *p)
	}
	return fmt.Sprintf("%d/1", job.Status.Succeeded)
}

// jobDuration is empty before the job starts and keeps growing until it
// completes.
func jobDuration(job *batchv1.Job, now time.Time) string {
	switch {
	case job.Status.StartTime == nil:
		return ""
	case job.Status.CompletionTime == nil:
		return duration.HumanDuration(now.Sub(job.Status.StartTime.Time))
	}
	return duration.HumanDuration(job.Status.CompletionTime.Sub(job.Status.StartTime.Time))
}

var cronJobColumns = []metav1.TableColumnDefinition{
	nameColumn(),
	column("Schedule", "string", batchv1.CronJobSpec{}.SwaggerDoc()["schedule"]),
	column("Timezone", "string", batchv1.CronJobSpec{}.SwaggerDoc()["timeZone"]),
	column("Suspend", "boolean", batchv1.CronJobSpec{}.SwaggerDoc()["suspend"]),
	column("Active", "integer", batchv1.CronJobStatus{}.SwaggerDoc()["active"]),
	column("Last Schedule", "string", batchv1.CronJobStatus{}.SwaggerDoc()["lastScheduleTime"]),
	ageColumn(),
	containersColumn(),
	imagesColumn(),
	wide(column("Selector", "string", batchv1.JobSpec{}.SwaggerDoc()["selector"])),
}

func cronJobRow(cj *batchv1.CronJob, now time.Time) metav1.TableRow {
	last := none
	if t := cj.Status.LastScheduleTime; t != nil {
		last = age(*t, now)
	}
	tmpl := cj.Spec.JobTemplate.Spec
	names, images := containerCells(tmpl.Template.Spec.Containers)
	return cells(cj.Name, cj.Spec.Schedule, strOr(cj.Spec.TimeZone, none), boolPtr(cj.Spec.Suspend),
		int64(len(cj.Status.Active)), last, age(cj.CreationTimestamp, now),
		names, images, metav1.FormatLabelSelector(tmpl.Selector))
}
