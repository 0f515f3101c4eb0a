package etcd

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/etcdutl/v3/snapshot"
	"go.uber.org/zap"
)

// memberName and clusterToken are what Start gives the embedded member;
// a restored data dir must name the same member to start in its place.
const (
	memberName   = "flotilla"
	clusterToken = "etcd-cluster"
)

// restoreRevisionBump raises every revision of a restored store above
// any the old cluster handed out, and the restore marks the old ones
// compacted: a client still holding a resourceVersion from after the
// snapshot gets 410 Gone and relists instead of waiting for revisions
// that were already used for other writes (etcd's advice for restoring a
// Kubernetes store).
const restoreRevisionBump = 1_000_000_000

// Restore replaces the embedded member's data dir (cfg.DataDir) with the
// contents of snapshotPath, as a new single-member cluster. The old data
// dir is kept beside it as DATA-DIR-old-UNIXTIME and its path returned
// ("" if there was none). skipHashCheck allows a bare bolt file (a
// member's own member/snap/db) instead of a snapshot taken through the
// API, which carries a checksum.
func Restore(cfg Config, snapshotPath string, skipHashCheck bool, log *slog.Logger) (string, error) {
	if _, err := os.Stat(snapshotPath); err != nil {
		return "", fmt.Errorf("snapshot to restore: %w", err)
	}
	now := strconv.FormatInt(time.Now().Unix(), 10)
	staging := cfg.DataDir + "-restore-" + now
	if err := os.MkdirAll(filepath.Dir(cfg.DataDir), 0o700); err != nil {
		return "", err
	}
	lg := zap.New(newSlogCore(log.With("component", "etcd-restore"), zap.WarnLevel, &atomic.Bool{}))
	err := snapshot.NewV3(lg).Restore(snapshot.RestoreConfig{
		SnapshotPath:        snapshotPath,
		Name:                memberName,
		OutputDataDir:       staging,
		PeerURLs:            []string{cfg.PeerURL},
		InitialCluster:      memberName + "=" + cfg.PeerURL,
		InitialClusterToken: clusterToken,
		SkipHashCheck:       skipHashCheck,
		RevisionBump:        restoreRevisionBump,
		MarkCompacted:       true,
	})
	if err != nil {
		_ = os.RemoveAll(staging)
		return "", fmt.Errorf("restore %s: %w", snapshotPath, err)
	}
	old := ""
	if _, err := os.Stat(cfg.DataDir); err == nil {
		old = cfg.DataDir + "-old-" + now
		if err := os.Rename(cfg.DataDir, old); err != nil {
			_ = os.RemoveAll(staging)
			return "", fmt.Errorf("move old etcd data aside: %w", err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		_ = os.RemoveAll(staging)
		return "", err
	}
	if err := os.Rename(staging, cfg.DataDir); err != nil {
		return old, fmt.Errorf("move restored etcd data in place: %w", err)
	}
	return old, nil
}
