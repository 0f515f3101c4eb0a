package e2e

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

// probeAndHookCases checks probes, lifecycle hooks and
// activeDeadlineSeconds on the agent's node; TestNodeAgentRunsPods runs it.
func probeAndHookCases(t *testing.T, nc *nodeCluster) {
	t.Run("readiness probe httpGet", func(t *testing.T) {
		nc := nc.with(t)
		pod := `apiVersion: v1
kind: Pod
metadata:
  name: ready-web
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: busybox
    command: ["sh", "-c", "sleep 3; mkdir -p /www; echo ok > /www/index.html; exec httpd -f -p 8080 -h /www"]
    ports:
    - {name: http, containerPort: 8080}
    readinessProbe:
      httpGet: {path: /, port: http}
      periodSeconds: 1
`
		nc.ok(bound(pod), "create", "-f", "-")
		nc.eventually(60*time.Second, func() (bool, string) {
			out := nc.ok("", "get", "pod", "ready-web")
			return regexp.MustCompile(`ready-web\s+0/1\s+Running`).MatchString(out), out
		})
		nc.eventually(60*time.Second, func() (bool, string) {
			out := nc.ok("", "get", "pod", "ready-web")
			return regexp.MustCompile(`ready-web\s+1/1\s+Running`).MatchString(out), out
		})
		contains(t, nc.ok("", "describe", "pod", "ready-web"), "Readiness probe failed")
		nc.ok("", "delete", "pod", "ready-web", "--grace-period=1")
	})

	t.Run("liveness probe exec restarts", func(t *testing.T) {
		nc := nc.with(t)
		pod := `apiVersion: v1
kind: Pod
metadata:
  name: liveness
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: busybox
    command: ["sh", "-c", "touch /tmp/healthy; sleep 5; rm /tmp/healthy; sleep 600"]
    livenessProbe:
      exec:
        command: ["cat", "/tmp/healthy"]
      periodSeconds: 1
      failureThreshold: 1
`
		nc.ok(bound(pod), "create", "-f", "-")
		nc.eventually(60*time.Second, func() (bool, string) {
			out := nc.ok("", "get", "pod", "liveness")
			return regexp.MustCompile(`liveness\s+\d/1\s+\S+\s+[1-9]`).MatchString(out), out
		})
		d := nc.ok("", "describe", "pod", "liveness")
		contains(t, d, "Unhealthy", "Liveness probe failed", "failed liveness probe, will be restarted")
		nc.ok("", "delete", "pod", "liveness", "--grace-period=1")
	})

	t.Run("startup probe gates readiness", func(t *testing.T) {
		nc := nc.with(t)
		pod := `apiVersion: v1
kind: Pod
metadata:
  name: slow-start
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: busybox
    command: ["sh", "-c", "sleep 4; touch /tmp/started; sleep 600"]
    startupProbe:
      exec:
        command: ["cat", "/tmp/started"]
      periodSeconds: 1
      failureThreshold: 30
    readinessProbe:
      exec:
        command: ["true"]
      periodSeconds: 1
`
		nc.ok(bound(pod), "create", "-f", "-")
		nc.waitPhase("slow-start", "Running")
		started := nc.jsonpath("pod", "slow-start", "{.status.containerStatuses[0].started} {.status.containerStatuses[0].ready}")
		if started != "false false" {
			t.Fatalf("right after start: started, ready = %q", started)
		}
		nc.eventually(60*time.Second, func() (bool, string) {
			got := nc.jsonpath("pod", "slow-start", "{.status.containerStatuses[0].started} {.status.containerStatuses[0].ready}")
			return got == "true true", got
		})
		nc.ok("", "delete", "pod", "slow-start", "--grace-period=1")
	})

	t.Run("preStop sleep delays deletion", func(t *testing.T) {
		nc := nc.with(t)
		pod := `apiVersion: v1
kind: Pod
metadata:
  name: prestop
spec:
  containers:
  - name: c
    image: busybox
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.2; done"]
    lifecycle:
      preStop:
        sleep: {seconds: 2}
`
		nc.ok(bound(pod), "create", "-f", "-")
		nc.waitPhase("prestop", "Running")
		start := time.Now()
		nc.ok("", "delete", "pod", "prestop")
		if d := time.Since(start); d < 2*time.Second || d > 15*time.Second {
			t.Fatalf("deletion with a 2 s preStop took %v", d)
		}
	})

	t.Run("deleted pod reaches a terminal phase before it goes", func(t *testing.T) {
		nc := nc.with(t)
		// A finalizer holds both pods after their containers stopped, so the
		// phase the agent reports on the way out can be read.
		pods := `apiVersion: v1
kind: Pod
metadata:
  name: exits-clean
  finalizers: ["e2e.flotilla.io/hold"]
spec:
  terminationGracePeriodSeconds: 5
  containers:
  - name: c
    image: busybox
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.2; done"]
---
apiVersion: v1
kind: Pod
metadata:
  name: killed
  finalizers: ["e2e.flotilla.io/hold"]
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: busybox
    command: ["sleep", "3600"]
`
		nc.ok(bound(pods), "create", "-f", "-")
		nc.waitPhase("exits-clean", "Running")
		nc.waitPhase("killed", "Running")
		nc.ok("", "delete", "pod", "exits-clean", "killed", "--wait=false")
		nc.waitPhase("exits-clean", "Succeeded")
		nc.waitPhase("killed", "Failed")
		if code := nc.jsonpath("pod", "exits-clean", "{.status.containerStatuses[0].state.terminated.exitCode}"); code != "0" {
			t.Fatalf("exits-clean exit code %q, want 0", code)
		}
		if code := nc.jsonpath("pod", "killed", "{.status.containerStatuses[0].state.terminated.exitCode}"); code != "137" {
			t.Fatalf("killed exit code %q, want 137 (SIGKILL after the grace period)", code)
		}
		if r := nc.jsonpath("pod", "killed", `{.status.conditions[?(@.type=="Ready")].reason}`); r != "PodCompleted" {
			t.Fatalf("killed Ready reason %q, want PodCompleted", r)
		}
		for _, name := range []string{"exits-clean", "killed"} {
			nc.ok("", "patch", "pod", name, "--type=json", "-p", `[{"op":"remove","path":"/metadata/finalizers"}]`)
		}
		nc.ok("", "wait", "--for=delete", "pod/exits-clean", "pod/killed", "--timeout=60s")
	})

	t.Run("postStart exec runs", func(t *testing.T) {
		nc := nc.with(t)
		pod := `apiVersion: v1
kind: Pod
metadata:
  name: poststart
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: busybox
    command: ["sh", "-c", "until [ -f /tmp/hooked ]; do sleep 0.2; done; cat /tmp/hooked; sleep 600"]
    lifecycle:
      postStart:
        exec:
          command: ["sh", "-c", "echo hooked > /tmp/hooked"]
`
		nc.ok(bound(pod), "create", "-f", "-")
		nc.eventually(60*time.Second, func() (bool, string) {
			r := nc.kubectl("", "logs", "poststart")
			return strings.Contains(r.stdout, "hooked"), r.String()
		})
		nc.ok("", "delete", "pod", "poststart", "--grace-period=1")
	})

	t.Run("failing postStart kills the container", func(t *testing.T) {
		nc := nc.with(t)
		pod := `apiVersion: v1
kind: Pod
metadata:
  name: poststart-bad
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: busybox
    command: ["sleep", "600"]
    lifecycle:
      postStart:
        exec:
          command: ["sh", "-c", "exit 7"]
`
		nc.ok(bound(pod), "create", "-f", "-")
		nc.eventually(60*time.Second, func() (bool, string) {
			d := nc.ok("", "describe", "pod", "poststart-bad")
			return strings.Contains(d, "FailedPostStartHook") && regexp.MustCompile(`Restart Count:\s+[1-9]`).MatchString(d), d
		})
		nc.ok("", "delete", "pod", "poststart-bad", "--grace-period=1")
	})

	t.Run("activeDeadlineSeconds", func(t *testing.T) {
		nc := nc.with(t)
		pod := `apiVersion: v1
kind: Pod
metadata:
  name: deadline
spec:
  activeDeadlineSeconds: 2
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: busybox
    command: ["sleep", "600"]
`
		nc.ok(bound(pod), "create", "-f", "-")
		nc.waitPhase("deadline", "Failed")
		if got := nc.jsonpath("pod", "deadline", "{.status.reason}"); got != "DeadlineExceeded" {
			t.Fatalf("reason %q", got)
		}
		// Containers are killed, not left running (kubernetes#98718).
		if got := nc.jsonpath("pod", "deadline", "{.status.containerStatuses[0].state.terminated.exitCode}"); got == "" {
			t.Fatalf("container not terminated: %s", nc.ok("", "get", "pod", "deadline", "-o", "yaml"))
		}
		contains(t, nc.ok("", "describe", "pod", "deadline"), "Pod was active on the node longer than the specified deadline")
	})
}
