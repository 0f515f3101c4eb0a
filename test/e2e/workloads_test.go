package e2e

import (
	"strings"
	"testing"
	"time"
)

// The seeds' workload controllers with the stock kubectl and real
// containers: the scheduler binds their pods to the server's own node.
func TestWorkloadsWithKubectl(t *testing.T) {
	t.Parallel()
	nc := startNodeCluster(t)
	sleeper := `["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]`

	t.Run("seed 001 ReplicaSet", func(t *testing.T) {
		nc := nc.with(t)
		rs := `apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: frontend
  labels:
    app: guestbook
    tier: frontend
spec:
  replicas: 3
  selector:
    matchLabels:
      tier: frontend
  template:
    metadata:
      labels:
        tier: frontend
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: php-redis
        image: busybox
        command: ` + sleeper + "\n"
		nc.ok(rs, "apply", "-f", "-")
		nc.eventually(90*time.Second, func() (bool, string) {
			out := nc.ok("", "get", "rs", "frontend")
			return strings.Contains(out, "frontend   3         3         3"), out
		})
		victim := strings.Fields(nc.ok("", "get", "pods", "-l", "tier=frontend", "-o", "name"))[0]
		nc.ok("", "delete", victim, "--wait=false")
		nc.eventually(90*time.Second, func() (bool, string) {
			out := nc.ok("", "get", "pods", "-l", "tier=frontend", "--field-selector=status.phase=Running", "-o", "name")
			return len(strings.Fields(out)) == 3 && !strings.Contains(out, victim), out
		})
		nc.ok("", "scale", "rs", "frontend", "--replicas=1")
		nc.eventually(60*time.Second, func() (bool, string) {
			out := nc.ok("", "get", "rs", "frontend", "-o", "jsonpath={.status.replicas}/{.status.readyReplicas}")
			return out == "1/1", out
		})
		nc.ok("", "delete", "rs", "frontend")
		nc.eventually(60*time.Second, func() (bool, string) {
			out := nc.ok("", "get", "pods", "-l", "tier=frontend", "-o", "name")
			return strings.TrimSpace(out) == "", out
		})
	})

	t.Run("Deployment rollout, history, undo", func(t *testing.T) {
		nc := nc.with(t)
		nc.ok("", "create", "deployment", "web", "--image=busybox", "--replicas=2", "--", "sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done")
		contains(t, nc.ok("", "rollout", "status", "deployment/web", "--timeout=90s"), `deployment "web" successfully rolled out`)
		nc.ok("", "set", "env", "deployment/web", "STAGE=two")
		nc.ok("", "annotate", "deployment/web", "kubernetes.io/change-cause=stage two")
		contains(t, nc.ok("", "rollout", "status", "deployment/web", "--timeout=90s"), `deployment "web" successfully rolled out`)
		hist := nc.ok("", "rollout", "history", "deployment/web")
		contains(t, hist, "REVISION", "1 ", "2 ")
		nc.ok("", "rollout", "undo", "deployment/web")
		contains(t, nc.ok("", "rollout", "status", "deployment/web", "--timeout=90s"), `deployment "web" successfully rolled out`)
		if env := nc.ok("", "get", "deployment", "web", "-o", "jsonpath={.spec.template.spec.containers[0].env}"); strings.Contains(env, "STAGE") {
			t.Fatalf("undo kept the env of revision 2: %s", env)
		}
		contains(t, nc.ok("", "rollout", "history", "deployment/web"), "3 ")
		nc.ok("", "delete", "deployment", "web")
		nc.eventually(60*time.Second, func() (bool, string) {
			out := nc.ok("", "get", "rs,pods", "-l", "app=web", "-o", "name")
			return strings.TrimSpace(out) == "", out
		})
	})

	t.Run("seed 001 pi Job", func(t *testing.T) {
		nc := nc.with(t)
		// The seed's perl image is not on this machine: bc computes pi.
		job := `apiVersion: batch/v1
kind: Job
metadata:
  name: pi
spec:
  template:
    spec:
      containers:
      - name: pi
        image: busybox
        command: ["sh", "-c", "echo 'scale=10; 4*a(1)' | bc -l"]
      restartPolicy: Never
  backoffLimit: 4
`
		nc.ok(job, "apply", "-f", "-")
		nc.ok("", "wait", "--for=condition=complete", "job/pi", "--timeout=90s")
		if got := strings.TrimSpace(nc.ok("", "logs", "job/pi")); got != "3.1415926532" {
			t.Fatalf("pi: %q", got)
		}
		contains(t, nc.ok("", "get", "job", "pi"), "Complete", "1/1")
		nc.ok("", "delete", "job", "pi")
		nc.eventually(60*time.Second, func() (bool, string) {
			out := nc.ok("", "get", "pods", "-l", "job-name=pi", "-o", "name")
			return strings.TrimSpace(out) == "", out
		})
	})

	t.Run("failing Job hits its backoff limit", func(t *testing.T) {
		nc := nc.with(t)
		job := `apiVersion: batch/v1
kind: Job
metadata:
  name: fails
spec:
  backoffLimit: 1
  template:
    spec:
      containers:
      - name: c
        image: busybox
        command: ["sh", "-c", "exit 3"]
      restartPolicy: Never
`
		nc.ok(job, "apply", "-f", "-")
		nc.ok("", "wait", "--for=condition=failed", "job/fails", "--timeout=120s")
		if got := nc.ok("", "get", "job", "fails", "-o", "jsonpath={.status.conditions[?(@.type=='Failed')].reason}/{.status.failed}"); got != "BackoffLimitExceeded/2" {
			t.Fatalf("failed job: %q", got)
		}
	})

	t.Run("DaemonSet rollout", func(t *testing.T) {
		nc := nc.with(t)
		ds := `apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agent
spec:
  selector:
    matchLabels:
      name: agent
  template:
    metadata:
      labels:
        name: agent
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: agent
        image: busybox
        command: ` + sleeper + "\n"
		nc.ok(ds, "apply", "-f", "-")
		contains(t, nc.ok("", "rollout", "status", "ds/agent", "--timeout=90s"), `daemon set "agent" successfully rolled out`)
		contains(t, nc.ok("", "get", "ds", "agent"), "agent   1         1         1       1            1")
		nc.ok("", "set", "env", "ds/agent", "STAGE=two")
		contains(t, nc.ok("", "rollout", "status", "ds/agent", "--timeout=90s"), `daemon set "agent" successfully rolled out`)
		contains(t, nc.ok("", "rollout", "history", "ds/agent"), "1 ", "2 ")
		nc.ok("", "delete", "ds", "agent")
	})

	t.Run("seed 004 kubectl rolling-update (plugin)", func(t *testing.T) {
		nc := nc.with(t)
		rc := `apiVersion: v1
kind: ReplicationController
metadata:
  name: redis-master
spec:
  replicas: 2
  selector:
    name: redis-master
  template:
    metadata:
      labels:
        name: redis-master
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: master
        image: busybox
        command: ` + sleeper + "\n"
		nc.ok(rc, "apply", "-f", "-")
		nc.eventually(90*time.Second, func() (bool, string) {
			out := nc.ok("", "get", "rc", "redis-master", "-o", "jsonpath={.status.readyReplicas}")
			return out == "2", out
		})
		out := nc.ok("", "rolling-update", "redis-master", "--image=docker.io/library/busybox:latest", "--update-period=1s", "--poll-interval=500ms", "--timeout=3m")
		contains(t, out, "rolling updated")
		nc.eventually(90*time.Second, func() (bool, string) {
			out := nc.ok("", "get", "pods", "-l", "name=redis-master", "-o", "jsonpath={range .items[*]}{.spec.containers[0].image} {.status.phase}{\"\\n\"}{end}")
			return strings.Count(out, "docker.io/library/busybox:latest Running") == 2 && strings.Count(out, "\n") == 2, out
		})
		if got := nc.ok("", "get", "rc", "-o", "name"); strings.TrimSpace(got) != "replicationcontroller/redis-master" {
			t.Fatalf("after the update: %q", got)
		}
	})

	t.Run("StatefulSet data survives its pod", func(t *testing.T) {
		nc := nc.with(t)
		sts := `apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db
spec:
  serviceName: db
  replicas: 1
  selector:
    matchLabels:
      app: db
  template:
    metadata:
      labels:
        app: db
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: db
        image: busybox
        command: ["sh", "-c", "date >> /data/boots; trap 'exit 0' TERM; while true; do sleep 1; done"]
        volumeMounts:
        - name: data
          mountPath: /data
  volumeClaimTemplates:
  - metadata:
      name: data
    spec:
      accessModes: ["ReadWriteOnce"]
      resources:
        requests:
          storage: 1Gi
`
		nc.ok(sts, "apply", "-f", "-")
		contains(t, nc.ok("", "rollout", "status", "statefulset/db", "--timeout=90s"), "partitioned roll out complete", "1 new pods")
		contains(t, nc.ok("", "get", "pvc", "data-db-0"), "Bound", "local-path")
		if got := nc.ok("", "exec", "db-0", "--", "sh", "-c", "wc -l < /data/boots"); strings.TrimSpace(got) != "1" {
			t.Fatalf("first boot: %q", got)
		}
		uid := nc.jsonpath("pod", "db-0", "{.metadata.uid}")
		nc.ok("", "delete", "pod", "db-0")
		nc.eventually(90*time.Second, func() (bool, string) {
			r := nc.kubectl("", "exec", "db-0", "--", "sh", "-c", "wc -l < /data/boots")
			return nc.jsonpath("pod", "db-0", "{.metadata.uid}") != uid && strings.TrimSpace(r.stdout) == "2", r.String()
		})
		nc.ok("", "delete", "statefulset", "db")
	})

	t.Run("kubectl create job --from=cronjob", func(t *testing.T) {
		nc := nc.with(t)
		cj := `apiVersion: batch/v1
kind: CronJob
metadata:
  name: hello
spec:
  schedule: "0 0 1 1 *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers:
          - name: hello
            image: busybox
            command: ["echo", "hello from the cronjob"]
`
		nc.ok(cj, "apply", "-f", "-")
		contains(t, nc.ok("", "get", "cronjob", "hello"), "0 0 1 1 *", "False")
		nc.ok("", "create", "job", "hello-now", "--from=cronjob/hello")
		nc.ok("", "wait", "--for=condition=complete", "job/hello-now", "--timeout=90s")
		contains(t, nc.ok("", "logs", "job/hello-now"), "hello from the cronjob")
		if got := nc.jsonpath("cronjob", "hello", "{.status.active}"); got != "" {
			t.Fatalf("the manual job counted as the cronjob's: %q", got)
		}
	})
}
