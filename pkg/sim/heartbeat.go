package sim

import (
	"context"
	"errors"
	"sync"
	"time"
)

// minTick is the shortest heartbeat tick; more nodes share a tick instead.
const minTick = 20 * time.Millisecond

// stagger spreads n nodes' renewals evenly over interval: every tick,
// batch nodes are due.
func stagger(n int, interval time.Duration) (tick time.Duration, batch int) {
	batch = int((minTick*time.Duration(n) + interval - 1) / interval)
	batch = min(max(batch, 1), n)
	return interval * time.Duration(batch) / time.Duration(n), batch
}

// heartbeats renews the nodes' Leases round robin, each once per
// LeaseRenewInterval, with cfg.Workers writers, until ctx ends. When the
// writers fall behind, renewals slow down rather than pile up.
func (s *Sim) heartbeats(ctx context.Context) {
	due := make(chan *simNode)
	var wg sync.WaitGroup
	for range min(s.cfg.Workers, len(s.nodes)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range due {
				s.beat(ctx, n)
			}
		}()
	}
	defer wg.Wait()
	defer close(due)

	tick, batch := stagger(len(s.nodes), s.cfg.LeaseRenewInterval)
	t := time.NewTicker(tick)
	defer t.Stop()
	next := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for range batch {
			select {
			case due <- s.nodes[next]:
			case <-ctx.Done():
				return
			}
			next = (next + 1) % len(s.nodes)
		}
	}
}

// beat renews n's Lease and, every StatusInterval, its Ready heartbeat.
func (s *Sim) beat(ctx context.Context, n *simNode) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := s.renewLease(ctx, n); err != nil {
		if ctx.Err() == nil {
			s.log.Warn("lease renewal failed", "node", n.name, "err", err)
		}
		return
	}
	n.beats++
	if time.Duration(n.beats)*s.cfg.LeaseRenewInterval < s.cfg.StatusInterval {
		return
	}
	n.beats = 0
	err := s.refreshStatus(ctx, n)
	if errors.Is(err, errNodeGone) {
		s.log.Info("node was deleted; registering it again", "node", n.name)
		err = s.registerLocked(ctx, n)
	}
	if err != nil && ctx.Err() == nil {
		s.log.Warn("node status refresh failed", "node", n.name, "err", err)
	}
}
