package storage

import (
	"context"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Objects of a store with a time to live (Events) are written with an
// etcd lease, so etcd deletes them when it expires, as upstream's API
// server does. One lease serves every write of a time bucket: a lease per
// object would cost etcd a lease record (and a revoke) per Event.
const (
	// leaseReusePercent of the TTL is the longest an object may outlive
	// its TTL because it shares an older write's lease (upstream: 5 %).
	leaseReusePercent = 5
	// leaseReuseMax caps that extra time (upstream: 60 s).
	leaseReuseMax = time.Minute
	// leaseMaxObjects is how many writes one lease carries before a new
	// one is granted, so one expiry deletes a bounded number of keys.
	leaseMaxObjects = 1000
)

// leaseManager hands out the lease for the next write with a TTL.
type leaseManager struct {
	client *clientv3.Client
	now    func() time.Time

	mu       sync.Mutex
	id       clientv3.LeaseID
	expires  time.Time // when the current lease ends (as granted)
	attached int
}

func newLeaseManager(client *clientv3.Client) *leaseManager {
	return &leaseManager{client: client, now: time.Now}
}

// reuseWindow is how much longer than ttl a shared lease may live.
func reuseWindow(ttl time.Duration) time.Duration {
	return min(ttl*leaseReusePercent/100, leaseReuseMax)
}

// lease returns a lease that ends no sooner than ttl from now and no
// later than ttl plus the reuse window, granting a new one when the
// current lease does not fit.
func (m *leaseManager) lease(ctx context.Context, ttl time.Duration) (clientv3.LeaseID, error) {
	window := reuseWindow(ttl)
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if m.id != 0 && m.attached < leaseMaxObjects && !m.expires.Before(now.Add(ttl)) && !m.expires.After(now.Add(ttl+window)) {
		m.attached++
		return m.id, nil
	}
	// etcd counts in whole seconds; round up so the object lives at
	// least ttl.
	secs := int64((ttl + window + time.Second - 1) / time.Second)
	resp, err := m.client.Grant(ctx, secs)
	if err != nil {
		return 0, unavailable("", err)
	}
	m.id, m.expires, m.attached = resp.ID, now.Add(time.Duration(secs)*time.Second), 1
	return m.id, nil
}
