package e2e

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flotilla-io/flotilla/pkg/containerd"
	"github.com/flotilla-io/flotilla/pkg/cri"
)

// A snapshot restored with --cluster-reset brings the cluster back to the
// snapshot, and the node agent follows: a pod created after the snapshot
// is stopped, a pod in the snapshot keeps its running container.
func TestEtcdSnapshotRestoreReconcilesPods(t *testing.T) {
	t.Parallel()
	nc := startNodeCluster(t)
	flag := func(name string) string {
		i := slices.Index(nc.args, name)
		if i < 0 || i+1 >= len(nc.args) {
			t.Fatalf("no %s in the server's flags %v", name, nc.args)
		}
		return nc.args[i+1]
	}
	nc.ok(sleepingPod("kept"), "create", "-f", "-")
	nc.waitPhase("kept", "Running")
	keptID := nc.jsonpath("pod", "kept", "{.status.containerStatuses[0].containerID}")

	out, err := exec.Command(cluster.bin, "etcd-snapshot", "save", "--data-dir", nc.dir, "--etcd-client-port", flag("--etcd-client-port")).CombinedOutput()
	if err != nil {
		t.Fatalf("etcd-snapshot save: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`Snapshot (on-demand-\S+) saved\.`).FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("save printed %q", out)
	}
	file := filepath.Join(nc.dir, "db", "snapshots", m[1])

	nc.ok(sleepingPod("late"), "create", "-f", "-")
	nc.waitPhase("late", "Running")

	rt, err := cri.Dial(containerd.Socket(filepath.Join(nc.dir, "agent", "containerd")))
	if err != nil {
		t.Fatal(err)
	}
	running := func(pod string) []string {
		ids, err := runningContainerIDs(rt, pod)
		if err != nil {
			return []string{"error: " + err.Error()}
		}
		return ids
	}
	if got := running("late"); len(got) != 1 {
		t.Fatalf("late pod: running containers %v, want 1", got)
	}
	rt.Close()

	// As an operator does: stop the server, reset from the snapshot (the
	// command exits telling to restart without the flag), start again.
	nc.kill()
	reset := exec.Command(cluster.bin, append(slices.Clone(nc.args), "--cluster-reset", "--cluster-reset-restore-path", file)...)
	out, err = reset.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "restart without --cluster-reset flag now") {
		t.Fatalf("cluster reset: %v\n%s", err, tail(string(out), 20))
	}
	nc.restart()

	if r := nc.kubectl("", "get", "pod", "late"); r.code == 0 || !strings.Contains(r.stderr, `pods "late" not found`) {
		t.Fatalf("pod created after the snapshot is in the API after the restore: %s", r)
	}
	rt, err = cri.Dial(containerd.Socket(filepath.Join(nc.dir, "agent", "containerd")))
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	nc.eventually(60*time.Second, func() (bool, string) {
		got := running("late")
		return len(got) == 0, "containers of the pod created after the snapshot still run: " + strings.Join(got, ",")
	})
	nc.eventually(60*time.Second, func() (bool, string) {
		got := nc.jsonpath("pod", "kept", "{.status.phase} {.status.containerStatuses[0].containerID} {.status.containerStatuses[0].restartCount}")
		return got == "Running "+keptID+" 0", got
	})
	if got := running("kept"); !slices.Equal(got, []string{keptID}) {
		t.Fatalf("pod in the snapshot: running containers %v, want its old one %s", got, keptID)
	}
}
