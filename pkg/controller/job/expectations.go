package job

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// expectationTTL bounds how long a sync waits for the informer to show
// its own writes, as upstream's ExpectationsTimeout.
const expectationTTL = 5 * time.Minute

// pending is what a Job's last sync wrote and the cache has not shown yet.
type pending struct {
	creations int
	deletions map[types.UID]bool
	// finalizers are pods whose tracking finalizer was removed (and the
	// pod counted): the cache must not make them count twice.
	finalizers map[types.UID]bool
	since      time.Time
}

// expectations guard a Job's syncs against a stale pod cache.
type expectations struct {
	mu   sync.Mutex
	jobs map[string]*pending
}

func (e *expectations) entry(key string) *pending {
	if e.jobs == nil {
		e.jobs = map[string]*pending{}
	}
	p := e.jobs[key]
	if p == nil {
		p = &pending{deletions: map[types.UID]bool{}, finalizers: map[types.UID]bool{}}
		e.jobs[key] = p
	}
	return p
}

// satisfied reports whether creations and deletions have all been seen
// (or have waited too long).
func (e *expectations) satisfied(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	p := e.jobs[key]
	if p == nil || (p.creations <= 0 && len(p.deletions) == 0) {
		return true
	}
	if time.Since(p.since) > expectationTTL {
		p.creations, p.deletions = 0, map[types.UID]bool{}
		return true
	}
	return false
}

func (e *expectations) expectCreations(key string, n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	p := e.entry(key)
	p.creations += n
	p.since = time.Now()
}

func (e *expectations) creationObserved(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if p := e.jobs[key]; p != nil && p.creations > 0 {
		p.creations--
	}
}

func (e *expectations) expectDeletion(key string, uid types.UID) {
	e.mu.Lock()
	defer e.mu.Unlock()
	p := e.entry(key)
	p.deletions[uid] = true
	p.since = time.Now()
}

func (e *expectations) deletionObserved(key string, uid types.UID) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if p := e.jobs[key]; p != nil {
		delete(p.deletions, uid)
	}
}

func (e *expectations) expectFinalizerRemoval(key string, uid types.UID) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.entry(key).finalizers[uid] = true
}

func (e *expectations) finalizerRemovalObserved(key string, uid types.UID) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if p := e.jobs[key]; p != nil {
		delete(p.finalizers, uid)
	}
}

// finalizerRemovalPending reports whether uid's finalizer removal is
// still to show in the cache.
func (e *expectations) finalizerRemovalPending(key string, uid types.UID) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	p := e.jobs[key]
	return p != nil && p.finalizers[uid]
}

func (e *expectations) forget(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.jobs, key)
}
