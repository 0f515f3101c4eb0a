package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// helmCLI runs the Helm release pinned in tools/helm against the cluster,
// with its own config, cache and data directories.
type helmCLI struct {
	bin string
	env []string
}

// newHelm builds Helm (once: `go tool` keeps the linked binary in the Go
// build cache, so later runs only check it is current). A failed build
// fails the test with the reason.
func newHelm(t *testing.T) *helmCLI {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, "go", "tool", "-n", "helm")
	build.Dir = filepath.Join(filepath.Dir(file), "tools", "helm")
	var stderr bytes.Buffer
	build.Stderr = &stderr
	start := time.Now()
	out, err := build.Output()
	if err != nil {
		t.Fatalf("build helm in %s: %v\n%s", build.Dir, err, stderr.String())
	}
	t.Logf("helm built (or found in the Go build cache) in %s", time.Since(start).Round(time.Millisecond))
	home := t.TempDir()
	return &helmCLI{
		bin: strings.TrimSpace(string(out)),
		env: []string{
			"KUBECONFIG=" + cluster.kubeconfig, "HOME=" + home,
			"HELM_CONFIG_HOME=" + filepath.Join(home, "config"),
			"HELM_CACHE_HOME=" + filepath.Join(home, "cache"),
			"HELM_DATA_HOME=" + filepath.Join(home, "data"),
		},
	}
}

func (h *helmCLI) run(t *testing.T, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, h.bin, args...)
	cmd.Env = append(os.Environ(), h.env...)
	cmd.WaitDelay = 5 * time.Second
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	t.Logf("helm %s (%s)", strings.Join(args, " "), time.Since(start).Round(time.Millisecond))
	code := 0
	if ee, isExit := err.(*exec.ExitError); isExit {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("helm %v: %v", args, err)
	}
	return result{stdout: out.String(), stderr: errb.String(), code: code}
}

// ok runs helm and fails the test unless it exits 0.
func (h *helmCLI) ok(t *testing.T, args ...string) string {
	t.Helper()
	r := h.run(t, args...)
	if r.code != 0 {
		t.Fatalf("helm %s: %s", strings.Join(args, " "), r)
	}
	return r.stdout
}

// managedFields is the managedFields of one object, as kubectl shows them.
func managedFields(t *testing.T, ns, kind, name string) []metav1.ManagedFieldsEntry {
	t.Helper()
	var obj struct {
		Metadata metav1.ObjectMeta `json:"metadata"`
	}
	out := ok(t, "", "get", kind, name, "-n", ns, "-o", "json", "--show-managed-fields")
	if err := json.Unmarshal([]byte(out), &obj); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return obj.Metadata.ManagedFields
}

// ownerOf is the entry of manager; found is false when it has none.
func ownerOf(entries []metav1.ManagedFieldsEntry, manager string) (e metav1.ManagedFieldsEntry, found bool) {
	for _, e := range entries {
		if e.Manager == manager {
			return e, true
		}
	}
	return e, false
}

// fieldsJSON is an entry's field set as compact JSON.
func fieldsJSON(e metav1.ManagedFieldsEntry) string {
	var b bytes.Buffer
	if e.FieldsV1 == nil || json.Compact(&b, e.FieldsV1.Raw) != nil {
		return ""
	}
	return b.String()
}

func dumpManaged(entries []metav1.ManagedFieldsEntry) string {
	b, _ := json.MarshalIndent(entries, "", "  ")
	return string(b)
}

// podLog records every pod a watch of one namespace reports, from a
// known resourceVersion on.
type podLog struct {
	mu      sync.Mutex
	added   []corev1.Pod
	deleted []string // names
	err     error
}

func (l *podLog) snapshot() (added []corev1.Pod, deleted []string, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.added), slices.Clone(l.deleted), l.err
}

