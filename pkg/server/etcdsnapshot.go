package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"

	"github.com/flotilla-io/flotilla/pkg/etcd"
	"github.com/flotilla-io/flotilla/pkg/etcdsnapshot"
)

// EtcdSnapshotConfig is k3s's scheduled snapshots of the datastore.
type EtcdSnapshotConfig struct {
	Disable   bool   // --etcd-disable-snapshots
	Cron      string // --etcd-snapshot-schedule-cron ("" = every 12 hours)
	Retention int    // --etcd-snapshot-retention (0 = 5)
	Dir       string // --etcd-snapshot-dir ("" = DATA-DIR/db/snapshots)
}

// ClusterResetConfig is k3s's --cluster-reset: the embedded member's
// data is replaced and the server exits, to be started again without
// the flag.
type ClusterResetConfig struct {
	// Reset asks for it; RestorePath names the snapshot to restore ("" =
	// keep the member's own data and only make it a new one-member
	// cluster again).
	Reset       bool
	RestorePath string
}

// snapshotSchedule completes the configured schedule with k3s's
// defaults.
func (s *Server) snapshotSchedule() etcdsnapshot.Schedule {
	c := s.cfg.EtcdSnapshots
	sched := etcdsnapshot.Schedule{Cron: c.Cron, Retention: c.Retention, Dir: c.Dir, Node: snapshotNodeName(s.cfg)}
	if sched.Cron == "" {
		sched.Cron = etcdsnapshot.DefaultSchedule
	}
	if sched.Retention == 0 {
		sched.Retention = etcdsnapshot.DefaultRetention
	}
	if sched.Dir == "" {
		sched.Dir = etcdsnapshot.Dir(s.cfg.DataDir)
	}
	return sched
}

// snapshotNodeName is the node name snapshot files carry.
func snapshotNodeName(cfg Config) string {
	if cfg.Agent.NodeName != "" {
		return cfg.Agent.NodeName
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		return h
	}
	return "server"
}

// runEtcdSnapshots takes the scheduled snapshots until ctx ends.
func (s *Server) runEtcdSnapshots(ctx context.Context) error {
	if s.cfg.EtcdSnapshots.Disable {
		return nil
	}
	return s.snapshotSchedule().Run(ctx, s.client, s.log.With("component", "etcd-snapshot"))
}

// runEtcdMaintenance compacts and defragments the datastore, embedded or
// external alike, until ctx ends.
func (s *Server) runEtcdMaintenance(ctx context.Context) {
	if s.cfg.EtcdMaintenance.CompactionInterval < 0 {
		return // compaction turned off (--etcd-compaction-interval=0)
	}
	log := s.log.With("component", "etcd-maintenance")
	if s.etcd != nil {
		s.etcd.Maintain(ctx, s.cfg.EtcdMaintenance, log)
		return
	}
	etcd.Maintain(ctx, s.client, s.cfg.EtcdMaintenance, log)
}

// ClusterResetMessage is what k3s tells after a reset (our data dir
// layout).
const ClusterResetMessage = "Managed etcd cluster membership has been reset, restart without --cluster-reset flag now. Backup and delete ${data-dir}/etcd on each peer etcd server and rejoin the nodes"

// ClusterReset replaces the embedded etcd's data with the snapshot at
// cfg.ClusterReset.RestorePath (or, without one, with the member's own
// data as a fresh one-member cluster). The server must not be running.
// It returns where the old data was moved.
func ClusterReset(cfg Config, log *slog.Logger) (string, error) {
	if cfg.DatastoreEndpoint != "" {
		return "", errors.New("--cluster-reset restores the embedded etcd only; restore an external etcd with its own tools")
	}
	if cfg.DataDir == "" {
		return "", errors.New("a data directory is required")
	}
	member := etcd.Config{
		DataDir: filepath.Join(cfg.DataDir, "etcd"),
		PeerURL: "https://127.0.0.1:" + strconv.Itoa(cfg.EtcdPeerPort),
	}
	path, skipHash := cfg.ClusterReset.RestorePath, false
	if path == "" {
		// The member's own bolt file carries no snapshot checksum.
		path, skipHash = filepath.Join(member.DataDir, "member", "snap", "db"), true
		if _, err := os.Stat(path); err != nil {
			return "", fmt.Errorf("nothing to reset: %w", err)
		}
		// The restore reads it while the old dir is moved away.
		cp := filepath.Join(cfg.DataDir, "etcd-reset.db")
		if err := copyFile(path, cp); err != nil {
			return "", err
		}
		defer os.Remove(cp)
		path = cp
	}
	return etcd.Restore(member, path, skipHash, log)
}

func copyFile(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, b, 0o600)
}
