package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

func TestVersionAndDiscovery(t *testing.T) {
	out := ok(t, "", "version")
	contains(t, out, "Server Version: v1.32.")
	res := ok(t, "", "api-resources")
	contains(t, res, "deployments", "apps/v1", "horizontalpodautoscalers", "autoscaling/v2", "leases", "endpointslices", "cronjobs")
	vers := ok(t, "", "api-versions")
	contains(t, vers, "apps/v1", "autoscaling/v1", "autoscaling/v2", "batch/v1", "events.k8s.io/v1", "discovery.k8s.io/v1", "coordination.k8s.io/v1", "v1\n")
	ns := ok(t, "", "get", "namespaces")
	if h := header(ns); !slices.Equal(h, []string{"NAME", "STATUS", "AGE"}) {
		t.Fatalf("namespaces header %v", h)
	}
	for _, n := range []string{"default", "kube-system", "kube-public", "kube-node-lease"} {
		if !regexp.MustCompile(`(?m)^` + n + `\s+Active\s`).MatchString(ns) {
			t.Fatalf("namespace %s not Active:\n%s", n, ns)
		}
	}
}

func TestPodLifecycleThroughKubectl(t *testing.T) {
	ns := namespace(t)
	pod := filepath.Join("testdata", "pod.yaml")
	contains(t, ok(t, "", "apply", "-n", ns, "-f", pod), "pod/web created")
	contains(t, ok(t, "", "apply", "-n", ns, "-f", pod), "pod/web unchanged")
	out := ok(t, "", "get", "pods", "-n", ns)
	if h := header(out); !slices.Equal(h, []string{"NAME", "READY", "STATUS", "RESTARTS", "AGE"}) {
		t.Fatalf("pods header %v\n%s", h, out)
	}
	if !regexp.MustCompile(`(?m)^web\s+0/1\s+Pending\s+0\s+\d+s`).MatchString(out) {
		t.Fatalf("pod row:\n%s", out)
	}
	wide := ok(t, "", "get", "pods", "-n", ns, "-o", "wide")
	contains(t, wide, "IP", "NODE", "NOMINATED NODE", "READINESS GATES")
	contains(t, ok(t, "", "get", "pods", "-n", ns, "--show-labels"), "app=web")
	contains(t, ok(t, "", "get", "pods", "-A"), ns)
	desc := ok(t, "", "describe", "pod", "web", "-n", ns)
	contains(t, desc, "Name:", "web", "Namespace:", ns, "Status:", "Pending", "Image:", "nginx:1.25", "Port:", "80/TCP", "QoS Class:", "BestEffort")
	contains(t, ok(t, "", "label", "pod", "web", "-n", ns, "tier=frontend"), "pod/web labeled")
	contains(t, ok(t, "", "get", "pods", "-n", ns, "-l", "tier in (frontend,backend)", "-o", "name"), "pod/web")
	contains(t, ok(t, "", "annotate", "pod", "web", "-n", ns, "note=hello"), "pod/web annotated")
	contains(t, ok(t, "", "patch", "pod", "web", "-n", ns, "-p", `{"spec":{"containers":[{"name":"nginx","image":"nginx:1.26"}]}}`), "pod/web patched")
	contains(t, ok(t, "", "get", "pod", "web", "-n", ns, "-o", "jsonpath={.spec.containers[0].image}"), "nginx:1.26")
	contains(t, ok(t, "", "get", "pods", "-n", ns, "--field-selector", "status.phase=Pending", "-o", "name"), "pod/web")
	if out := ok(t, "", "get", "pods", "-n", ns, "--field-selector", "status.phase=Running"); strings.Contains(out, "web") {
		t.Fatalf("field selector did not filter:\n%s", out)
	}
	contains(t, ok(t, "", "delete", "pod", "web", "-n", ns), `pod "web" deleted`)
	contains(t, fails(t, "", "get", "pod", "web", "-n", ns), `pods "web" not found`)
}

func TestForceDeleteAndDeleteAll(t *testing.T) {
	ns := namespace(t)
	for _, name := range []string{"a", "b"} {
		ok(t, "", "run", name, "-n", ns, "--image=busybox", "--restart=Never")
	}
	r := kubectl(t, "", "delete", "pod", "a", "-n", ns, "--force", "--grace-period=0")
	if r.code != 0 {
		t.Fatal(r)
	}
	contains(t, r.stderr, "Immediate deletion does not wait for confirmation")
	contains(t, r.stdout, `pod "a" force deleted`)
	contains(t, ok(t, "", "delete", "pod", "--all", "-n", ns), `pod "b" deleted`)
	contains(t, ok(t, "", "get", "pods", "-n", ns)+kubectl(t, "", "get", "pods", "-n", ns).stderr, "No resources found")
}

