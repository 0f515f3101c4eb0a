package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Pods keep running while the server (with its agent and containerd) is
// down after a kill -9, and the agent takes them over again when it
// returns: same container, no restart.
func TestPodsSurviveServerKill(t *testing.T) {
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
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do date +%s%N > /beat/now; sleep 0.1; done"]
    volumeMounts:
    - {name: beat, mountPath: /beat}
`
	nc.ok(bound(pod), "create", "-f", "-")
	nc.waitPhase("survivor", "Running")
	id := nc.jsonpath("pod", "survivor", "{.status.containerStatuses[0].containerID}")

	nc.kill()
	read := func() string { b, _ := os.ReadFile(filepath.Join(beat, "now")); return strings.TrimSpace(string(b)) }
	first := read()
	time.Sleep(1500 * time.Millisecond)
	if later := read(); later == first || later == "" {
		t.Fatalf("the pod stopped writing while the server was down (%q then %q)", first, later)
	}

	nc.restart()
	nc.eventually(30*time.Second, func() (bool, string) {
		got := nc.jsonpath("pod", "survivor", "{.status.phase} {.status.containerStatuses[0].containerID} {.status.containerStatuses[0].restartCount}")
		return got == "Running "+id+" 0", got
	})
	// And it is still managed: deletion stops it.
	nc.ok("", "delete", "pod", "survivor")
	time.Sleep(500 * time.Millisecond)
	stopped := read()
	time.Sleep(500 * time.Millisecond)
	if read() != stopped {
		t.Fatal("the container still runs after its pod was deleted")
	}
}
