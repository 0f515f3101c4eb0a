// Package job implements the batch/v1 Job controller: it runs a Job's pods
// until enough of them succeed, or the Job fails, as upstream's job
// controller does.
//
// Modes: a Job without completions is a work queue (done once one pod
// succeeded and all have ended); with completions, NonIndexed Jobs need
// that many successes and Indexed Jobs one success per index 0…n-1, each
// pod carrying its index in the batch.kubernetes.io/job-completion-index
// annotation and label, the JOB_COMPLETION_INDEX environment variable and
// the hostname <job>-<index>. At most parallelism pods run at once.
//
// Accounting survives pod deletion as upstream's: every pod is created
// with the batch.kubernetes.io/job-tracking finalizer; a pod that ended is
// first written to status.uncountedTerminatedPods, then loses the
// finalizer, then moves to status.succeeded or status.failed (Indexed
// Jobs record status.completedIndexes instead of UIDs).
//
// Failure: failed pods count against backoffLimit (with restartPolicy
// OnFailure container restarts do too); replacements wait an exponential
// back-off (Config.PodFailureBackoff doubling, capped at
// Config.MaxPodFailureBackoff). activeDeadlineSeconds, podFailurePolicy
// (FailJob, Ignore, Count, FailIndex on exit codes and pod conditions),
// backoffLimitPerIndex and maxFailedIndexes end a Job too. As upstream
// since 1.31, the controller first sets the interim FailureTarget or
// SuccessCriteriaMet condition, removes the remaining pods, and adds the
// terminal Failed or Complete condition (same reason) once no pod is
// terminating. A suspended Job has its active pods deleted and the
// Suspended condition set; resuming resets status.startTime.
//
// A Job not yet finished adopts the pods its selector matches that have
// no controller, adding the tracking finalizer, and releases those it
// controls whose labels stop matching, removing the finalizer
// (pkg/controller/refmanager), as upstream's does.
package job
