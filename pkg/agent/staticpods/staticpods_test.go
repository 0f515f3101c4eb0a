package staticpods

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

const staticWeb = `apiVersion: v1
kind: Pod
metadata:
  name: web
  labels: {app: web}
spec:
  containers:
  - name: c
    image: busybox
    command: ["sleep", "3600"]
`

func TestParseManifestNamingAndDefaults(t *testing.T) {
	pods, errs := parseManifest([]byte(staticWeb), sourceFile, "/etc/m/web.yaml", "node1")
	if len(errs) > 0 || len(pods) != 1 {
		t.Fatalf("pods %d, errs %v", len(pods), errs)
	}
	p := pods[0]
	if p.Name != "web-node1" || p.Namespace != "default" || p.Spec.NodeName != "node1" {
		t.Fatalf("name %s/%s node %q", p.Namespace, p.Name, p.Spec.NodeName)
	}
	if p.UID == "" || p.Annotations[annConfigHash] != string(p.UID) || p.Annotations[annConfigSource] != "file" || p.Annotations[annConfigSeen] == "" {
		t.Fatalf("uid %q annotations %v", p.UID, p.Annotations)
	}
	// The API server's defaults, but no service account (as for mirrors).
	if p.Spec.RestartPolicy != corev1.RestartPolicyAlways || p.Spec.Containers[0].TerminationMessagePath == "" || p.Spec.ServiceAccountName != "" {
		t.Fatalf("defaults not applied: %+v", p.Spec)
	}
	if !slices.ContainsFunc(p.Spec.Tolerations, func(tl corev1.Toleration) bool {
		return tl.Operator == corev1.TolerationOpExists && tl.Key == "" && tl.Effect == corev1.TaintEffectNoExecute
	}) {
		t.Fatalf("tolerations %v", p.Spec.Tolerations)
	}
	if !IsStatic(p) || IsMirror(p) {
		t.Fatal("static pod classified wrong")
	}
}

func TestStaticHash(t *testing.T) {
	uid := func(manifest, source, origin, node string) string {
		pods, errs := parseManifest([]byte(manifest), source, origin, node)
		if len(errs) > 0 || len(pods) != 1 {
			t.Fatalf("errs %v", errs)
		}
		return string(pods[0].UID)
	}
	a := uid(staticWeb, sourceFile, "/m/web.yaml", "n1")
	if a != uid(staticWeb, sourceFile, "/m/web.yaml", "n1") {
		t.Fatal("same manifest, different uid")
	}
	changed := strings.Replace(staticWeb, "3600", "3601", 1)
	for _, other := range []string{
		uid(changed, sourceFile, "/m/web.yaml", "n1"),
		uid(staticWeb, sourceFile, "/m/web.yaml", "n2"),
		uid(staticWeb, sourceFile, "/m/other.yaml", "n1"),
		uid(staticWeb, sourceHTTP, "http://127.0.0.1/m", "n1"),
	} {
		if other == a {
			t.Fatal("different manifest, node or source gave the same uid")
		}
	}
	given := strings.Replace(staticWeb, "name: web\n", "name: web\n  uid: fixed-uid\n", 1)
	if got := uid(given, sourceFile, "/m/web.yaml", "n1"); got != "fixed-uid" {
		t.Fatalf("a manifest's own uid is kept, got %q", got)
	}
}

func TestParseManifestDocuments(t *testing.T) {
	multi := staticWeb + "---\n" + strings.Replace(staticWeb, "name: web\n", "name: db\n  namespace: kube-system\n", 1) +
		"---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n---\n"
	pods, errs := parseManifest([]byte(multi), sourceFile, "/m/all.yaml", "n1")
	if len(pods) != 2 || pods[0].Name != "web-n1" || pods[1].Namespace+"/"+pods[1].Name != "kube-system/db-n1" {
		t.Fatalf("pods %v", pods)
	}
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "want a v1 Pod") {
		t.Fatalf("errs %v", errs)
	}
	js := `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"j"},"spec":{"containers":[{"name":"c","image":"busybox"}]}}`
	if pods, errs := parseManifest([]byte(js), sourceHTTP, "http://x", "n1"); len(errs) > 0 || len(pods) != 1 || pods[0].Annotations[annConfigSource] != "http" {
		t.Fatalf("json: %v %v", pods, errs)
	}
}

