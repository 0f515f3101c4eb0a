package etcd

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"golang.org/x/sys/unix"
)

// DefaultMinFreeSpace is how much room GuardSpace keeps free on the
// member's filesystem: a WAL segment, which etcd preallocates in one
// piece (64 MB) and cannot do without, and as much again for the
// database file's growth between two checks.
const DefaultMinFreeSpace = 128 << 20

// spaceCheckInterval is how often GuardSpace reads the filesystem.
const spaceCheckInterval = 500 * time.Millisecond

// GuardSpace keeps the embedded member from running its filesystem out
// of space, until ctx ends. etcd treats a failed write to its WAL or
// database as fatal and exits, taking the server with it, and does so
// again on every restart while the disk stays full. So when less than
// minFree bytes are left, the guard raises etcd's NOSPACE alarm itself:
// the member then refuses every write that adds data (clients get
// "etcdserver: mvcc: database space exceeded") but still serves reads
// and deletes. Once the filesystem has room again (minFree and a quarter
// more, so the alarm does not flap) and the database is below etcd's own
// quota, the guard disarms the alarm, whoever raised it, as an operator
// would with `etcdctl alarm disarm`.
func (e *Embedded) GuardSpace(ctx context.Context, minFree int64, log *slog.Logger) {
	if minFree <= 0 {
		return
	}
	t := time.NewTicker(spaceCheckInterval)
	defer t.Stop()
	for {
		if err := e.checkSpace(ctx, minFree, log); err != nil && ctx.Err() == nil {
			log.Warn("etcd space check", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (e *Embedded) checkSpace(ctx context.Context, minFree int64, log *slog.Logger) error {
	var st unix.Statfs_t
	if err := unix.Statfs(e.dir, &st); err != nil {
		return fmt.Errorf("statfs %s: %w", e.dir, err)
	}
	free := int64(st.Bavail) * int64(st.Bsize)
	srv := e.etcd.Server
	raised := false
	for _, a := range srv.Alarms() {
		if a.Alarm == pb.AlarmType_NOSPACE {
			raised = true
		}
	}
	req := &pb.AlarmRequest{MemberID: uint64(srv.MemberID()), Alarm: pb.AlarmType_NOSPACE}
	switch {
	case !raised && free < minFree:
		req.Action = pb.AlarmRequest_ACTIVATE
		if _, err := srv.Alarm(ctx, req); err != nil {
			return fmt.Errorf("raise the NOSPACE alarm: %w", err)
		}
		log.Warn("etcd's filesystem is nearly full: NOSPACE alarm raised, writes refused until space returns",
			"dir", e.dir, "freeBytes", free, "minFreeBytes", minFree)
	case raised && free >= minFree+minFree/4 && srv.Backend().Size() < e.quota:
		req.Action = pb.AlarmRequest_DEACTIVATE
		if _, err := srv.Alarm(ctx, req); err != nil {
			return fmt.Errorf("disarm the NOSPACE alarm: %w", err)
		}
		log.Info("etcd has space again: NOSPACE alarm disarmed, writes accepted",
			"dir", e.dir, "freeBytes", free, "dbBytes", srv.Backend().Size())
	}
	return nil
}
