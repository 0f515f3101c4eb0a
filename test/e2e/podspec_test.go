package e2e

import (
	"strings"
	"testing"
	"time"
)

// Pod spec details upstream's conformance suite checks, with real
// containers: the managed /etc/hosts with hostAliases, host names of long
// pod names, host-network pods, termination messages, fsGroup on secret
// volumes for a non-root user, finished init containers being ready, and
// the downward API's node address and default limits.
func TestNodeAgentPodDetails(t *testing.T) {
	t.Parallel()
	nc := startNodeCluster(t)

	t.Run("managed /etc/hosts, hostAliases and a long name", func(t *testing.T) {
		nc := nc.with(t)
		name := "a-pod-whose-name-is-longer-than-sixty-three-characters-so-hostname-is-cut"
		pod := `apiVersion: v1
kind: Pod
metadata:
  name: ` + name + `
spec:
  restartPolicy: Never
  hostAliases:
  - ip: 123.45.67.89
    hostnames: [foo.local, bar.local]
  containers:
  - name: c
    image: busybox
    command: ["sh", "-c", "cat /etc/hosts; echo HOSTNAME=$(hostname)"]
`
		nc.ok(bound(pod), "create", "-f", "-")
		nc.waitPhase(name, "Succeeded")
		out := nc.ok("", "logs", name)
		contains(t, out, "# Kubernetes-managed hosts file.", "# Entries added by HostAliases.", "123.45.67.89\tfoo.local\tbar.local",
			"HOSTNAME="+name[:63]+"\n")
	})

	t.Run("host network pod", func(t *testing.T) {
		nc := nc.with(t)
		pod := `apiVersion: v1
kind: Pod
metadata:
  name: hostnet
spec:
  restartPolicy: Never
  hostNetwork: true
  containers:
  - name: c
    image: busybox
    command: ["sh", "-c", "head -1 /etc/hosts; echo HOST_IP=$HOST_IP"]
    env:
    - name: HOST_IP
      valueFrom: {fieldRef: {fieldPath: status.hostIP}}
`
		nc.ok(bound(pod), "create", "-f", "-")
		nc.waitPhase("hostnet", "Succeeded")
		out := nc.ok("", "logs", "hostnet")
		hostIP := nc.jsonpath("node", agentNode, `{.status.addresses[?(@.type=="InternalIP")].address}`)
		contains(t, out, "# Kubernetes-managed hosts file (host network).", "HOST_IP="+hostIP+"\n")
	})

	t.Run("termination messages", func(t *testing.T) {
		nc := nc.with(t)
		pod := `apiVersion: v1
kind: Pod
metadata:
  name: messages
spec:
  restartPolicy: Never
  containers:
  - name: file
    image: busybox
    command: ["sh", "-c", "printf DONE > /dev/termination-custom"]
    terminationMessagePath: /dev/termination-custom
    securityContext: {runAsUser: 1000}
  - name: fallback
    image: busybox
    command: ["sh", "-c", "echo last words; exit 2"]
    terminationMessagePolicy: FallbackToLogsOnError
`
		nc.ok(bound(pod), "create", "-f", "-")
		nc.waitPhase("messages", "Failed")
		if got := nc.jsonpath("pod", "messages", `{.status.containerStatuses[?(@.name=="file")].state.terminated.message}`); got != "DONE" {
			t.Errorf("message from file = %q", got)
		}
		if got := nc.jsonpath("pod", "messages", `{.status.containerStatuses[?(@.name=="fallback")].state.terminated.message}`); got != "last words\n" {
			t.Errorf("message from logs = %q", got)
		}
	})

	t.Run("fsGroup makes a secret readable to a non-root user", func(t *testing.T) {
		nc := nc.with(t)
		nc.ok("", "create", "secret", "generic", "fsgroup-secret", "--from-literal=data-1=value-1")
		pod := `apiVersion: v1
kind: Pod
metadata:
  name: fsgroup
spec:
  restartPolicy: Never
  securityContext: {runAsUser: 1000, fsGroup: 1001}
  volumes:
  - name: s
    secret: {secretName: fsgroup-secret, defaultMode: 0440}
  containers:
  - name: c
    image: busybox
    command: ["sh", "-c", "id -G; cat /etc/secret-volume/data-1; ls -ln /etc/secret-volume/..data/"]
    volumeMounts:
    - {name: s, mountPath: /etc/secret-volume}
`
		nc.ok(bound(pod), "create", "-f", "-")
		nc.eventually(60*time.Second, func() (bool, string) {
			phase := nc.jsonpath("pod", "fsgroup", "{.status.phase}")
			return phase == "Succeeded" || phase == "Failed", phase
		})
		out := nc.ok("", "logs", "fsgroup")
		contains(t, out, "1001", "value-1", "-r--r-----")
		if phase := nc.jsonpath("pod", "fsgroup", "{.status.phase}"); phase != "Succeeded" {
			t.Fatalf("pod %s:\n%s", phase, out)
		}
	})

	t.Run("finished init containers are ready; limits default to the node's", func(t *testing.T) {
		nc := nc.with(t)
		pod := `apiVersion: v1
kind: Pod
metadata:
  name: initready
spec:
  initContainers:
  - {name: init1, image: busybox, command: ["true"]}
  containers:
  - name: c
    image: busybox
    command: ["sh", "-c", "echo CPU_LIMIT=$CPU_LIMIT; sleep 3600"]
    env:
    - name: CPU_LIMIT
      valueFrom: {resourceFieldRef: {resource: limits.cpu}}
`
		nc.ok(bound(pod), "create", "-f", "-")
		nc.waitPhase("initready", "Running")
		if got := nc.jsonpath("pod", "initready", "{.status.initContainerStatuses[0].ready}"); got != "true" {
			t.Errorf("finished init container ready = %q", got)
		}
		cpus := nc.jsonpath("node", agentNode, "{.status.allocatable.cpu}")
		nc.eventually(60*time.Second, func() (bool, string) {
			r := nc.kubectl("", "logs", "initready")
			return strings.Contains(r.stdout, "CPU_LIMIT="+cpus+"\n"), r.String()
		})
	})
}
