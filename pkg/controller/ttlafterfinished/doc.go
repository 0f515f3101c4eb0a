// Package ttlafterfinished deletes finished Jobs that set
// spec.ttlSecondsAfterFinished once that many seconds have passed since
// they finished (the time of their Complete or Failed condition), as
// upstream's TTL-after-finished controller does. Each Job is requeued for
// its expiry; before deleting, the controller reads the Job afresh in case
// its TTL changed. Deletion propagates in the background: the garbage
// collector removes the Job's pods.
package ttlafterfinished
