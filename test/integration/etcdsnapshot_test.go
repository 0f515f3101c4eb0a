package integration

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/flotilla-io/flotilla/pkg/etcd"
	"github.com/flotilla-io/flotilla/pkg/etcdsnapshot"
	"github.com/flotilla-io/flotilla/pkg/server"
	"github.com/flotilla-io/flotilla/pkg/server/testserver"
)

var flotillaBin struct {
	once sync.Once
	path string
	err  error
}

// flotilla runs the built binary (FLOTILLA_BIN, or one built for the
// test run) and returns its output; a non-zero exit fails the test.
func flotilla(t *testing.T, args ...string) string {
	t.Helper()
	flotillaBin.once.Do(func() {
		if p := os.Getenv("FLOTILLA_BIN"); p != "" {
			flotillaBin.path = p
			return
		}
		dir, err := os.MkdirTemp("", "flotilla-bin-")
		if err != nil {
			flotillaBin.err = err
			return
		}
		flotillaBin.path = filepath.Join(dir, "flotilla")
		_, file, _, _ := runtime.Caller(0)
		build := exec.Command("go", "build", "-o", flotillaBin.path, "./cmd/flotilla")
		build.Dir = filepath.Join(filepath.Dir(file), "..", "..")
		if out, err := build.CombinedOutput(); err != nil {
			flotillaBin.err = errors.New("build flotilla: " + err.Error() + "\n" + string(out))
		}
	})
	if flotillaBin.err != nil {
		t.Fatal(flotillaBin.err)
	}
	out, err := exec.Command(flotillaBin.path, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("flotilla %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// state is what the restore must bring back: namespaces and the
// ConfigMaps of one namespace, by name.
func state(t *testing.T, cs kubernetes.Interface, ns string) (namespaces, configMaps []string) {
	t.Helper()
	ctx := context.Background()
	nl, err := cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nl.Items {
		namespaces = append(namespaces, n.Name)
	}
	cl, err := cs.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cl.Items {
		configMaps = append(configMaps, c.Name+"="+c.Data["v"])
	}
	slices.Sort(namespaces)
	slices.Sort(configMaps)
	return namespaces, configMaps
}

// A snapshot saved with `flotilla etcd-snapshot save` and restored with
// `flotilla server --cluster-reset --cluster-reset-restore-path` brings
// back exactly the objects of the snapshot: those created after it are
// gone, those deleted or changed after it are back as they were. ls and
// delete work on the snapshot directory.
func TestEtcdSnapshotSaveRestore(t *testing.T) {
	dir := t.TempDir()
	srv := testserver.Start(t, testserver.Options{DataDir: dir})
	cs := srv.Clientset(t)
	ctx := context.Background()
	const ns = "backup"
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	settled(t, cs, ns)
	for _, name := range []string{"keep", "doomed", "changed"} {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string]string{"v": "before"}}
		if _, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	wantNS, wantCM := state(t, cs, ns)

	out := flotilla(t, "etcd-snapshot", "save", "--data-dir", dir, "--etcd-client-port", strconv.Itoa(srv.Config.EtcdClientPort), "--name", "before", "--node-name", "n1")
	m := regexp.MustCompile(`Snapshot (before-n1-\d+) saved\.`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("save printed %q", out)
	}
	name := m[1]
	file := filepath.Join(etcdsnapshot.Dir(dir), name)

	// After the snapshot: one created, one deleted, one changed, and a
	// namespace created.
	if _, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "late"}, Data: map[string]string{"v": "after"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := cs.CoreV1().ConfigMaps(ns).Delete(ctx, "doomed", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	changed, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, "changed", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	changed.Data["v"] = "after"
	if _, err := cs.CoreV1().ConfigMaps(ns).Update(ctx, changed, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "late-ns"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if gotNS, gotCM := state(t, cs, ns); slices.Equal(gotNS, wantNS) || slices.Equal(gotCM, wantCM) {
		t.Fatalf("changes after the snapshot not seen: %v %v", gotNS, gotCM)
	}
	srv.Stop()

	out = flotilla(t, "server", "--data-dir", dir, "--etcd-peer-port", strconv.Itoa(srv.Config.EtcdPeerPort), "--disable-agent",
		"--cluster-reset", "--cluster-reset-restore-path", file)
	if !strings.Contains(out, "restart without --cluster-reset flag now") {
		t.Fatalf("cluster reset printed %q", out)
	}
	olds, _ := filepath.Glob(filepath.Join(dir, "etcd-old-*"))
	if len(olds) != 1 {
		t.Fatalf("old etcd data not kept aside: %v", olds)
	}

	again := testserver.Start(t, testserver.Options{DataDir: dir})
	cs = again.Clientset(t)
	gotNS, gotCM := state(t, cs, ns)
	if !slices.Equal(gotNS, wantNS) || !slices.Equal(gotCM, wantCM) {
		t.Fatalf("after restore:\n namespaces %v\n configmaps %v\nwant\n namespaces %v\n configmaps %v", gotNS, gotCM, wantNS, wantCM)
	}
	// Revisions continue far above the old cluster's, so no client
	// mistakes a new object's resourceVersion for one it saw before.
	cm, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "new"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rv, _ := strconv.ParseInt(cm.ResourceVersion, 10, 64); rv < 1_000_000_000 {
		t.Errorf("resourceVersion after restore %s, want above 1e9", cm.ResourceVersion)
	}

	ls := flotilla(t, "etcd-snapshot", "ls", "--data-dir", dir)
	lines := strings.Split(strings.TrimSpace(ls), "\n")
	if len(lines) != 2 || strings.Join(strings.Fields(lines[0]), " ") != "Name Location Size Created" {
		t.Fatalf("ls printed:\n%s", ls)
	}
	fields := strings.Fields(lines[1])
	if fields[0] != name || fields[1] != "file://"+file {
		t.Fatalf("ls row %q, want %s at file://%s", lines[1], name, file)
	}
	if size, _ := strconv.Atoi(fields[2]); size <= 0 {
		t.Fatalf("ls size %q", fields[2])
	}
	if _, err := time.Parse(time.RFC3339, fields[3]); err != nil {
		t.Fatalf("ls created %q: %v", fields[3], err)
	}
	if out := flotilla(t, "etcd-snapshot", "delete", "--data-dir", dir, name); strings.TrimSpace(out) != "Snapshot "+name+" deleted." {
		t.Fatalf("delete printed %q", out)
	}
	if ls := flotilla(t, "etcd-snapshot", "ls", "--data-dir", dir); strings.Count(strings.TrimSpace(ls), "\n") != 0 {
		t.Fatalf("after delete ls printed:\n%s", ls)
	}
}

// Scheduled snapshots are taken on the cron schedule and only the newest
// --etcd-snapshot-retention of them are kept.
func TestEtcdSnapshotScheduleRetention(t *testing.T) {
	dir := t.TempDir()
	snapDir := filepath.Join(t.TempDir(), "snaps")
	srv := testserver.Start(t, testserver.Options{DataDir: dir, EtcdSnapshots: server.EtcdSnapshotConfig{Cron: "@every 1s", Retention: 2, Dir: snapDir}})
	// A snapshot saved by hand under another name is never pruned.
	if _, err := etcdsnapshot.Save(context.Background(), srv.EtcdClient(), snapDir, "manual"); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	deadline := time.Now().Add(60 * time.Second)
	for len(seen) < 5 {
		if time.Now().After(deadline) {
			t.Fatalf("saw %d scheduled snapshots in 60s, want 5", len(seen))
		}
		snaps, err := etcdsnapshot.List(snapDir)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range snaps {
			if strings.HasPrefix(s.Name, etcdsnapshot.ScheduledPrefix+"-") {
				seen[s.Name] = true
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	srv.Stop()
	snaps, err := etcdsnapshot.List(snapDir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range snaps {
		names = append(names, s.Name)
	}
	var scheduled []string
	for n := range seen {
		scheduled = append(scheduled, n)
	}
	slices.Sort(scheduled) // same node, so by time
	var kept []string
	for _, n := range names {
		if strings.HasPrefix(n, etcdsnapshot.ScheduledPrefix+"-") {
			kept = append(kept, n)
		}
	}
	if len(kept) != 2 || !slices.Contains(names, "manual") {
		t.Fatalf("snapshots left %v, want the 2 newest scheduled and manual", names)
	}
	if newest := scheduled[len(scheduled)-2:]; kept[0] < newest[0] {
		t.Fatalf("kept %v, but newer ones were seen: %v", kept, scheduled)
	}
}

// The server compacts etcd's history and defragments a member whose file
// is mostly free, for the embedded member and an external cluster alike.
func TestEtcdCompactionAndDefrag(t *testing.T) {
	maint := etcd.MaintenanceConfig{CompactionInterval: time.Second, DefragMinDBSize: 4 << 20, DefragMaxInUse: 0.5}
	for _, mode := range []string{"embedded", "external"} {
		t.Run(mode, func(t *testing.T) {
			opts := testserver.Options{EtcdMaintenance: maint}
			var observe *clientv3.Client
			var endpoint string
			if mode == "external" {
				ext, member := externalEtcd(t)
				ext.EtcdMaintenance = maint
				opts = ext
				observe, endpoint = member.Client, ""
			}
			srv := testserver.Start(t, opts)
			if observe == nil {
				observe = srv.EtcdClient()
			}
			ctx := context.Background()
			// 24 MiB of values, then all deleted: the file grows and
			// afterwards holds mostly free pages.
			val := strings.Repeat("x", 256<<10)
			var firstRev int64
			for i := range 96 {
				resp, err := observe.Put(ctx, "/test-bulk/"+strconv.Itoa(i), val)
				if err != nil {
					t.Fatal(err)
				}
				if i == 0 {
					firstRev = resp.Header.Revision
				}
			}
			if _, err := observe.Delete(ctx, "/test-bulk/", clientv3.WithPrefix()); err != nil {
				t.Fatal(err)
			}
			st, err := observe.Status(ctx, endpoint)
			if err != nil {
				t.Fatal(err)
			}
			grown := st.DbSize
			if grown < 12<<20 {
				t.Fatalf("db size %d after writing 24 MiB", grown)
			}
			var compacted bool
			deadline := time.Now().Add(60 * time.Second)
			for {
				if !compacted {
					_, err := observe.Get(ctx, "/test-bulk/0", clientv3.WithRev(firstRev))
					compacted = errors.Is(err, rpctypes.ErrCompacted)
				}
				st, err := observe.Status(ctx, endpoint)
				if err != nil {
					t.Fatal(err)
				}
				if compacted && st.DbSize < grown/2 {
					t.Logf("%s: revision %d compacted; db %d bytes -> %d bytes (%d in use)", mode, firstRev, grown, st.DbSize, st.DbSizeInUse)
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("after 60s: compacted=%v, db %d bytes (was %d, %d in use)", compacted, st.DbSize, grown, st.DbSizeInUse)
				}
				time.Sleep(200 * time.Millisecond)
			}
		})
	}
}

// `etcd-snapshot save --datastore-endpoint` snapshots an external etcd
// through its maintenance API, with the external cluster's client TLS.
func TestEtcdSnapshotSaveExternal(t *testing.T) {
	opts, _ := externalEtcd(t)
	srv := testserver.Start(t, opts)
	cs := srv.Clientset(t)
	settled(t, cs, "default")
	if _, err := cs.CoreV1().ConfigMaps("default").Create(context.Background(), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "in-external"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	out := flotilla(t, "etcd-snapshot", "save", "--data-dir", dir, "--node-name", "n1", "--datastore-endpoint", opts.DatastoreEndpoint,
		"--datastore-cafile", opts.DatastoreCAFile, "--datastore-certfile", opts.DatastoreCertFile, "--datastore-keyfile", opts.DatastoreKeyFile)
	m := regexp.MustCompile(`Snapshot (on-demand-n1-\d+) saved\.`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("save printed %q", out)
	}
	// The file is a whole snapshot: restored into a fresh member, it holds
	// the ConfigMap.
	member := etcd.Config{DataDir: filepath.Join(t.TempDir(), "etcd"), PeerURL: "https://127.0.0.1:" + strconv.Itoa(testserver.FreePort(t))}
	if _, err := etcd.Restore(member, filepath.Join(etcdsnapshot.Dir(dir), m[1]), false, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	again := testserver.Start(t, testserver.Options{DataDir: filepath.Dir(member.DataDir)})
	if _, err := again.Clientset(t).CoreV1().ConfigMaps("default").Get(context.Background(), "in-external", metav1.GetOptions{}); err != nil {
		t.Fatalf("the snapshot of the external etcd, restored: %v", err)
	}
}

// --cluster-reset without a snapshot keeps the member's own data (and
// makes it a new one-member cluster).
func TestClusterResetKeepsData(t *testing.T) {
	dir := t.TempDir()
	srv := testserver.Start(t, testserver.Options{DataDir: dir})
	cs := srv.Clientset(t)
	settled(t, cs, "default")
	if _, err := cs.CoreV1().ConfigMaps("default").Create(context.Background(), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "stays"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	cfg := srv.Config
	cfg.ClusterReset = server.ClusterResetConfig{Reset: true}
	if _, err := server.ClusterReset(cfg, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	again := testserver.Start(t, testserver.Options{DataDir: dir})
	if _, err := again.Clientset(t).CoreV1().ConfigMaps("default").Get(context.Background(), "stays", metav1.GetOptions{}); err != nil {
		t.Fatalf("after a reset without a snapshot: %v", err)
	}
	cfg.DatastoreEndpoint = "https://127.0.0.1:1"
	if _, err := server.ClusterReset(cfg, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "embedded etcd only") {
		t.Fatalf("reset of an external etcd: %v", err)
	}
}
