// Package cronjob implements the batch/v1 CronJob controller: it creates
// a Job from spec.jobTemplate at each time spec.schedule names, as
// upstream's cronjob controller (v2) does.
//
// Schedules are parsed by github.com/robfig/cron/v3 (ParseStandard), the
// library upstream uses, and the same call validates spec.schedule in
// pkg/validation: standard five-field expressions with ranges, lists,
// steps, month and weekday names, the @yearly ... @hourly macros and
// @every <duration>, evaluated in spec.timeZone (the controller's zone
// when unset). A CRON_TZ= or TZ= prefix, which the API rejects on new
// objects, is honoured as upstream's parser does.
//
// Each Job is named <cronjob>-<scheduled time in minutes since the epoch>,
// carries the batch.kubernetes.io/cronjob-scheduled-timestamp annotation
// and a controller reference to the CronJob; only Jobs with such a
// reference count as the CronJob's (a Job made with kubectl create job
// --from has none that marks a controller). Missed times are caught up
// once: only the most recent runs, unless it is older than
// startingDeadlineSeconds; more than 100 missed times are reported.
// concurrencyPolicy Forbid skips a time while a Job runs, Replace deletes
// the running Jobs first. Finished Jobs beyond the history limits are
// deleted, oldest first. The controller requeues each CronJob for its next
// time instead of polling.
package cronjob
