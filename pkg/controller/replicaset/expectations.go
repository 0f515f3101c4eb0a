package replicaset

import (
	"sync"
	"time"
)

// expectationsTTL bounds how long unobserved writes hold a workload back:
// a watch event that never arrives must not stall it for ever (upstream
// waits five minutes too).
const expectationsTTL = 5 * time.Minute

// expectations records, per workload key, the pod creations and deletions
// the controller has asked for and the informer has not yet shown. A
// workload is synced (pods created or deleted) only while nothing is
// pending, so a burst of writes is never repeated because the cache lags.
//
// Creations are counted: any new pod of the workload seen by the informer
// observes one. Deletions are tracked by pod key, so a pod first seen
// with a deletionTimestamp and then seen gone is observed once.
type expectations struct {
	mu  sync.Mutex
	m   map[string]*expected
	now func() time.Time
}

type expected struct {
	adds      int
	deletions map[string]struct{} // pod keys
	since     time.Time
}

func newExpectations(now func() time.Time) *expectations {
	return &expectations{m: map[string]*expected{}, now: now}
}

// satisfied reports whether key may be synced: no record, nothing
// pending, or a record older than expectationsTTL.
func (e *expectations) satisfied(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	x, ok := e.m[key]
	if !ok {
		return true
	}
	return (x.adds <= 0 && len(x.deletions) == 0) || e.now().Sub(x.since) > expectationsTTL
}

// expectCreations replaces key's record by n creations.
func (e *expectations) expectCreations(key string, n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.m[key] = &expected{adds: n, since: e.now()}
}

// expectDeletions replaces key's record by the deletion of podKeys.
func (e *expectations) expectDeletions(key string, podKeys []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	x := &expected{deletions: make(map[string]struct{}, len(podKeys)), since: e.now()}
	for _, k := range podKeys {
		x.deletions[k] = struct{}{}
	}
	e.m[key] = x
}

// creationObserved lowers key's pending creations by one: a pod was seen,
// or a creation failed or was skipped.
func (e *expectations) creationObserved(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.m[key]; ok && x.adds > 0 {
		x.adds--
	}
}

// deletionObserved drops podKey from key's pending deletions.
func (e *expectations) deletionObserved(key, podKey string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.m[key]; ok {
		delete(x.deletions, podKey)
	}
}

// forget drops key's record (the workload is gone).
func (e *expectations) forget(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.m, key)
}
