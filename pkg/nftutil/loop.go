package nftutil

import (
	"context"
	"log/slog"
	"time"
)

// SyncLoop paces a table programmer's syncs: one at once, a full one,
// then one whenever Trigger fires but never closer than MinInterval to
// the previous (changes arriving meanwhile are applied together), a full
// one every FullInterval after the last full one, and after a failure a
// retry with a doubling back-off of 1 s up to 30 s.
type SyncLoop struct {
	MinInterval, FullInterval time.Duration
	// Trigger asks for a sync (a buffered channel of one: kicks coalesce).
	Trigger <-chan struct{}
	// FullDue tells the programmer that its next sync must be a full one.
	FullDue func()
	// Sync applies the pending changes and reports whether it was full.
	// A failed sync should leave the next one full.
	Sync func() (full bool, err error)
	Log  *slog.Logger
}

// Run syncs until ctx ends.
func (l SyncLoop) Run(ctx context.Context) {
	full := time.NewTimer(0)
	defer full.Stop()
	var retry <-chan time.Time
	backoff := time.Second
	var last time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-l.Trigger:
		case <-full.C:
			l.FullDue()
		case <-retry:
			retry = nil
		}
		if wait := l.MinInterval - time.Since(last); wait > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
		}
		last = time.Now()
		wasFull, err := l.Sync()
		if err != nil {
			l.Log.Error("sync failed; retrying with a full sync", "err", err, "retryIn", backoff)
			retry = time.After(backoff)
			backoff = min(2*backoff, 30*time.Second)
			continue
		}
		backoff = time.Second
		if wasFull {
			full.Reset(l.FullInterval)
		}
	}
}
