package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestStaticPods runs pods from a manifest directory, as the kubelet's
// --pod-manifest-path: the API only shows them through mirror pods.
func TestStaticPods(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	nc := startNodeCluster(t, "--pod-manifest-path", dir)
	file := filepath.Join(dir, "static-web.yaml")
	manifest := func(word string) string {
		return "apiVersion: v1\nkind: Pod\nmetadata:\n  name: static-web\n  labels: {app: static}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers:\n  - name: c\n    image: busybox\n" +
			"    command: [\"sh\", \"-c\", \"echo " + word + "; trap 'exit 0' TERM; while true; do sleep 0.2; done\"]\n"
	}
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Runs before the cluster's cleanup: no static container outlives it.
	t.Cleanup(func() {
		_ = os.RemoveAll(dir)
		nc.eventually(60*time.Second, func() (bool, string) {
			r := nc.kubectl("", "get", "pods", "-A", "-l", "app=static", "-o", "name")
			return r.code == 0 && r.stdout == "", r.String()
		})
	})
	const pod = "static-web-" + agentNode
	write("static-web.yaml", manifest("first"))
	nc.waitPhase(pod, "Running")
	if got := nc.jsonpath("pod", pod, `{.metadata.ownerReferences[0].kind}/{.metadata.annotations.kubernetes\.io/config\.source}`); got != "Node/file" {
		t.Fatalf("owner/source %q", got)
	}
	hash := nc.jsonpath("pod", pod, `{.metadata.annotations.kubernetes\.io/config\.mirror}`)
	if hash == "" || hash != nc.jsonpath("pod", pod, `{.metadata.annotations.kubernetes\.io/config\.hash}`) {
		t.Fatalf("config.mirror %q", hash)
	}
	nc.eventually(60*time.Second, func() (bool, string) {
		r := nc.kubectl("", "logs", pod)
		return strings.Contains(r.stdout, "first"), r.String()
	})
	containerID := func() string { return nc.jsonpath("pod", pod, "{.status.containerStatuses[0].containerID}") }
	cid := containerID()
	mirrorUID := nc.jsonpath("pod", pod, "{.metadata.uid}")

	t.Run("deleting the mirror leaves the pod running", func(t *testing.T) {
		nc := nc.with(t)
		// Not kubectl's own wait: it lists by name after reading the old
		// mirror, and when the agent has already put a new mirror of the
		// same name in place it waits for that one to go. The new UID is
		// the signal.
		nc.ok("", "delete", "pod", pod, "--wait=false")
		nc.eventually(60*time.Second, func() (bool, string) {
			uid := nc.jsonpath("pod", pod, "{.metadata.uid}")
			phase := nc.jsonpath("pod", pod, "{.status.phase}")
			return uid != "" && uid != mirrorUID && phase == "Running" && containerID() == cid, uid + " " + phase + " " + containerID()
		})
		if got := nc.jsonpath("pod", pod, "{.status.containerStatuses[0].restartCount}"); got != "0" {
			t.Fatalf("restartCount %q", got)
		}
	})

	t.Run("editing the manifest restarts the pod", func(t *testing.T) {
		nc := nc.with(t)
		write("static-web.yaml", manifest("second"))
		nc.eventually(60*time.Second, func() (bool, string) {
			r := nc.kubectl("", "logs", pod)
			return strings.Contains(r.stdout, "second") && nc.jsonpath("pod", pod, "{.status.phase}") == "Running", r.String()
		})
		if got := nc.jsonpath("pod", pod, `{.metadata.annotations.kubernetes\.io/config\.mirror}`); got == hash || got == "" {
			t.Fatalf("config.mirror %q after the edit", got)
		}
		if containerID() == cid {
			t.Fatal("same container after the edit")
		}
	})

	t.Run("a static pod may not reference configmaps", func(t *testing.T) {
		nc := nc.with(t)
		write("with-cm.yaml", strings.Replace(strings.Replace(manifest("cm"), "static-web", "with-cm", 1), "    image: busybox\n", "    image: busybox\n    envFrom:\n    - configMapRef: {name: cm}\n", 1))
		nc.eventually(60*time.Second, func() (bool, string) {
			out := nc.ok("", "get", "events", "--field-selector", "reason=FailedCreate", "-o", "jsonpath={.items[*].message}")
			return strings.Contains(out, "static pods may not reference configmaps"), out
		})
		if r := nc.kubectl("", "get", "pod", "with-cm-"+agentNode); r.code == 0 {
			t.Fatalf("rejected static pod shows: %s", r)
		}
	})

	t.Run("removing the manifest stops the pod", func(t *testing.T) {
		nc := nc.with(t)
		if err := os.Remove(file); err != nil {
			t.Fatal(err)
		}
		nc.eventually(60*time.Second, func() (bool, string) {
			r := nc.kubectl("", "get", "pod", pod)
			return r.code != 0 && strings.Contains(r.stderr, "NotFound"), r.String()
		})
	})
}
