// Package resourcequota is the quota controller: it keeps every
// ResourceQuota's status.hard equal to spec.hard and status.used equal to
// what the namespace's objects use (pkg/quota evaluators over the shared
// informers). It recalculates a quota when its spec changes, when an
// object it counts is deleted or stops counting (a pod reaching a
// terminal phase, a service changing type), and all quotas on a periodic
// resync (upstream's 5 minutes). Admission charges new objects itself, so
// creates need no recalculation.
package resourcequota