// watchPods watches ns's pods from resourceVersion rv until the test ends.
func watchPods(t *testing.T, cs kubernetes.Interface, ns, rv string) *podLog {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w, err := cs.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{ResourceVersion: rv})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	log := &podLog{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range w.ResultChan() {
			log.mu.Lock()
			switch ev.Type {
			case watch.Added:
				log.added = append(log.added, *ev.Object.(*corev1.Pod))
			case watch.Deleted:
				log.deleted = append(log.deleted, ev.Object.(*corev1.Pod).Name)
			case watch.Error:
				log.err = apierrors.FromObject(ev.Object)
			}
			log.mu.Unlock()
		}
	}()
	t.Cleanup(func() { w.Stop(); cancel(); <-done })
	return log
}

// The starter chart of `helm create`, driven through its whole life by
// Helm 4 (server-side apply by default) on simulated nodes: install, a
// `kubectl scale` recorded as a write through the scale subresource (so
// the next upgrade conflicts with it as upstream's does), upgrades,
// history, rollback and uninstall, after which nothing is left and no
// ReplicaSet of the release created another pod.
func TestHelmStarterChartLifecycle(t *testing.T) {
	helm := newHelm(t)
	startSim(t, "helm", 2, "--taint", "flotilla.io/e2e=helm:NoSchedule")
	ns := namespace(t)
	dir := t.TempDir()
	chart := filepath.Join(dir, "web")
	contains(t, helm.ok(t, "create", chart), "Creating "+chart)
	// The only change to the starter chart: tolerate the simulated nodes' taint.
	values := filepath.Join(dir, "sim-values.yaml")
	if err := os.WriteFile(values, []byte("tolerations:\n- key: flotilla.io/e2e\n  operator: Exists\n  effect: NoSchedule\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	deploy := func(jsonpath string) string {
		return ok(t, "", "get", "deployment", "web", "-n", ns, "-o", "jsonpath="+jsonpath)
	}
	// settledAt waits until the Deployment has rolled out replicas pods of
	// image, the only pods of the release not terminating. (Simulated
	// containers take their whole grace period to stop.)
	settledAt := func(replicas int, image string) {
		t.Helper()
		start := time.Now()
		defer func() {
			t.Logf("settled at %d × %s in %s", replicas, image, time.Since(start).Round(time.Millisecond))
		}()
		n := strconv.Itoa(replicas)
		eventually(t, 60*time.Second, func() (bool, string) {
			d := deploy("{.spec.replicas} {.spec.template.spec.containers[0].image} {.status.updatedReplicas} {.status.availableReplicas} {.status.replicas} {.status.conditions[?(@.type=='Available')].status} {.metadata.generation}/{.status.observedGeneration}")
			pods := ok(t, "", "get", "pods", "-n", ns, "-l", "app.kubernetes.io/instance=web", "-o", "jsonpath={range .items[*]}{.spec.containers[0].image}/{.status.phase}/{.metadata.deletionTimestamp}{\"\\n\"}{end}")
			var live []string
			for _, line := range strings.Fields(pods) {
				if strings.HasSuffix(line, "/") {
					live = append(live, line)
				}
			}
			f := strings.Fields(d)
			gen := strings.Split(f[len(f)-1], "/")
			return len(f) == 7 && f[0] == n && f[1] == image && f[2] == n && f[3] == n && f[4] == n && f[5] == "True" && gen[0] == gen[1] &&
					len(live) == replicas && !slices.ContainsFunc(live, func(l string) bool { return l != image+"/Running/" }),
				"deployment: " + d + "\npods:\n" + pods
		})
	}

	// Install: Helm waits for the Deployment to be available.
	out := helm.ok(t, "install", "web", chart, "-n", ns, "-f", values, "--wait", "--timeout", "2m")
	contains(t, out, "NAME: web", "STATUS: deployed", "REVISION: 1")
	settledAt(1, "nginx:1.16.0")
	for _, kind := range []string{"service", "serviceaccount"} {
		contains(t, ok(t, "", "get", kind, "web", "-n", ns, "-o", "jsonpath={.metadata.labels.app\\.kubernetes\\.io/managed-by}"), "Helm")
	}
	mf := managedFields(t, ns, "deployment", "web")
	if e, found := ownerOf(mf, "helm"); !found || e.Operation != metav1.ManagedFieldsOperationApply || !strings.Contains(fieldsJSON(e), `"f:replicas"`) {
		t.Fatalf("helm's apply is not recorded:\n%s", dumpManaged(mf))
	}

	// kubectl scale writes through the scale subresource and is recorded
	// so, taking spec.replicas from Helm.
	contains(t, ok(t, "", "scale", "deployment", "web", "-n", ns, "--replicas=3"), "deployment.apps/web scaled")
	settledAt(3, "nginx:1.16.0")
	mf = managedFields(t, ns, "deployment", "web")
	e, found := ownerOf(mf, "kubectl")
	if !found || e.Operation != metav1.ManagedFieldsOperationUpdate || e.Subresource != "scale" || e.APIVersion != "apps/v1" || fieldsJSON(e) != `{"f:spec":{"f:replicas":{}}}` {
		t.Fatalf("kubectl scale is not recorded as a write of spec.replicas through the scale subresource:\n%s", dumpManaged(mf))
	}
	if e, _ := ownerOf(mf, "helm"); strings.Contains(fieldsJSON(e), `"f:replicas"`) {
		t.Fatalf("helm still owns spec.replicas after kubectl scale:\n%s", dumpManaged(mf))
	}

	// An upgrade that applies the chart's replicaCount again conflicts with
	// the scale, and changes nothing.
	r := helm.run(t, "upgrade", "web", chart, "-n", ns, "-f", values, "--set", "image.tag=1.27", "--wait", "--timeout", "2m")
	if r.code == 0 || !strings.Contains(r.stderr, "UPGRADE FAILED") ||
		!strings.Contains(r.stderr, `Apply failed with 1 conflict: conflict with "kubectl" with subresource "scale" using apps/v1: .spec.replicas`) {
		t.Fatalf("upgrade over a kubectl scale: want the conflict upstream reports: %s", r)
	}
	if got := deploy("{.spec.replicas} {.spec.template.spec.containers[0].image}"); got != "3 nginx:1.16.0" {
		t.Fatalf("a failed upgrade changed the deployment: %q", got)
	}
	// With --force-conflicts Helm takes spec.replicas back, and the new
	// image rolls out.
	out = helm.ok(t, "upgrade", "web", chart, "-n", ns, "-f", values, "--set", "image.tag=1.27", "--set", "replicaCount=2", "--force-conflicts", "--wait", "--timeout", "2m")
	contains(t, out, `Release "web" has been upgraded`, "STATUS: deployed", "REVISION: 3")
	settledAt(2, "nginx:1.27")
	mf = managedFields(t, ns, "deployment", "web")
	if e, _ := ownerOf(mf, "helm"); !strings.Contains(fieldsJSON(e), `"f:replicas"`) {
		t.Fatalf("helm does not own spec.replicas after a forced upgrade:\n%s", dumpManaged(mf))
	}
	if _, found := ownerOf(mf, "kubectl"); found {
		t.Fatalf("kubectl still owns a field after a forced upgrade:\n%s", dumpManaged(mf))
	}

	// History, then a rollback to the first revision.
	type revision struct {
		Revision    int    `json:"revision"`
		Status      string `json:"status"`
		Chart       string `json:"chart"`
		AppVersion  string `json:"app_version"`
		Description string `json:"description"`
	}
	history := func() []revision {
		t.Helper()
		var revs []revision
		out := helm.ok(t, "history", "web", "-n", ns, "-o", "json")
		if err := json.Unmarshal([]byte(out), &revs); err != nil {
			t.Fatalf("helm history: %v\n%s", err, out)
		}
		return revs
	}
	revs := history()
	if len(revs) != 3 || revs[0].Status != "superseded" || revs[0].Description != "Install complete" || revs[0].Chart != "web-0.1.0" || revs[0].AppVersion != "1.16.0" ||
		revs[1].Status != "failed" || !strings.Contains(revs[1].Description, "conflict") ||
		revs[2].Status != "deployed" || revs[2].Description != "Upgrade complete" {
		t.Fatalf("history: %+v", revs)
	}
	contains(t, helm.ok(t, "history", "web", "-n", ns), "REVISION", "STATUS", "DESCRIPTION", "Install complete", "Upgrade complete")
	contains(t, helm.ok(t, "rollback", "web", "1", "-n", ns, "--wait", "--timeout", "2m"), "Rollback was a success")
	settledAt(1, "nginx:1.16.0")
	if revs = history(); len(revs) != 4 || revs[3].Status != "deployed" || revs[3].Description != "Rollback to 1" || revs[2].Status != "superseded" {
		t.Fatalf("history after rollback: %+v", revs)
	}
	contains(t, helm.ok(t, "status", "web", "-n", ns), "STATUS: deployed", "REVISION: 4")
	contains(t, helm.ok(t, "list", "-n", ns), "web", "deployed", "web-0.1.0")

	// Uninstall, with every pod of the namespace watched from now on.
	var rsList struct {
		Items []struct {
			Metadata metav1.ObjectMeta `json:"metadata"`
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(ok(t, "", "get", "replicasets", "-n", ns, "-o", "json")), &rsList); err != nil {
		t.Fatal(err)
	}
	release := map[types.UID]string{}
	for _, it := range rsList.Items {
		release[it.Metadata.UID] = it.Metadata.Name
	}
	if len(release) != 2 {
		t.Fatalf("want the ReplicaSets of two pod templates, got %v", release)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", cluster.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	before, err := cs.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var running []string
	for _, p := range before.Items {
		if p.DeletionTimestamp == nil {
			running = append(running, p.Name)
		}
	}
	if len(running) != 1 {
		t.Fatalf("want one running pod before uninstall, got %v", running)
	}
	pods := watchPods(t, cs, ns, before.ResourceVersion)

	contains(t, helm.ok(t, "uninstall", "web", "-n", ns, "--wait", "--timeout", "2m"), `release "web" uninstalled`)
	// Helm waits for what it created; the ReplicaSets and pods follow
	// through the garbage collector.
	eventually(t, 60*time.Second, func() (bool, string) {
		out := ok(t, "", "get", "deployments,replicasets,pods,services,serviceaccounts,secrets", "-n", ns, "-l", "app.kubernetes.io/instance=web", "-o", "name")
		_, deleted, _ := pods.snapshot()
		return out == "" && slices.Contains(deleted, running[0]), out
	})
	if out := ok(t, "", "get", "secrets", "-n", ns, "-l", "owner=helm", "-o", "name"); out != "" {
		t.Fatalf("release records left: %s", out)
	}
	if r := helm.run(t, "status", "web", "-n", ns); r.code == 0 || !strings.Contains(r.stderr, "release: not found") {
		t.Fatalf("helm status after uninstall: %s", r)
	}
	if out := helm.ok(t, "list", "-n", ns, "-q"); strings.TrimSpace(out) != "" {
		t.Fatalf("helm list after uninstall: %q", out)
	}

	// A barrier: a ReplicaSet created now gets its pod after the release's
	// ReplicaSets were gone for the controller (it sees the workloads of a
	// namespace in order), and the watch reports pods in order, so once
	// the barrier's pod is reported every pod the release's ReplicaSets
	// could have made has been reported too.
	barrier := "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata:\n  name: barrier\nspec:\n  replicas: 1\n  selector:\n    matchLabels:\n      app: barrier\n  template:\n    metadata:\n      labels:\n        app: barrier\n    spec:\n      containers:\n      - name: c\n        image: busybox\n"
	ok(t, barrier, "apply", "-n", ns, "-f", "-")
	eventually(t, 60*time.Second, func() (bool, string) {
		added, _, err := pods.snapshot()
		if err != nil {
			t.Fatalf("pod watch: %v", err)
		}
		return slices.ContainsFunc(added, func(p corev1.Pod) bool { return p.Labels["app"] == "barrier" }), podNames(added)
	})
	added, _, _ := pods.snapshot()
	for _, p := range added {
		if ref := metav1.GetControllerOf(&p); ref != nil && release[ref.UID] != "" {
			t.Errorf("ReplicaSet %s created pod %s during uninstall", release[ref.UID], p.Name)
		}
	}
}

func podNames(pods []corev1.Pod) string {
	names := make([]string, len(pods))
	for i, p := range pods {
		names[i] = p.Name
	}
	return strings.Join(names, " ")
}
