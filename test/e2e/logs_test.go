package e2e

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Container logs are rotated at --container-log-max-size, at most
// --container-log-max-files are kept, and `kubectl logs` follows the live
// file.
func TestNodeAgentLogRotation(t *testing.T) {
	t.Parallel()
	nc := startNodeCluster(t, "--container-log-max-size=64Ki", "--container-log-max-files=2")
	pod := `apiVersion: v1
kind: Pod
metadata:
  name: chatty
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: busybox
    command: ["sh", "-c", "i=0; while [ $i -lt 3000 ]; do echo burst-$i-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; i=$((i+1)); done; n=0; while true; do echo after-$n; n=$((n+1)); sleep 0.3; done"]
`
	nc.ok(bound(pod), "create", "-f", "-")
	nc.waitPhase("chatty", "Running")
	uid := nc.jsonpath("pod", "chatty", "{.metadata.uid}")
	logDir := filepath.Join(nc.dir, "agent", "logs", "default_chatty_"+uid, "c")
	nc.eventually(60*time.Second, func() (bool, string) {
		rotated, _ := filepath.Glob(filepath.Join(logDir, "0.log.*"))
		return len(rotated) >= 1, strings.Join(rotated, " ")
	})
	nc.eventually(60*time.Second, func() (bool, string) {
		out := nc.kubectl("", "logs", "chatty", "--tail=2").stdout
		return strings.Contains(out, "after-") && !strings.Contains(out, "burst-"), out
	})
	rotated, _ := filepath.Glob(filepath.Join(logDir, "0.log.*"))
	if len(rotated) > 1 {
		t.Fatalf("kept %d rotated files, want at most 1 beside the live one: %v", len(rotated), rotated)
	}
}
