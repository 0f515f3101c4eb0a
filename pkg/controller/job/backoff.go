package job

import (
	"sync"
	"time"
)

// Back-off defaults, upstream's DefaultJobPodFailureBackOff and
// MaxJobPodFailureBackOff.
const (
	DefaultPodFailureBackoff    = 10 * time.Second
	DefaultMaxPodFailureBackoff = 10 * time.Minute
)

// backoffDelay is how long after the last of failures consecutive pod
// failures a replacement may start: base doubling per failure, capped.
func backoffDelay(failures int, base, max time.Duration) time.Duration {
	if failures <= 0 {
		return 0
	}
	d := base
	for i := 1; i < failures; i++ {
		d *= 2
		if d >= max {
			return max
		}
	}
	return min(d, max)
}

// backoffRecord is a Job's failures since its last success.
type backoffRecord struct {
	failures    int
	lastFailure time.Time
}

// backoffStore keeps the records of the Jobs, in memory as upstream's.
type backoffStore struct {
	mu   sync.Mutex
	recs map[string]backoffRecord
}

func (s *backoffStore) get(key string) backoffRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.recs[key]
}

// record notes newly counted pods: a success resets, failures add up.
func (s *backoffStore) record(key string, succeeded bool, failed int, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.recs == nil {
		s.recs = map[string]backoffRecord{}
	}
	r := s.recs[key]
	if succeeded {
		r = backoffRecord{}
	}
	if failed > 0 {
		r.failures += failed
		if at.After(r.lastFailure) {
			r.lastFailure = at
		}
	}
	s.recs[key] = r
}

func (s *backoffStore) forget(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.recs, key)
}

// remaining is how long new pods must still wait at now.
func (r backoffRecord) remaining(now time.Time, base, max time.Duration) time.Duration {
	if r.failures == 0 {
		return 0
	}
	return max0(r.lastFailure.Add(backoffDelay(r.failures, base, max)).Sub(now))
}

func max0(d time.Duration) time.Duration {
	if d < 0 {
		return 0
	}
	return d
}
