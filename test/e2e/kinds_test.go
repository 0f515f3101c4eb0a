package e2e

import (
	"path/filepath"
	"strings"
	"testing"
)

// Every served kind can be created, listed as a table and described.
func TestEveryKindGetAndDescribe(t *testing.T) {
	ns := namespace(t)
	out := ok(t, "", "apply", "-n", ns, "-f", filepath.Join("testdata", "every-kind.yaml"))
	if n := strings.Count(out, " created"); n != 18 {
		t.Fatalf("created %d objects, want 18:\n%s", n, out)
	}
	// An events.k8s.io Event must name its namespace like the object it is about.
	ok(t, strings.ReplaceAll(eventsV1Event, "NS", ns), "create", "-n", ns, "-f", "-")
	cluster := "apiVersion: v1\nkind: Node\nmetadata:\n  name: ek-node\n  labels:\n    node-role.kubernetes.io/worker: \"\"\n---\napiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata:\n  name: ek-high\nvalue: 1000\n"
	ok(t, cluster, "apply", "-f", "-")
	t.Cleanup(func() {
		kubectl(t, "", "delete", "node", "ek-node")
		kubectl(t, "", "delete", "priorityclass", "ek-high")
	})
	kinds := []struct{ resource, name, header string }{
		{"configmaps", "ek", "NAME DATA AGE"},
		{"secrets", "ek", "NAME TYPE DATA AGE"},
		{"serviceaccounts", "ek", "NAME SECRETS AGE"},
		{"services", "ek", "NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE"},
		{"endpoints", "ek", "NAME ENDPOINTS AGE"},
		{"pods", "ek", "NAME READY STATUS RESTARTS AGE"},
		{"replicationcontrollers", "ek-rc", "NAME DESIRED CURRENT READY AGE"},
		{"deployments", "ek", "NAME READY UP-TO-DATE AVAILABLE AGE"},
		{"replicasets", "ek", "NAME DESIRED CURRENT READY AGE"},
		{"daemonsets", "ek", "NAME DESIRED CURRENT READY UP-TO-DATE AVAILABLE NODE SELECTOR AGE"},
		{"statefulsets", "ek", "NAME READY AGE"},
		{"controllerrevisions", "ek", "NAME CONTROLLER REVISION AGE"},
		{"jobs", "ek", "NAME STATUS COMPLETIONS DURATION AGE"},
		{"cronjobs", "ek", "NAME SCHEDULE TIMEZONE SUSPEND ACTIVE LAST SCHEDULE AGE"},
		{"horizontalpodautoscalers", "ek", "NAME REFERENCE TARGETS MINPODS MAXPODS REPLICAS AGE"},
		{"leases", "ek", "NAME HOLDER AGE"},
		{"endpointslices", "ek", "NAME ADDRESSTYPE PORTS ENDPOINTS AGE"},
		{"poddisruptionbudgets", "ek", "NAME MIN AVAILABLE MAX UNAVAILABLE ALLOWED DISRUPTIONS AGE"},
		{"events.events.k8s.io", "ek", ""},
		{"nodes", "ek-node", "NAME STATUS ROLES AGE VERSION"},
		{"priorityclasses", "ek-high", "NAME VALUE GLOBAL-DEFAULT AGE PREEMPTIONPOLICY"},
	}
	for _, k := range kinds {
		get := ok(t, "", "get", k.resource, k.name, "-n", ns)
		if k.header != "" && strings.Join(header(get), " ") != k.header {
			t.Errorf("%s header %q, want %q", k.resource, strings.Join(header(get), " "), k.header)
		}
		if !strings.Contains(get, k.name) {
			t.Errorf("%s: no row for %s:\n%s", k.resource, k.name, get)
		}
		desc := ok(t, "", "describe", k.resource, k.name, "-n", ns)
		if !strings.Contains(desc, k.name) {
			t.Errorf("describe %s %s:\n%s", k.resource, k.name, desc)
		}
	}
	contains(t, ok(t, "", "get", "all", "-n", ns), "pod/ek", "service/ek", "replicationcontroller/ek-rc", "deployment.apps/ek", "daemonset.apps/ek", "statefulset.apps/ek", "job.batch/ek", "cronjob.batch/ek", "horizontalpodautoscaler.autoscaling/ek")
	contains(t, ok(t, "", "get", "nodes"), "ek-node", "worker")
}

const eventsV1Event = `apiVersion: events.k8s.io/v1
kind: Event
metadata:
  name: ek
eventTime: "2026-01-01T00:00:00.000000Z"
reportingController: flotilla.io/test
reportingInstance: test-1
action: Testing
reason: Tested
regarding:
  kind: Pod
  name: ek
  namespace: NS
type: Normal
note: an event through events.k8s.io/v1
`
