//go:build chaos

package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/flotilla-io/flotilla/pkg/containerd"
	"github.com/flotilla-io/flotilla/pkg/cri"
)

// A joined agent (host mn-b of the multinode test's namespaces) is killed
// for longer than the node grace period (20 s there) and restarted: its
// Deployment's pods, which tolerate an unreachable node for 5 s, are
// evicted and rebuilt on the other nodes; back, the node is Ready and the
// old pods' sandboxes and containers are gone from it.
func TestChaosAgentOutage(t *testing.T) {
	const scenario = "3 joined agent down past the grace period"
	mc := startMultiNode(t)
	t.Cleanup(func() { mc.kubectl("", "delete", "deployment", "outage", "--wait=false") })
	// Everything starts on mn-b: the others are cordoned meanwhile.
	mc.ok("", "cordon", "mn-a", "mn-c")
	mc.ok(`apiVersion: apps/v1
kind: Deployment
metadata: {name: outage}
spec:
  replicas: 3
  selector: {matchLabels: {app: outage}}
  template:
    metadata: {labels: {app: outage}}
    spec:
      terminationGracePeriodSeconds: 1
      tolerations:
      - {key: node.kubernetes.io/unreachable, operator: Exists, effect: NoExecute, tolerationSeconds: 5}
      - {key: node.kubernetes.io/not-ready, operator: Exists, effect: NoExecute, tolerationSeconds: 5}
      containers:
      - name: c
        image: busybox
        command: ["sh", "-c", "trap 'exit 0' TERM; sleep 100000 & wait"]
`, "apply", "-f", "-")
	placement := func() string {
		return mc.kubectl("", "get", "pods", "-l", "app=outage", "-o",
			`jsonpath={range .items[*]}{.metadata.uid}={.spec.nodeName}={.status.phase}={.metadata.deletionTimestamp} {end}`).stdout
	}
	mc.eventually("3 pods Running on mn-b", 3*time.Minute, func() (bool, string) {
		p := placement()
		return strings.Count(p, "=mn-b=Running=") == 3 && len(strings.Fields(p)) == 3, p
	})
	var oldUIDs []string
	for _, f := range strings.Fields(placement()) {
		oldUIDs = append(oldUIDs, strings.Split(f, "=")[0])
	}
	mc.ok("", "uncordon", "mn-a", "mn-c")

	b := mc.host("mn-b")
	_ = b.cmd.Process.Kill()
	_ = b.cmd.Wait()
	killed := time.Now()
	mc.eventually("mn-b Unknown", 2*time.Minute, func() (bool, string) {
		out := mc.kubectl("", "get", "node", "mn-b", "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status}`).stdout
		return out == "Unknown", out
	})
	unknown := time.Since(killed)
	mc.eventually("3 new pods Running off mn-b", 3*time.Minute, func() (bool, string) {
		p := placement()
		running := 0
		for _, f := range strings.Fields(p) {
			parts := strings.Split(f, "=")
			if len(parts) == 4 && parts[1] != "mn-b" && parts[2] == "Running" && parts[3] == "" {
				running++
			}
		}
		return running == 3, p
	})
	rebuilt := time.Since(killed)

	mc.spawn(b, "agent", "--eviction-hard", testEvictionHard, "--server", "https://"+mnServerIP+":6443", "--token-file", filepath.Join(mc.hosts[0].dir, "token"),
		"--data-dir", b.dir, "--node-name", b.name, "--node-ip", b.ip, "--flannel-direct-routing")
	restarted := time.Now()
	mc.eventually("mn-b Ready again", 2*time.Minute, func() (bool, string) {
		out := mc.kubectl("", "get", "node", "mn-b", "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status}`).stdout
		return out == "True", out
	})
	ready := time.Since(restarted)
	mc.eventually("the old pods gone from the API", 2*time.Minute, func() (bool, string) {
		p := placement()
		for _, uid := range oldUIDs {
			if strings.Contains(p, uid) {
				return false, p
			}
		}
		return true, ""
	})
	ctx := context.Background()
	var clean time.Duration
	mc.eventually("no sandbox or container of the old pods on mn-b", 2*time.Minute, func() (bool, string) {
		rt, err := cri.Dial(containerd.Socket(filepath.Join(b.dir, "agent", "containerd")))
		if err != nil {
			return false, err.Error()
		}
		defer rt.Close()
		left := 0
		for _, uid := range oldUIDs {
			sb, err := rt.Runtime.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{Filter: &runtimeapi.PodSandboxFilter{LabelSelector: map[string]string{"io.kubernetes.pod.uid": uid}}})
			if err != nil {
				return false, err.Error()
			}
			cs, err := rt.Runtime.ListContainers(ctx, &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{LabelSelector: map[string]string{"io.kubernetes.pod.uid": uid}}})
			if err != nil {
				return false, err.Error()
			}
			left += len(sb.Items) + len(cs.Containers)
		}
		clean = time.Since(restarted)
		return left == 0, fmt.Sprintf("%d sandboxes and containers of the old pods left", left)
	})
	if p := placement(); strings.Contains(p, "=mn-b=") {
		t.Fatalf("pods back on mn-b: %s", p)
	}
	t.Logf("mn-b Unknown %v after the kill, pods rebuilt elsewhere after %v; back: Ready in %v, old sandboxes gone in %v", unknown, rebuilt, ready, clean)
	figure(scenario, "node Unknown after the agent's kill -9 (grace 20 s)", "%v", unknown.Round(100*time.Millisecond))
	figure(scenario, "3 pods rebuilt on other nodes after the kill (toleration 5 s)", "%v", rebuilt.Round(100*time.Millisecond))
	figure(scenario, "node Ready after the agent's restart", "%v", ready.Round(100*time.Millisecond))
	figure(scenario, "old pods' sandboxes and containers gone after the restart", "%v (0 left)", clean.Round(100*time.Millisecond))
}
