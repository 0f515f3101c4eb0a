package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
)

// condition is the status, reason and message of the node's condition typ.
func (nc *nodeCluster) condition(typ string) (status, reason, message string) {
	out := nc.jsonpath("node", agentNode, `{range .status.conditions[?(@.type=="`+typ+`")]}{.status}{"\t"}{.reason}{"\t"}{.message}{end}`)
	parts := strings.SplitN(out, "\t", 3)
	for len(parts) < 3 {
		parts = append(parts, "")
	}
	return parts[0], parts[1], parts[2]
}

// The agent's data dir on a small tmpfs the test mounts: a pod filling
// it past --eviction-hard turns DiskPressure True, taints the Node,
// refuses new pods, and the pod is evicted as upstream's kubelet does;
// its emptyDir goes with it, and once the transition period has passed
// without the threshold met, the condition and the taint go too. The pod
// that stays within its requests is not touched.
func TestNodeDiskPressureEvicts(t *testing.T) {
	t.Parallel()
	requireNodeAgent(t)
	dir, err := os.MkdirTemp("/tmp", "fl-node-")
	if err != nil {
		t.Fatal(err)
	}
	agentDir := filepath.Join(dir, "agent")
	if err := os.MkdirAll(agentDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=256m", "tmpfs", agentDir).CombinedOutput(); err != nil {
		t.Fatalf("mount a tmpfs for the agent's data dir: %v\n%s", err, out)
	}
	// Runs after the cluster's cleanup (registered later, run earlier).
	t.Cleanup(func() {
		_ = exec.Command("umount", "-R", agentDir).Run()
		_ = os.RemoveAll(dir)
	})
	const transition = 20 * time.Second
	nc := startNodeClusterIn(t, dir, "--eviction-hard", "nodefs.available<40%,imagefs.available<40%",
		"--eviction-pressure-transition-period", transition.String())
	if st, reason, _ := nc.condition("DiskPressure"); st != "False" || reason != "KubeletHasNoDiskPressure" {
		t.Fatalf("DiskPressure %s/%s on a fresh node, want False/KubeletHasNoDiskPressure", st, reason)
	}
	// The tmpfs is what the node reports as its ephemeral storage, less
	// the nodefs threshold.
	capacity := nc.jsonpath("node", agentNode, "{.status.capacity.ephemeral-storage}")
	allocatable := nc.jsonpath("node", agentNode, "{.status.allocatable.ephemeral-storage}")
	if capacity != "256Mi" && capacity != "262144Ki" {
		t.Fatalf("ephemeral-storage capacity %q, want the 256Mi tmpfs", capacity)
	}
	capQ, allocQ := resource.MustParse(capacity), resource.MustParse(allocatable)
	if want := capQ.Value() - int64(0.4*float64(capQ.Value())); allocQ.Value() != want {
		t.Fatalf("allocatable ephemeral-storage %s, want the capacity %s less 40%% (nodefs.available<40%%): %d", allocatable, capacity, want)
	}

	nc.ok(bound(`apiVersion: v1
kind: Pod
metadata:
  name: bystander
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: busybox
    command: ["sleep", "3600"]
    resources:
      requests: {memory: 10Mi, ephemeral-storage: 50Mi}
`), "create", "-f", "-")
	nc.waitPhase("bystander", "Running")
	nc.ok(bound(`apiVersion: v1
kind: Pod
metadata:
  name: filler
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: busybox
    command: ["sh", "-c", "dd if=/dev/zero of=/data/fill bs=1M count=170 && sleep 3600"]
    volumeMounts:
    - {name: data, mountPath: /data}
  volumes:
  - name: data
    emptyDir: {}
`), "create", "-f", "-")
	nc.waitPhase("filler", "Running")
	filled := time.Now()

	nc.eventually(90*time.Second, func() (bool, string) {
		st, reason, msg := nc.condition("DiskPressure")
		return st == "True" && reason == "KubeletHasDiskPressure" && msg == "kubelet has disk pressure", st + " " + reason + " " + msg
	})
	toCondition := time.Since(filled)
	// A pod bound now is refused by the node, as the kubelet's eviction
	// manager admits.
	nc.ok(sleepingPod("late"), "create", "-f", "-")
	nc.eventually(60*time.Second, func() (bool, string) {
		return nc.jsonpath("node", agentNode, `{.spec.taints[?(@.key=="node.kubernetes.io/disk-pressure")].effect}`) == "NoSchedule",
			nc.jsonpath("node", agentNode, "{.spec.taints}")
	})
	nc.waitPhase("late", "Failed")
	if got := nc.jsonpath("pod", "late", "{.status.reason}/{.status.message}"); got != "Evicted/Pod was rejected: The node had condition: [DiskPressure]. " {
		t.Errorf("the pod bound under pressure: %q, want Evicted/Pod was rejected: The node had condition: [DiskPressure]. (the kubelet prefixes rejections)", got)
	}

	nc.waitPhase("filler", "Failed")
	toEviction := time.Since(filled)
	if got := nc.jsonpath("pod", "filler", "{.status.reason}"); got != "Evicted" {
		t.Errorf("filler reason %q, want Evicted", got)
	}
	msg := nc.jsonpath("pod", "filler", "{.status.message}")
	if !strings.HasPrefix(msg, "The node was low on resource: ephemeral-storage. Threshold quantity: ") || !strings.Contains(msg, ", available: ") {
		t.Errorf("filler message %q, want upstream's: The node was low on resource: ephemeral-storage. Threshold quantity: Q, available: A. ...", msg)
	}
	if got := nc.jsonpath("pod", "filler", `{.status.conditions[?(@.type=="DisruptionTarget")].reason}`); got != "TerminationByKubelet" {
		t.Errorf("filler DisruptionTarget reason %q, want TerminationByKubelet", got)
	}
	nc.eventually(60*time.Second, func() (bool, string) {
		ev := nc.kubectl("", "get", "events", "--field-selector", "involvedObject.name=filler,reason=Evicted", "-o", "jsonpath={.items[*].message}")
		return strings.Contains(ev.stdout, "The node was low on resource: ephemeral-storage."), ev.String()
	})
	nc.eventually(60*time.Second, func() (bool, string) {
		ev := nc.kubectl("", "get", "events", "-A", "--field-selector", "involvedObject.kind=Node,reason=EvictionThresholdMet", "-o", "jsonpath={.items[*].message}")
		return strings.Contains(ev.stdout, "Attempting to reclaim ephemeral-storage"), ev.String()
	})

	// The emptyDir went with the evicted pod: the condition clears after
	// the transition period, and the taint with it.
	nc.eventually(transition+90*time.Second, func() (bool, string) {
		st, reason, msg := nc.condition("DiskPressure")
		return st == "False" && reason == "KubeletHasNoDiskPressure", st + " " + reason + " " + msg
	})
	toRelief := time.Since(filled)
	nc.eventually(60*time.Second, func() (bool, string) {
		taints := nc.jsonpath("node", agentNode, "{.spec.taints}")
		return !strings.Contains(taints, "disk-pressure"), taints
	})
	if got := nc.jsonpath("pod", "bystander", "{.status.phase}/{.status.containerStatuses[0].restartCount}"); got != "Running/0" {
		t.Errorf("bystander %s, want Running/0: the pod within its requests is not evicted", got)
	}
	t.Logf("filled (pod Running) → DiskPressure True %v, → filler evicted %v, → DiskPressure False %v (transition period %v)",
		toCondition.Round(100*time.Millisecond), toEviction.Round(100*time.Millisecond), toRelief.Round(100*time.Millisecond), transition)
}

// sleepingPod is a BestEffort busybox pod bound to the node, sleeping.
func sleepingPod(name string) string {
	return bound(`apiVersion: v1
kind: Pod
metadata:
  name: ` + name + `
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: busybox
    command: ["sleep", "3600"]
`)
}
