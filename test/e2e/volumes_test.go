package e2e

import (
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

// configMap, secret, downwardAPI and projected volumes, and a secret in
// the environment, as a container sees them.
func TestNodeAgentVolumes(t *testing.T) {
	t.Parallel()
	nc := startNodeCluster(t)
	nc.ok("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: conf\ndata:\n  app.properties: color=blue\n", "apply", "-f", "-")
	nc.ok("", "create", "secret", "generic", "creds", "--from-literal=password=hunter2")
	pod := `apiVersion: v1
kind: Pod
metadata:
  name: vols
  labels:
    app: vols
    tier: web
spec:
  restartPolicy: Never
  volumes:
  - name: conf
    configMap:
      name: conf
  - name: creds
    secret:
      secretName: creds
      items:
      - {key: password, path: db/pass}
  - name: info
    downwardAPI:
      items:
      - path: labels
        fieldRef: {fieldPath: metadata.labels}
      - path: name
        fieldRef: {fieldPath: metadata.name}
  - name: all
    projected:
      sources:
      - configMap: {name: conf}
      - downwardAPI:
          items:
          - path: namespace
            fieldRef: {fieldPath: metadata.namespace}
  containers:
  - name: c
    image: busybox
    env:
    - name: PASSWORD
      valueFrom:
        secretKeyRef: {name: creds, key: password}
    command: ["sh", "-c", "cat /etc/conf/app.properties; echo; cat /etc/creds/db/pass; echo; cat /etc/info/labels; echo; cat /etc/info/name; echo; cat /etc/all/namespace; echo; cat /etc/all/app.properties; echo; echo env=$PASSWORD; touch /etc/conf/x 2>/dev/null || echo read-only"]
    volumeMounts:
    - {name: conf, mountPath: /etc/conf}
    - {name: creds, mountPath: /etc/creds}
    - {name: info, mountPath: /etc/info}
    - {name: all, mountPath: /etc/all}
`
	nc.ok(bound(pod), "create", "-f", "-")
	nc.waitPhase("vols", "Succeeded")
	var out string
	nc.eventually(60*time.Second, func() (bool, string) {
		out = nc.kubectl("", "logs", "vols").stdout
		return strings.Contains(out, "read-only"), out
	})
	for _, want := range []string{"color=blue", "hunter2", `app="vols"`, `tier="web"`, "vols\ndefault\ncolor=blue", "env=hunter2", "read-only"} {
		if !strings.Contains(out, want) {
			t.Fatalf("output lacks %q:\n%s", want, out)
		}
	}

	// Every pod gets its service account's credentials, as upstream's
	// admission mounts them; the token authenticates against the API.
	sa := "apiVersion: v1\nkind: Pod\nmetadata:\n  name: sa\nspec:\n  restartPolicy: Never\n  containers:\n  - name: c\n    image: busybox\n    command: [\"sh\", \"-c\", \"cd /var/run/secrets/kubernetes.io/serviceaccount && cat namespace && echo && head -c 20 ca.crt && echo && cat token\"]\n"
	nc.ok(bound(sa), "create", "-f", "-")
	nc.waitPhase("sa", "Succeeded")
	logs := nc.ok("", "logs", "sa")
	lines := strings.Split(strings.TrimSpace(logs), "\n")
	if len(lines) != 3 || lines[0] != "default" || lines[1] != "-----BEGIN CERTIFICA" || strings.Count(lines[2], ".") != 2 {
		t.Fatalf("service account files:\n%s", logs)
	}
	// The token authenticates but grants nothing until the account is
	// bound to a role.
	asSA := func() result {
		return nc.kubectl("", "get", "pods", "--token", lines[2], "--client-certificate=", "--client-key=")
	}
	const forbidden = `Error from server (Forbidden): pods is forbidden: User "system:serviceaccount:default:default" cannot list resource "pods" in API group "" in the namespace "default"`
	if r := asSA(); r.code == 0 || strings.TrimSpace(r.stderr) != forbidden {
		t.Fatalf("API read with the unbound pod's token: %s", r)
	}
	nc.ok("", "create", "rolebinding", "sa-view", "--clusterrole=view", "--serviceaccount=default:default")
	defer nc.kubectl("", "delete", "rolebinding", "sa-view")
	nc.eventually(60*time.Second, func() (bool, string) {
		r := asSA()
		return r.code == 0 && strings.Contains(r.stdout, "sa"), r.String()
	})
	if bad := nc.kubectl("", "get", "pods", "--token", lines[2]+"x", "--client-certificate=", "--client-key="); bad.code == 0 {
		t.Fatalf("a forged token was accepted: %s", bad)
	}

	// A container that started first still sees the shared volumes after
	// its neighbour started (they are prepared once and updated in place).
	two := "apiVersion: v1\nkind: Pod\nmetadata:\n  name: two\nspec:\n  restartPolicy: Never\n  volumes:\n  - name: conf\n    configMap: {name: conf}\n  containers:\n  - name: first\n    image: busybox\n    command: [\"sh\", \"-c\", \"sleep 3; cat /var/run/secrets/kubernetes.io/serviceaccount/namespace /etc/conf/app.properties\"]\n    volumeMounts:\n    - {name: conf, mountPath: /etc/conf}\n  - name: second\n    image: busybox\n    command: [\"sh\", \"-c\", \"cat /var/run/secrets/kubernetes.io/serviceaccount/namespace\"]\n    volumeMounts:\n    - {name: conf, mountPath: /etc/conf}\n"
	nc.ok(bound(two), "create", "-f", "-")
	nc.waitPhase("two", "Succeeded")
	if got := nc.ok("", "logs", "two", "-c", "first"); got != "defaultcolor=blue" { // the namespace file has no newline
		t.Fatalf("first container read %q", got)
	}

	// A changed ConfigMap reaches a running pod's volume in place.
	live := "apiVersion: v1\nkind: Pod\nmetadata:\n  name: live\nspec:\n  volumes:\n  - name: conf\n    configMap: {name: conf}\n  containers:\n  - name: c\n    image: busybox\n    command: [\"sh\", \"-c\", \"trap 'exit 0' TERM; while true; do sleep 0.2; done\"]\n    volumeMounts:\n    - {name: conf, mountPath: /etc/conf}\n"
	nc.ok(bound(live), "create", "-f", "-")
	nc.waitPhase("live", "Running")
	nc.ok("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: conf\ndata:\n  app.properties: color=green\n", "apply", "-f", "-")
	nc.eventually(60*time.Second, func() (bool, string) {
		r := nc.kubectl("", "exec", "live", "--", "cat", "/etc/conf/app.properties")
		return r.stdout == "color=green", r.String()
	})
}

// A container over its memory limit is killed by the kernel and reported
// as OOMKilled; a privileged container sees the host's devices.
func TestNodeAgentLimitsAndPrivileged(t *testing.T) {
	t.Parallel()
	nc := startNodeCluster(t)
	oom := `apiVersion: v1
kind: Pod
metadata:
  name: hog
spec:
  restartPolicy: Never
  containers:
  - name: c
    image: busybox
    command: ["sh", "-c", "tail /dev/zero"]
    resources:
      limits: {memory: 24Mi, cpu: 500m}
`
	nc.ok(bound(oom), "create", "-f", "-")
	nc.waitPhase("hog", "Failed")
	if got := nc.jsonpath("pod", "hog", "{.status.containerStatuses[0].state.terminated.reason}"); got != "OOMKilled" {
		t.Fatalf("reason %q, want OOMKilled", got)
	}
	contains(t, nc.ok("", "get", "pod", "hog"), "OOMKilled")
	if got := nc.jsonpath("pod", "hog", "{.status.qosClass}"); got != "Guaranteed" {
		t.Fatalf("qosClass %q", got)
	}
	priv := `apiVersion: v1
kind: Pod
metadata:
  name: priv
spec:
  restartPolicy: Never
  containers:
  - name: c
    image: busybox
    command: ["sh", "-c", "ls /dev | wc -l; cat /proc/self/status | grep CapEff"]
    securityContext:
      privileged: true
`
	nc.ok(bound(priv), "create", "-f", "-")
	nc.waitPhase("priv", "Succeeded")
	out := nc.ok("", "logs", "priv")
	// Privileged means every capability this machine grants (CI's sandbox
	// withholds a few from root itself).
	host, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	want := regexp.MustCompile(`CapEff:\s+([0-9a-f]+)`).FindStringSubmatch(string(host))
	if want == nil || !strings.Contains(out, "CapEff:\t"+want[1]) {
		t.Fatalf("privileged container's capabilities differ from the host's %v:\n%s", want, out)
	}
}