func TestParseManifestRejects(t *testing.T) {
	for name, m := range map[string]string{
		"invalid":     strings.Replace(staticWeb, "image: busybox", "image: \"\"", 1),
		"configmap":   staticWeb + "    envFrom:\n    - configMapRef: {name: cm}\n",
		"secret env":  staticWeb + "    env:\n    - name: X\n      valueFrom: {secretKeyRef: {name: s, key: k}}\n",
		"secret vol":  staticWeb + "  volumes:\n  - name: v\n    secret: {secretName: s}\n",
		"not yaml":    "apiVersion: v1\nkind: Pod\nmetadata: [",
		"no name":     strings.Replace(staticWeb, "  name: web\n", "", 1),
		"bad version": strings.Replace(staticWeb, "apiVersion: v1", "apiVersion: v2", 1),
	} {
		pods, errs := parseManifest([]byte(m), sourceFile, "/m/x.yaml", "n1")
		if len(pods) != 0 || len(errs) == 0 {
			t.Errorf("%s: accepted", name)
			continue
		}
		if strings.HasPrefix(name, "config") || strings.HasPrefix(name, "secret") {
			want := "static pods may not reference " + strings.Fields(name)[0] + "s"
			if !strings.Contains(errs[0].Error(), want) || len(rejected(errs)) != 1 {
				t.Errorf("%s: %v", name, errs)
			}
		}
	}
}

func TestStaticPodsSet(t *testing.T) {
	var s Table
	p := func(name, uid string) *corev1.Pod {
		pod := &corev1.Pod{}
		pod.Name, pod.Namespace, pod.UID = name, "default", types.UID(uid)
		return pod
	}
	changed := s.set(sourceFile, map[string]*corev1.Pod{"default/a": p("a", "1"), "default/b": p("b", "1")})
	slices.Sort(changed)
	if !slices.Equal(changed, []string{"default/a", "default/b"}) {
		t.Fatalf("changed %v", changed)
	}
	first := s.Get("default/a")
	changed = s.set(sourceFile, map[string]*corev1.Pod{"default/a": p("a", "1"), "default/c": p("c", "2")})
	slices.Sort(changed)
	if !slices.Equal(changed, []string{"default/b", "default/c"}) || s.Get("default/a") != first || s.Get("default/b") != nil {
		t.Fatalf("changed %v", changed)
	}
	if !s.other(sourceHTTP, "default/a") || s.other(sourceFile, "default/a") {
		t.Fatal("other")
	}
}

func TestStaticWatcher(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("web.yaml", staticWeb)
	write("notes.txt", "not a manifest")
	write(".hidden.yaml", staticWeb)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(strings.Replace(staticWeb, "name: web\n", "name: remote\n", 1)))
	}))
	defer srv.Close()
	var table Table
	var got []string
	w := NewWatcher(&table, WatcherConfig{Dir: dir, URL: srv.URL, NodeName: "n1", Log: slog.New(slog.DiscardHandler), Changed: func(k []string) { got = append(got, k...) }})
	w.Load(context.Background())
	slices.Sort(got)
	if !slices.Equal(got, []string{"default/remote-n1", "default/web-n1"}) {
		t.Fatalf("changed %v", got)
	}
	if p := table.Get("default/remote-n1"); p == nil || p.Annotations[annConfigSource] != "http" {
		t.Fatalf("remote pod %v", p)
	}
	got = nil
	w.readDir(context.Background())
	if len(got) != 0 {
		t.Fatalf("unchanged directory reported %v", got)
	}
	old := table.Get("default/web-n1").UID
	write("web.yaml", strings.Replace(staticWeb, "3600", "60", 1))
	w.readDir(context.Background())
	if len(got) != 1 || table.Get("default/web-n1").UID == old {
		t.Fatalf("edit: changed %v", got)
	}
	got = nil
	if err := os.Remove(filepath.Join(dir, "web.yaml")); err != nil {
		t.Fatal(err)
	}
	w.readDir(context.Background())
	if !slices.Equal(got, []string{"default/web-n1"}) || table.Get("default/web-n1") != nil || table.Get("default/remote-n1") == nil {
		t.Fatalf("remove: changed %v", got)
	}
}
