package etcdsnapshot

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/robfig/cron/v3"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Defaults of k3s's --etcd-snapshot-schedule-cron and
// --etcd-snapshot-retention.
const (
	DefaultSchedule  = "0 */12 * * *"
	DefaultRetention = 5
)

// Schedule takes snapshots on a cron schedule and keeps the newest few.
type Schedule struct {
	// Cron is a standard five-field cron line or a descriptor (@daily,
	// @every 1h), in the server's local time zone.
	Cron string
	// Retention is how many scheduled snapshots are kept.
	Retention int
	// Dir receives the snapshots; Node names them.
	Dir, Node string
}

// Parse checks the cron line; the server calls it before it starts so a
// bad line stops it at once.
func (s Schedule) Parse() (cron.Schedule, error) {
	sched, err := cron.ParseStandard(s.Cron)
	if err != nil {
		return nil, fmt.Errorf("etcd snapshot schedule %q: %w", s.Cron, err)
	}
	if s.Retention < 1 {
		return nil, fmt.Errorf("etcd snapshot retention must be at least 1, not %d", s.Retention)
	}
	return sched, nil
}

// Run takes a snapshot of the member c talks to at every time the
// schedule names, then prunes the scheduled snapshots to Retention,
// until ctx ends. A failed snapshot is logged and retried at the next
// time, as k3s does.
func (s Schedule) Run(ctx context.Context, c *clientv3.Client, log *slog.Logger) error {
	sched, err := s.Parse()
	if err != nil {
		return err
	}
	for {
		next := sched.Next(time.Now())
		timer := time.NewTimer(time.Until(next))
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-timer.C:
		}
		snap, err := Save(ctx, c, s.Dir, FileName(ScheduledPrefix, s.Node, next))
		if err != nil {
			if ctx.Err() == nil {
				log.Error("scheduled etcd snapshot failed", "err", err)
			}
			continue
		}
		log.Info("etcd snapshot saved", "name", snap.Name, "size", snap.Size)
		removed, err := Prune(s.Dir, ScheduledPrefix, s.Retention)
		if err != nil {
			log.Error("pruning etcd snapshots", "err", err)
		}
		for _, name := range removed {
			log.Info("etcd snapshot removed by retention", "name", name)
		}
	}
}
