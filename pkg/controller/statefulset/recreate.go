package statefulset

import (
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Back-off of the recreation of finished pods. A pod that fails at once
// every time (the node rejects it: a host port taken, no room, a taint)
// is recreated at once the first time, as upstream does, and then after
// a delay doubling from recreateBase up to recreateMax, rather than in a
// tight loop of creations, deletions and events (upstream issue 89067).
// A pod of that ordinal seen running, or quiet for recreateForget,
// starts the count again.
const (
	recreateBase   = time.Second
	recreateMax    = 30 * time.Second
	recreateForget = 5 * time.Minute
)

// recreations counts, per set and ordinal, the finished pods recreated in
// a row.
type recreations struct {
	mu    sync.Mutex
	bySet map[string]map[int]*recreation // set key -> ordinal
}

type recreation struct {
	last  types.UID // the last finished pod counted
	count int
	seen  time.Time // when it was first seen finished
}

// delay is how long to wait before deleting the finished pod (of ordinal
// ord of the set setKey) for its replacement; 0 deletes it now.
func (r *recreations) delay(setKey string, ord int, pod *corev1.Pod, now time.Time) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.bySet == nil {
		r.bySet = map[string]map[int]*recreation{}
	}
	ords := r.bySet[setKey]
	if ords == nil {
		ords = map[int]*recreation{}
		r.bySet[setKey] = ords
	}
	rec := ords[ord]
	if rec == nil || now.Sub(rec.seen) > recreateForget {
		rec = &recreation{}
		ords[ord] = rec
	}
	if rec.last != pod.UID {
		rec.last, rec.seen = pod.UID, now
		rec.count++
	}
	wait := backoff(rec.count)
	if left := rec.seen.Add(wait).Sub(now); left > 0 {
		return left
	}
	return 0
}

// backoff is the wait before the n-th recreation in a row.
func backoff(n int) time.Duration {
	if n <= 1 {
		return 0
	}
	d := recreateBase
	for i := 2; i < n && d < recreateMax; i++ {
		d *= 2
	}
	return min(d, recreateMax)
}

// running forgets the count of an ordinal whose pod runs.
func (r *recreations) running(setKey string, ord int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if ords := r.bySet[setKey]; ords != nil {
		delete(ords, ord)
		if len(ords) == 0 {
			delete(r.bySet, setKey)
		}
	}
}

// forget drops what is known of a set that is gone.
func (r *recreations) forget(setKey string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.bySet, setKey)
}
