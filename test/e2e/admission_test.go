package e2e

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
)

// A pod bound with spec.nodeName never meets the scheduler: the node agent
// admits it as upstream's kubelet does, and rejects one whose host port a
// running pod holds. The StatefulSet controller replaces a rejected pod
// until the port is free (upstream's "Should recreate evicted
// statefulset" conformance test).
func TestNodeAgentAdmission(t *testing.T) {
	t.Parallel()
	nc := startNodeCluster(t)
	const (
		rejectedMsg = "Pod was rejected: Predicate NodePorts failed: node(s) didn't have free ports for the requested pod ports"
		loop        = `["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.2; done"]`
	)
	podWithPort := func(name string) string {
		return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: busybox
    command: %s
    ports:
    - {name: conflict, containerPort: 21017, hostPort: 21017}
`, name, loop)
	}
	// events lists "uid reason message" of the events of the pods named.
	events := func(pod string) []string {
		out := nc.ok("", "get", "events", "-o", `jsonpath={range .items[*]}{.involvedObject.name}{"\t"}{.involvedObject.uid}{"\t"}{.type}{"\t"}{.reason}{"\t"}{.message}{"\t"}{.source.component}{"\n"}{end}`)
		var mine []string
		for _, l := range strings.Split(out, "\n") {
			if f := strings.Split(l, "\t"); len(f) == 6 && f[0] == pod {
				mine = append(mine, strings.Join(f[1:], "\t"))
			}
		}
		return mine
	}

	nc.ok(bound(podWithPort("holder")), "create", "-f", "-")
	nc.waitPhase("holder", "Running")

	t.Run("second pod with the host port is rejected", func(t *testing.T) {
		nc := nc.with(t)
		nc.ok(bound(podWithPort("conflict")), "create", "-f", "-")
		nc.waitPhase("conflict", "Failed")
		got := nc.jsonpath("pod", "conflict", `{.status.reason}|{.status.message}|{.status.containerStatuses}|{.status.podIP}`)
		if want := "NodePorts|" + rejectedMsg + "||"; got != want {
			t.Fatalf("status %q, want %q", got, want)
		}
		if out := nc.ok("", "get", "pod", "conflict"); !regexp.MustCompile(`(?m)^conflict\s+0/1\s+NodePorts\s+0\s`).MatchString(out) {
			t.Fatalf("kubectl get pod:\n%s", out)
		}
		uid := nc.jsonpath("pod", "conflict", "{.metadata.uid}")
		nc.eventually(60*time.Second, func() (bool, string) {
			evs := events("conflict")
			for _, e := range evs {
				if e == uid+"\tWarning\tNodePorts\tPredicate NodePorts failed: node(s) didn't have free ports for the requested pod ports\tkubelet" {
					return true, ""
				}
			}
			return false, strings.Join(evs, "\n")
		})
		// The pod that holds the port runs on.
		if got := nc.jsonpath("pod", "holder", "{.status.phase}"); got != "Running" {
			t.Fatalf("holder %s", got)
		}
	})

	t.Run("StatefulSet pod recreated until the port is free", func(t *testing.T) {
		nc := nc.with(t)
		nc.ok(fmt.Sprintf(`apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: ss
spec:
  serviceName: test
  replicas: 1
  selector:
    matchLabels: {app: ss}
  template:
    metadata:
      labels: {app: ss}
    spec:
      nodeName: %s
      terminationGracePeriodSeconds: 1
      containers:
      - name: c
        image: busybox
        command: %s
        ports:
        - {name: conflict, containerPort: 21017, hostPort: 21017}
`, agentNode, loop), "apply", "-f", "-")
		// Rejected, replaced, and the replacement rejected too.
		rejected := map[string]bool{}
		nc.eventually(60*time.Second, func() (bool, string) {
			evs := events("ss-0")
			for _, e := range evs {
				if f := strings.Split(e, "\t"); f[2] == "NodePorts" {
					rejected[f[0]] = true
				}
			}
			return len(rejected) >= 2, strings.Join(evs, "\n")
		})
		nc.ok("", "delete", "pod", "holder", "--grace-period=0", "--force")
		var uid string
		nc.eventually(90*time.Second, func() (bool, string) {
			out := nc.jsonpath("pod", "ss-0", "{.metadata.uid} {.status.phase}")
			f := strings.Fields(out)
			if len(f) != 2 {
				return false, out
			}
			uid = f[0]
			return f[1] == "Running" && !rejected[uid], out + "\n" + strings.Join(events("ss-0"), "\n")
		})
		contains(t, nc.ok("", "rollout", "status", "statefulset/ss", "--timeout=60s"), "complete")
		// Meanwhile the replacements took their back-off: a handful of
		// pods, not a tight loop of them.
		creates := 0
		counts := nc.ok("", "get", "events", "--field-selector", "involvedObject.name=ss,reason=SuccessfulCreate", "-o", `jsonpath={range .items[*]}{.count}{"\n"}{end}`)
		for _, c := range strings.Fields(counts) {
			n := 0
			fmt.Sscan(c, &n)
			creates += max(n, 1)
		}
		t.Logf("%d pods created for ss-0, %d rejected", creates, len(rejected))
		if creates < 3 || creates > 20 {
			t.Fatalf("%d pods created for ss-0", creates)
		}
		// The rejected pod stays as it was: Failed, never started.
		got := nc.jsonpath("pod", "conflict", `{.status.phase}|{.status.reason}|{.status.containerStatuses}`)
		if got != "Failed|NodePorts|" {
			t.Fatalf("rejected pod now %q", got)
		}
	})
}