func TestConfigMapsAsInTheSeeds(t *testing.T) {
	ns := namespace(t)
	contains(t, ok(t, "", "create", "-n", ns, "-f", filepath.Join("testdata", "cm-appvars.yaml")), "configmap/cm-appvars created")
	y := ok(t, "", "get", "configmap", "cm-appvars", "-n", ns, "-o", "yaml")
	contains(t, y, "apploglevel: info", "appdatadir: /var/data", "kind: ConfigMap")
	get := ok(t, "", "get", "configmap", "-n", ns)
	if h := header(get); !slices.Equal(h, []string{"NAME", "DATA", "AGE"}) {
		t.Fatalf("configmap header %v", h)
	}
	if !regexp.MustCompile(`(?m)^cm-appvars\s+2\s`).MatchString(get) {
		t.Fatalf("configmap row:\n%s", get)
	}
	contains(t, ok(t, "", "describe", "configmap", "cm-appvars", "-n", ns), "apploglevel", "info")
	// Protobuf bodies: kubectl create configmap sends them, with no JSON fallback.
	contains(t, ok(t, "", "create", "configmap", "lit", "-n", ns, "--from-literal=key1=value1", "--from-literal=key2=value2"), "configmap/lit created")
	contains(t, ok(t, "", "get", "configmap", "lit", "-n", ns, "-o", "jsonpath={.data.key1},{.data.key2}"), "value1,value2")
	dir := filepath.Join("testdata", "config-files")
	ok(t, "", "create", "configmap", "fromdir", "-n", ns, "--from-file="+dir)
	contains(t, ok(t, "", "get", "configmap", "fromdir", "-n", ns, "-o", "yaml"), "app.properties:", "server.xml:")
	ok(t, "", "create", "configmap", "fromkey", "-n", ns, "--from-file=mykey="+filepath.Join(dir, "server.xml"))
	contains(t, ok(t, "", "get", "configmap", "fromkey", "-n", ns, "-o", "jsonpath={.data.mykey}"), "<xml/>")
	// kubectl wraps the generator's error: `error: failed to create configmap: configmaps "lit" already exists`.
	contains(t, fails(t, "", "create", "configmap", "lit", "-n", ns, "--from-literal=a=b"), `failed to create configmap: configmaps "lit" already exists`)
	ok(t, "", "create", "secret", "generic", "s1", "-n", ns, "--from-literal=password=hunter2")
	contains(t, ok(t, "", "get", "secret", "s1", "-n", ns), "Opaque")
}

func TestReplaceEditDiffAndWait(t *testing.T) {
	ns := namespace(t)
	cm := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: conf\ndata:\n  k: v1\n"
	ok(t, cm, "apply", "-n", ns, "-f", "-")
	changed := strings.Replace(cm, "k: v1", "k: v2", 1)
	d := kubectl(t, changed, "diff", "-n", ns, "-f", "-")
	if d.code != 1 || !strings.Contains(d.stdout, "+  k: v2") {
		t.Fatalf("diff: %s", d)
	}
	contains(t, ok(t, changed, "replace", "-n", ns, "-f", "-"), "configmap/conf replaced")
	if got := ok(t, "", "get", "cm", "conf", "-n", ns, "-o", "jsonpath={.data.k}"); got != "v2" {
		t.Fatalf("after replace: %q", got)
	}
	if d := kubectl(t, changed, "diff", "-n", ns, "-f", "-"); d.code != 0 {
		t.Fatalf("diff after replace: %s", d)
	}
	// kubectl edit runs $EDITOR on a temporary file, then patches.
	if r := kubectl(t, "", "edit", "cm", "conf", "-n", ns); !strings.Contains(r.stdout+r.stderr, "Edit cancelled, no changes made.") {
		t.Fatalf("edit without changes: %s", r)
	}
	edited := kubectlEnv(t, []string{"EDITOR=sed -i s/v2/edited/"}, "", "edit", "cm", "conf", "-n", ns)
	if edited.code != 0 || !strings.Contains(edited.stdout, "configmap/conf edited") {
		t.Fatalf("edit: %s", edited)
	}
	if got := ok(t, "", "get", "cm", "conf", "-n", ns, "-o", "jsonpath={.data.k}"); got != "edited" {
		t.Fatalf("after edit: %q", got)
	}
	contains(t, ok(t, strings.Replace(cm, "k: v1", "k: v3", 1), "apply", "-n", ns, "-f", "-"), "configmap/conf configured")
	ok(t, "", "run", "waiter", "-n", ns, "--image=busybox")
	ok(t, "", "delete", "pod", "waiter", "-n", ns, "--wait=false")
	contains(t, ok(t, "", "wait", "--for=delete", "pod/waiter", "-n", ns, "--timeout=30s")+"condition met", "condition met")
}

