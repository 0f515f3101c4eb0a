package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// containerdPID is the pid of the containerd running with config, 0 when
// none does.
func containerdPID(config string) int {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := bytes.Split(bytes.TrimRight(b, "\x00"), []byte{0})
		if len(args) >= 3 && filepath.Base(string(args[0])) == "containerd" && string(args[2]) == config {
			return pid
		}
	}
	return 0
}

// Ready follows the runtime: containerd not answering (stopped) makes the
// Node NotReady with upstream's reason, answering again Ready; killed, the
// agent's supervisor restarts it and the node is Ready again with its pod
// still running.
func TestNodeReadyFollowsRuntime(t *testing.T) {
	t.Parallel()
	nc := startNodeCluster(t)
	nc.ok(sleepingPod("steady"), "create", "-f", "-")
	nc.waitPhase("steady", "Running")
	ctrID := nc.jsonpath("pod", "steady", "{.status.containerStatuses[0].containerID}")
	config := filepath.Join(nc.dir, "agent", "containerd", "config.toml")
	pid := containerdPID(config)
	if pid == 0 {
		t.Fatalf("no containerd runs with %s", config)
	}
	if st, reason, _ := nc.condition("Ready"); st != "True" || reason != "KubeletReady" {
		t.Fatalf("Ready %s/%s before, want True/KubeletReady", st, reason)
	}

	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGCONT) })
	stopped := time.Now()
	nc.eventually(60*time.Second, func() (bool, string) {
		st, reason, msg := nc.condition("Ready")
		return st == "False" && reason == "KubeletNotReady" && msg == "container runtime is down", st + " " + reason + " " + msg
	})
	toNotReady := time.Since(stopped)
	if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	resumed := time.Now()
	nc.eventually(60*time.Second, func() (bool, string) {
		st, reason, msg := nc.condition("Ready")
		return st == "True" && reason == "KubeletReady", st + " " + reason + " " + msg
	})
	toReady := time.Since(resumed)

	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	nc.eventually(60*time.Second, func() (bool, string) {
		p := containerdPID(config)
		return p != 0 && p != pid, "containerd pid " + strconv.Itoa(p)
	})
	nc.eventually(60*time.Second, func() (bool, string) {
		st, reason, msg := nc.condition("Ready")
		return st == "True", st + " " + reason + " " + msg
	})
	toRestart := time.Since(killed)
	if got := nc.jsonpath("pod", "steady", "{.status.phase} {.status.containerStatuses[0].containerID} {.status.containerStatuses[0].restartCount}"); got != "Running "+ctrID+" 0" {
		t.Errorf("after containerd's restart the pod is %q, want Running %s 0", got, ctrID)
	}
	t.Logf("containerd stopped → NotReady %v; resumed → Ready %v; killed → restarted and Ready %v",
		toNotReady.Round(100*time.Millisecond), toReady.Round(100*time.Millisecond), toRestart.Round(100*time.Millisecond))
}
