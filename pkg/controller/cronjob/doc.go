// Package cronjob implements the batch/v1 CronJob controller: it creates
// a Job from spec.jobTemplate at each time spec.schedule names, as
// upstream's cronjob controller (v2) does.
//
// Schedules are standard five-field cron expressions (minute, hour, day of
// month, month, day of week) with ranges, lists, steps, month and weekday
// names, and the @yearly, @annually, @monthly, @weekly, @daily, @midnight
// and @hourly macros, evaluated in spec.timeZone (the controller's zone
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
