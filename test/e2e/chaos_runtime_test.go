//go:build chaos

package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/flotilla-io/flotilla/pkg/containerd"
	"github.com/flotilla-io/flotilla/pkg/cri"
)

// podsState summarises pods of a label: how many are Running and Ready,
// each one's container ID and restart count.
func podsState(t *testing.T, pods []corev1.Pod) (ready int, ids map[string]string, restarts int) {
	ids = map[string]string{}
	for _, p := range pods {
		isReady := false
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				isReady = true
			}
		}
		if p.Status.Phase == corev1.PodRunning && isReady && len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].State.Running != nil {
			ready++
		}
		for _, cs := range p.Status.ContainerStatuses {
			ids[p.Name] = cs.ContainerID
			restarts += int(cs.RestartCount)
		}
	}
	return ready, ids, restarts
}

// containerd is killed (SIGKILL) and restarted by the agent under 50
// running pods: no pod restarts (same container IDs, restartCount 0) and
// every pod is Running and Ready again.
func TestChaosContainerdKill(t *testing.T) {
	const scenario = "2 containerd kill -9 under 50 pods"
	const n = 50
	nc := startNodeCluster(t)
	var manifest strings.Builder
	for i := range n {
		fmt.Fprintf(&manifest, `---
apiVersion: v1
kind: Pod
metadata: {name: sleeper-%d, labels: {app: sleeper}}
spec:
  nodeName: %s
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: busybox
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 100000 & wait"]
`, i, agentNode)
	}
	start := time.Now()
	nc.ok(manifest.String(), "create", "-f", "-")
	cs := clientFor(t, nc.kubeconfig, "", 30*time.Second)
	ctx := context.Background()
	list := func() []corev1.Pod {
		l, err := cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=sleeper"})
		if err != nil {
			t.Logf("list pods: %v", err)
			return nil
		}
		return l.Items
	}
	var before map[string]string
	nc.eventually(10*time.Minute, func() (bool, string) {
		ready, ids, _ := podsState(t, list())
		before = ids
		return ready == n, fmt.Sprintf("%d of %d pods Running and Ready", ready, n)
	})
	startup := time.Since(start)

	config := filepath.Join(nc.dir, "agent", "containerd", "config.toml")
	old := containerdPID(config)
	if old == 0 {
		t.Fatalf("no containerd runs with %s", config)
	}
	if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	var back time.Duration
	nc.eventually(2*time.Minute, func() (bool, string) {
		pid := containerdPID(config)
		if pid == 0 || pid == old {
			return false, "containerd not restarted"
		}
		rt, err := cri.Dial(containerd.Socket(filepath.Join(nc.dir, "agent", "containerd")))
		if err != nil {
			return false, err.Error()
		}
		defer rt.Close()
		if _, err := rt.Runtime.Version(ctx, &runtimeapi.VersionRequest{}); err != nil {
			return false, err.Error()
		}
		back = time.Since(killed)
		return true, ""
	})

	// The node is Ready again on a heartbeat after the restart, and then
	// every pod shows the container it had, never restarted.
	nc.eventually(2*time.Minute, func() (bool, string) {
		node, err := cs.CoreV1().Nodes().Get(ctx, agentNode, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		for _, c := range node.Status.Conditions {
			if c.Type == corev1.NodeReady {
				return c.Status == corev1.ConditionTrue && c.LastHeartbeatTime.After(killed.Add(back)), fmt.Sprintf("Ready=%s at %v", c.Status, c.LastHeartbeatTime)
			}
		}
		return false, "no Ready condition"
	})
	var settled time.Duration
	nc.eventually(3*time.Minute, func() (bool, string) {
		ready, ids, restarts := podsState(t, list())
		same := 0
		for name, id := range before {
			if ids[name] == id {
				same++
			}
		}
		settled = time.Since(killed)
		return ready == n && same == n && restarts == 0, fmt.Sprintf("%d Ready, %d with their old container, %d restarts", ready, same, restarts)
	})
	// The runtime agrees: the same containers run.
	rt, err := cri.Dial(containerd.Socket(filepath.Join(nc.dir, "agent", "containerd")))
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	running, err := rt.Runtime.ListContainers(ctx, &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{
		State: &runtimeapi.ContainerStateValue{State: runtimeapi.ContainerState_CONTAINER_RUNNING}}})
	if err != nil {
		t.Fatal(err)
	}
	runningIDs := map[string]bool{}
	for _, c := range running.Containers {
		runningIDs["containerd://"+c.Id] = true
	}
	for name, id := range before {
		if !runningIDs[id] {
			t.Errorf("pod %s: its container %s does not run in containerd", name, id)
		}
	}
	t.Logf("%d pods up in %v; containerd back %v after the kill; all pods Ready with their containers %v after it", n, startup, back, settled)
	figure(scenario, "pods Running and Ready before the kill (time to start them)", "%d (%v)", n, startup.Round(time.Second))
	figure(scenario, "containerd answering CRI again after SIGKILL", "%v", back.Round(10*time.Millisecond))
	figure(scenario, "pods Ready with their old container (restarts)", "%d of %d (0) after %v", n, n, settled.Round(100*time.Millisecond))
}
