package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flotilla-io/flotilla/pkg/containerd"
	"github.com/flotilla-io/flotilla/pkg/cri"
)

// Pods keep running while the server (with its agent and containerd) is
// down after a kill -9, and the agent takes them over again when it
// returns: same container, no restart.
func TestPodsSurviveServerKill(t *testing.T) {
	t.Parallel()
	nc := startNodeCluster(t)
	beat, err := os.MkdirTemp("/tmp", "fl-beat-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(beat)
	pod := `apiVersion: v1
kind: Pod
metadata:
  name: survivor
spec:
  terminationGracePeriodSeconds: 2
  volumes:
  - name: beat
    hostPath: {path: ` + beat + `}
  containers:
  - name: c
    image: busybox
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do date +%s%N > /beat/next; mv /beat/next /beat/now; sleep 0.1; done"]
    volumeMounts:
    - {name: beat, mountPath: /beat}
`
	nc.ok(bound(pod), "create", "-f", "-")
	nc.waitPhase("survivor", "Running")
	id := nc.jsonpath("pod", "survivor", "{.status.containerStatuses[0].containerID}")

	nc.kill()
	read := func() string { b, _ := os.ReadFile(filepath.Join(beat, "now")); return strings.TrimSpace(string(b)) }
	// The beat is replaced by a rename, so a read never sees it half
	// written; a new beat while the server is down proves the pod runs.
	first := read()
	nc.eventually(60*time.Second, func() (bool, string) {
		later := read()
		return later != "" && later != first, fmt.Sprintf("the pod stopped writing while the server was down (%q then %q)", first, later)
	})

	nc.restart()
	// The API still shows the status written before the kill, so it
	// proves nothing by itself. What proves the pod survived is the
	// restarted runtime listing the same container, running. The agent
	// starts containerd some moments after the API answers: until then
	// the socket is missing or containerd is still loading its plugins
	// (make test at 5cd524a and ab9554c failed on a dial made that early).
	rt, err := cri.Dial(containerd.Socket(filepath.Join(nc.dir, "agent", "containerd")))
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	running := func() ([]string, error) { return runningContainerIDs(rt, "survivor") }
	nc.eventually(60*time.Second, func() (bool, string) {
		ids, err := running()
		if err != nil {
			return false, "runtime not answering yet: " + err.Error()
		}
		return len(ids) == 1 && ids[0] == id, fmt.Sprintf("running containers of the pod %v, want only %s", ids, id)
	})
	nc.eventually(60*time.Second, func() (bool, string) {
		got := nc.jsonpath("pod", "survivor", "{.status.phase} {.status.containerStatuses[0].containerID} {.status.containerStatuses[0].restartCount}")
		return got == "Running "+id+" 0", got
	})
	// And it is still managed: deletion stops it. The pod is gone from
	// the API only after its agent stopped the container, so once it is
	// gone the runtime must know no running container of it.
	nc.ok("", "delete", "pod", "survivor", "--wait=true")
	ids, err := running()
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 0 {
		t.Fatalf("containers %v still run after their pod was deleted", ids)
	}
}
