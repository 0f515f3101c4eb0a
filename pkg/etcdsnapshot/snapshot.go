package etcdsnapshot

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Name prefixes k3s gives snapshots taken on the command line and on the
// schedule.
const (
	OnDemandPrefix  = "on-demand"
	ScheduledPrefix = "etcd-snapshot"
)

// partSuffix marks a snapshot still being written; List ignores it.
const partSuffix = ".part"

// Snapshot is one snapshot file.
type Snapshot struct {
	Name     string
	Location string // file:// URL
	Size     int64
	Created  time.Time
}

// Dir is where snapshots are kept under a server's data dir.
func Dir(dataDir string) string { return filepath.Join(dataDir, "db", "snapshots") }

// FileName is k3s's snapshot name: the prefix, the node's name and the
// Unix time it was taken.
func FileName(prefix, node string, at time.Time) string {
	return prefix + "-" + node + "-" + strconv.FormatInt(at.Unix(), 10)
}

// Save streams a snapshot of the member c talks to into dir/name. The
// file appears under its name only once complete and synced, so a crash
// leaves no truncated snapshot behind.
func Save(ctx context.Context, c *clientv3.Client, dir, name string) (Snapshot, error) {
	if err := checkName(name); err != nil {
		return Snapshot{}, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Snapshot{}, fmt.Errorf("create snapshot dir: %w", err)
	}
	path := filepath.Join(dir, name)
	if _, err := os.Stat(path); err == nil {
		return Snapshot{}, fmt.Errorf("snapshot %s already exists", name)
	}
	part := path + partSuffix
	if err := writeSnapshot(ctx, c, part); err != nil {
		_ = os.Remove(part)
		return Snapshot{}, err
	}
	if err := os.Rename(part, path); err != nil {
		_ = os.Remove(part)
		return Snapshot{}, fmt.Errorf("snapshot %s: %w", name, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return Snapshot{}, err
	}
	return fromFile(dir, fi), nil
}

func writeSnapshot(ctx context.Context, c *clientv3.Client, path string) error {
	rc, err := c.Snapshot(ctx)
	if err != nil {
		return fmt.Errorf("request snapshot: %w", err)
	}
	defer rc.Close()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("create snapshot file: %w", err)
	}
	if _, err := io.Copy(f, rc); err != nil {
		f.Close()
		return fmt.Errorf("receive snapshot: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync snapshot: %w", err)
	}
	return f.Close()
}

// List returns the snapshots in dir, oldest first (a missing dir has
// none).
func List(dir string) ([]Snapshot, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list snapshots: %w", err)
	}
	var out []Snapshot
	for _, e := range entries {
		if !e.Type().IsRegular() || strings.HasSuffix(e.Name(), partSuffix) {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		out = append(out, fromFile(dir, fi))
	}
	slices.SortFunc(out, func(a, b Snapshot) int {
		return cmp.Or(a.Created.Compare(b.Created), cmp.Compare(a.Name, b.Name))
	})
	return out, nil
}

// Delete removes the named snapshot.
func Delete(dir, name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(dir, name)); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("snapshot %s not found in %s", name, dir)
		}
		return fmt.Errorf("delete snapshot %s: %w", name, err)
	}
	return nil
}

// Prune keeps the newest retention snapshots whose name starts with
// prefix and deletes the older ones, returning their names. Snapshots
// with other prefixes (saved by hand under another name) are left alone,
// as k3s does.
func Prune(dir, prefix string, retention int) ([]string, error) {
	if retention < 1 {
		return nil, fmt.Errorf("retention must be at least 1, not %d", retention)
	}
	all, err := List(dir)
	if err != nil {
		return nil, err
	}
	var mine []Snapshot
	for _, s := range all {
		if strings.HasPrefix(s.Name, prefix+"-") {
			mine = append(mine, s)
		}
	}
	var removed []string
	for len(mine) > retention {
		if err := Delete(dir, mine[0].Name); err != nil {
			return removed, err
		}
		removed = append(removed, mine[0].Name)
		mine = mine[1:]
	}
	return removed, nil
}

func fromFile(dir string, fi fs.FileInfo) Snapshot {
	abs, err := filepath.Abs(filepath.Join(dir, fi.Name()))
	if err != nil {
		abs = filepath.Join(dir, fi.Name())
	}
	return Snapshot{Name: fi.Name(), Location: "file://" + abs, Size: fi.Size(), Created: fi.ModTime().UTC()}
}

// checkName refuses names that would leave the snapshot dir.
func checkName(name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, `/\`) {
		return fmt.Errorf("invalid snapshot name %q", name)
	}
	return nil
}
