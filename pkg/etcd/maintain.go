package etcd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// MaintenanceConfig tunes Maintain.
type MaintenanceConfig struct {
	// CompactionInterval is how often history is compacted: each round
	// drops the revisions older than the previous round, so about one
	// interval of history stays for watchers to resume from (upstream's
	// --etcd-compaction-interval; 0 = 5 minutes).
	CompactionInterval time.Duration
	// DefragMinDBSize and DefragMaxInUse decide when a member is
	// defragmented after a compaction: when its database file is at
	// least DefragMinDBSize bytes and less than DefragMaxInUse of it holds
	// live data (0 = 64 MiB and 0.5). Compaction frees pages inside the
	// file; only a defragmentation gives them back to the filesystem.
	DefragMinDBSize int64
	DefragMaxInUse  float64
}

// compactRevKey coordinates servers sharing one etcd: whichever bumps
// its version first in a round compacts, the others see the new version
// and skip (the same scheme as upstream's API server, which uses the key
// compact_rev_key; ours lives under the /flotilla prefix).
const compactRevKey = "/flotilla/compact_rev_key"

// Maintain compacts and defragments the external etcd cluster c talks
// to (each of its endpoints in turn) until ctx ends.
func Maintain(ctx context.Context, c *clientv3.Client, cfg MaintenanceConfig, log *slog.Logger) {
	maintain(ctx, c, c.Endpoints(), func(ctx context.Context, ep string) error {
		_, err := c.Defragment(ctx, ep)
		return err
	}, cfg, log)
}

// Maintain compacts and defragments the embedded member until ctx ends.
// The member is defragmented directly: the in-process client's
// maintenance service lacks the health notifier its Defragment needs.
func (e *Embedded) Maintain(ctx context.Context, cfg MaintenanceConfig, log *slog.Logger) {
	maintain(ctx, e.Client, []string{""}, func(context.Context, string) error {
		return e.etcd.Server.Defragment()
	}, cfg, log)
}

func maintain(ctx context.Context, c *clientv3.Client, endpoints []string, defrag func(context.Context, string) error, cfg MaintenanceConfig, log *slog.Logger) {
	if cfg.CompactionInterval <= 0 {
		cfg.CompactionInterval = 5 * time.Minute
	}
	if cfg.DefragMinDBSize <= 0 {
		cfg.DefragMinDBSize = 64 << 20
	}
	if cfg.DefragMaxInUse <= 0 {
		cfg.DefragMaxInUse = 0.5
	}
	m := &maintainer{c: c, endpoints: endpoints, defrag: defrag, cfg: cfg, log: log}
	t := time.NewTicker(cfg.CompactionInterval)
	defer t.Stop()
	for {
		if err := m.round(ctx); err != nil && ctx.Err() == nil {
			log.Warn("etcd maintenance", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

type maintainer struct {
	c         *clientv3.Client
	endpoints []string
	defrag    func(ctx context.Context, endpoint string) error
	cfg       MaintenanceConfig
	log       *slog.Logger
	// seen is the version of compactRevKey after this server's last look;
	// prevRev the store's revision at the previous round.
	seen, prevRev int64
}

func (m *maintainer) round(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, m.cfg.CompactionInterval)
	defer cancel()
	compacted, err := m.compact(ctx)
	if err != nil || !compacted {
		return err
	}
	return m.defragment(ctx)
}

// compact claims this round through compactRevKey and compacts to the
// revision of the previous round. It reports whether it compacted.
func (m *maintainer) compact(ctx context.Context) (bool, error) {
	resp, err := m.c.Txn(ctx).
		If(clientv3.Compare(clientv3.Version(compactRevKey), "=", m.seen)).
		Then(clientv3.OpPut(compactRevKey, strconv.FormatInt(m.prevRev, 10))).
		Else(clientv3.OpGet(compactRevKey)).
		Commit()
	if err != nil {
		return false, fmt.Errorf("claim compaction: %w", err)
	}
	rev := m.prevRev
	m.prevRev = resp.Header.Revision
	if !resp.Succeeded {
		// Another server compacted (or started) since our last round.
		if kvs := resp.Responses[0].GetResponseRange().Kvs; len(kvs) > 0 {
			m.seen = kvs[0].Version
		} else {
			m.seen = 0
		}
		return false, nil
	}
	m.seen++
	if rev == 0 {
		return false, nil // first round: nothing older than one interval yet
	}
	if _, err := m.c.Compact(ctx, rev); err != nil && !errors.Is(err, rpctypes.ErrCompacted) {
		return false, fmt.Errorf("compact to revision %d: %w", rev, err)
	}
	m.log.Debug("etcd compacted", "revision", rev)
	return true, nil
}

// defragment defragments, one at a time, the members whose database
// file is mostly free pages.
func (m *maintainer) defragment(ctx context.Context) error {
	var errs []error
	for _, ep := range m.endpoints {
		st, err := m.c.Status(ctx, ep)
		if err != nil {
			errs = append(errs, fmt.Errorf("status of %s: %w", ep, err))
			continue
		}
		if st.DbSize < m.cfg.DefragMinDBSize || float64(st.DbSizeInUse) >= m.cfg.DefragMaxInUse*float64(st.DbSize) {
			continue
		}
		t0 := time.Now()
		if err := m.defrag(ctx, ep); err != nil {
			errs = append(errs, fmt.Errorf("defragment %s: %w", ep, err))
			continue
		}
		after := st.DbSize
		if st2, err := m.c.Status(ctx, ep); err == nil {
			after = st2.DbSize
		}
		m.log.Info("etcd defragmented", "endpoint", ep, "before", st.DbSize, "inUse", st.DbSizeInUse, "after", after, "took", time.Since(t0))
	}
	return errors.Join(errs...)
}