func TestValidationErrors(t *testing.T) {
	ns := namespace(t)
	noImage := "apiVersion: v1\nkind: Pod\nmetadata:\n  name: bad\nspec:\n  containers:\n  - name: c\n"
	contains(t, fails(t, noImage, "create", "-n", ns, "-f", "-"), `The Pod "bad" is invalid`, "spec.containers[0].image: Required value")
	unknown := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: u\nbogus: 1\ndata:\n  a: b\n"
	contains(t, fails(t, unknown, "apply", "-n", ns, "--validate=strict", "-f", "-"), `unknown field "bogus"`)
	r := kubectl(t, unknown, "apply", "-n", ns, "--validate=warn", "-f", "-")
	if r.code != 0 || !strings.Contains(r.stderr, `unknown field "bogus"`) {
		t.Fatalf("--validate=warn: %s", r)
	}
	badName := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Bad_Name\n"
	contains(t, fails(t, badName, "create", "-n", ns, "-f", "-"), "metadata.name: Invalid value")
	contains(t, fails(t, "{not yaml: [", "create", "-n", ns, "-f", "-"), "error")
	contains(t, fails(t, "", "get", "foos"), `the server doesn't have a resource type "foos"`)
}

func TestWorkloadObjects(t *testing.T) {
	ns := namespace(t)
	contains(t, ok(t, "", "apply", "-n", ns, "-f", filepath.Join("testdata", "deployment.yaml")), "deployment.apps/nginx-deployment created")
	out := ok(t, "", "get", "deployments", "-n", ns)
	if h := header(out); !slices.Equal(h, []string{"NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"}) {
		t.Fatalf("deployments header %v", h)
	}
	contains(t, out, "0/3")
	contains(t, ok(t, "", "scale", "deployment", "nginx-deployment", "-n", ns, "--replicas=5"), "deployment.apps/nginx-deployment scaled")
	if got := ok(t, "", "get", "deploy", "nginx-deployment", "-n", ns, "-o", "jsonpath={.spec.replicas}"); got != "5" {
		t.Fatalf("replicas after scale: %q", got)
	}
	contains(t, ok(t, "", "set", "image", "deployment/nginx-deployment", "nginx=nginx:1.19", "-n", ns), "image updated")
	contains(t, ok(t, "", "get", "all", "-n", ns), "deployment.apps/nginx-deployment")
	contains(t, ok(t, "", "create", "deployment", "proto", "--image=nginx", "-n", ns), "deployment.apps/proto created")
	contains(t, ok(t, "", "create", "job", "once", "--image=busybox", "-n", ns, "--", "true"), "job.batch/once created")
	contains(t, ok(t, "", "create", "cronjob", "cron", "--image=busybox", "--schedule=*/5 * * * *", "-n", ns), "cronjob.batch/cron created")
	contains(t, ok(t, "", "autoscale", "deployment", "proto", "--min=1", "--max=5", "--cpu-percent=50", "-n", ns), "horizontalpodautoscaler.autoscaling/proto autoscaled")
	contains(t, ok(t, "", "get", "hpa", "-n", ns), "Deployment/proto", "50%")
	contains(t, ok(t, "", "explain", "pod.spec.containers"), "FIELD", "image")
}

func TestServerSideApply(t *testing.T) {
	ns := namespace(t)
	cm := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa\ndata:\n  a: one\n"
	contains(t, ok(t, cm, "apply", "--server-side", "-n", ns, "-f", "-"), "configmap/ssa serverside-applied")
	ok(t, "", "patch", "cm", "ssa", "-n", ns, "--type=merge", "-p", `{"data":{"a":"other"}}`)
	conflict := kubectl(t, strings.Replace(cm, "one", "two", 1), "apply", "--server-side", "-n", ns, "-f", "-")
	if conflict.code == 0 || !strings.Contains(conflict.stderr, "conflict") {
		t.Fatalf("want a field conflict: %s", conflict)
	}
	ok(t, strings.Replace(cm, "one", "two", 1), "apply", "--server-side", "--force-conflicts", "-n", ns, "-f", "-")
	contains(t, ok(t, "", "get", "cm", "ssa", "-n", ns, "-o", "jsonpath={.data.a}"), "two")
	mf := ok(t, "", "get", "cm", "ssa", "-n", ns, "-o", "yaml", "--show-managed-fields")
	contains(t, mf, "managedFields", "manager: kubectl")
}

func TestRestartKeepsObjects(t *testing.T) {
	ns := namespace(t)
	ok(t, "", "create", "configmap", "survivor", "-n", ns, "--from-literal=k=v")
	stopServer()
	if err := startServer(); err != nil {
		t.Fatal(err)
	}
	contains(t, ok(t, "", "get", "configmap", "survivor", "-n", ns, "-o", "jsonpath={.data.k}"), "v")
	if _, err := os.Stat(cluster.kubeconfig); err != nil {
		t.Fatal(err)
	}
}
