package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// startSim runs `flotilla sim` against the shared cluster until the test
// ends, then removes its nodes.
func startSim(t *testing.T, prefix string, nodes int, extra ...string) {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), "sim.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"sim", "--kubeconfig", cluster.kubeconfig, "--nodes", strconv.Itoa(nodes), "--name-prefix", prefix, "--delete-nodes-on-exit"}, extra...)
	cmd := exec.Command(cluster.bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		interruptAndWait(cmd, 30*time.Second)
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("sim log:\n%s", tail(string(b), 30))
		}
	})
	eventually(t, 30*time.Second, func() (bool, string) {
		r := kubectl(t, "", "get", "nodes", "-l", "node.kubernetes.io/instance-type=flotilla-sim", "--no-headers")
		return strings.Count(r.stdout, " Ready ") >= nodes, r.String()
	})
}

func eventually(t *testing.T, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		done, state := cond()
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s; last state:\n%s", timeout, state)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// podNode is the node a pod was bound to ("" while Pending).
func podNode(t *testing.T, ns, pod string) string {
	return ok(t, "", "get", "pod", pod, "-n", ns, "-o", "jsonpath={.spec.nodeName}")
}

// tolerateSim lets a test pod onto the tainted simulated nodes.
const tolerateSim = "  tolerations:\n  - key: flotilla.io/e2e\n    operator: Exists\n    effect: NoSchedule\n"

// The seeds' node-management flows with the stock kubectl: label a node
// and select it, taint and tolerate, cordon, drain (with a disruption
// budget in the way), on simulated nodes bound by the scheduler.
func TestNodeManagementWithKubectl(t *testing.T) {
	// Tainted so that pods other tests left Pending stay off these nodes.
	startSim(t, "mgmt", 3, "--taint", "flotilla.io/e2e=mgmt:NoSchedule")
	ns := namespace(t)

	// Seed 000: label a node, then a pod selecting the label runs there;
	// a selector no node matches stays Pending with the scheduler's reason.
	ok(t, "", "label", "nodes", "mgmt-1", "disktype=ssd")
	pod := func(name, extra string) string {
		return "apiVersion: v1\nkind: Pod\nmetadata:\n  name: " + name + "\n  labels:\n    app: " + name + "\nspec:\n  terminationGracePeriodSeconds: 2\n  containers:\n  - name: c\n    image: busybox\n" + tolerateSim + extra
	}
	ok(t, pod("ssd", "  nodeSelector:\n    disktype: ssd\n"), "apply", "-n", ns, "-f", "-")
	ok(t, pod("gpu", "  nodeSelector:\n    accelerator: none-here\n"), "apply", "-n", ns, "-f", "-")
	eventually(t, 30*time.Second, func() (bool, string) {
		out := ok(t, "", "get", "pod", "ssd", "-n", ns, "-o", "wide")
		return podNode(t, ns, "ssd") == "mgmt-1" && strings.Contains(out, "Running"), out
	})
	eventually(t, 30*time.Second, func() (bool, string) {
		out := ok(t, "", "describe", "pod", "gpu", "-n", ns)
		return regexp.MustCompile(`FailedScheduling.*nodes are available:.*didn't match Pod's node affinity/selector`).MatchString(out), out
	})
	if got := ok(t, "", "get", "pod", "gpu", "-n", ns, "-o", "jsonpath={.status.phase}/{.status.conditions[?(@.type=='PodScheduled')].reason}"); got != "Pending/Unschedulable" {
		t.Fatalf("unschedulable pod: %q", got)
	}
	// Labelling a node to match binds the waiting pod.
	ok(t, "", "label", "nodes", "mgmt-2", "accelerator=none-here")
	eventually(t, 30*time.Second, func() (bool, string) { n := podNode(t, ns, "gpu"); return n == "mgmt-2", n })

	// Taints keep pods without a toleration away; cordon keeps everyone away.
	ok(t, "", "taint", "nodes", "mgmt-0", "dedicated=db:NoSchedule")
	ok(t, "", "cordon", "mgmt-2")
	contains(t, ok(t, "", "get", "node", "mgmt-2"), "SchedulingDisabled")
	for _, name := range []string{"a1", "a2", "a3"} {
		ok(t, pod(name, ""), "apply", "-n", ns, "-f", "-")
	}
	// The toleration continues the list tolerateSim opens.
	ok(t, pod("tolerant", "  - key: dedicated\n    operator: Equal\n    value: db\n    effect: NoSchedule\n  nodeSelector:\n    kubernetes.io/hostname: mgmt-0\n"), "apply", "-n", ns, "-f", "-")
	for _, name := range []string{"a1", "a2", "a3"} {
		eventually(t, 30*time.Second, func() (bool, string) { n := podNode(t, ns, name); return n == "mgmt-1", name + " on " + n })
	}
	eventually(t, 30*time.Second, func() (bool, string) { n := podNode(t, ns, "tolerant"); return n == "mgmt-0", n })
	ok(t, "", "uncordon", "mgmt-2")

	// Drain: a disruption budget that allows no eviction stops it; with the
	// budget gone, the node is emptied and left cordoned.
	ok(t, "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata:\n  name: keep-ssd\nspec:\n  minAvailable: 1\n  selector:\n    matchLabels:\n      app: ssd\n", "apply", "-n", ns, "-f", "-")
	eventually(t, 30*time.Second, func() (bool, string) {
		got := ok(t, "", "get", "pdb", "keep-ssd", "-n", ns, "-o", "jsonpath={.status.currentHealthy}/{.status.disruptionsAllowed}")
		return got == "1/0", got
	})
	r := kubectl(t, "", "drain", "mgmt-1", "--force", "--timeout=5s", "--pod-selector=app=ssd")
	if r.code == 0 || !strings.Contains(r.stderr+r.stdout, "disruption budget") {
		t.Fatalf("drain past a disruption budget: %s", r)
	}
	if podNode(t, ns, "ssd") != "mgmt-1" {
		t.Fatal("the guarded pod was evicted")
	}
	ok(t, "", "delete", "pdb", "keep-ssd", "-n", ns)
	out := ok(t, "", "drain", "mgmt-1", "--force", "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=45s")
	contains(t, out, "evicting pod "+ns+"/ssd", "node/mgmt-1 drained")
	for _, name := range []string{"ssd", "a1", "a2", "a3"} {
		eventually(t, 30*time.Second, func() (bool, string) {
			r := kubectl(t, "", "get", "pod", name, "-n", ns)
			return r.code != 0 && strings.Contains(r.stderr, "NotFound"), r.String()
		})
	}
	contains(t, ok(t, "", "get", "node", "mgmt-1"), "SchedulingDisabled")
}
