package integration

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/flotilla-io/flotilla/pkg/server/testserver"
)

// apiKind is one resource exercised by exerciseKind: new returns an object
// of it (unstructured, as a client would send it) named name.
type apiKind struct {
	gvr        schema.GroupVersionResource
	kind       string
	namespaced bool
	new        func(name string) map[string]any
	columns    []string // upstream's table columns
	// subresources listed by discovery besides the main resource.
	subresources []string
}

func dynamicClient(t *testing.T, srv *testserver.Instance) dynamic.Interface {
	t.Helper()
	dc, err := dynamic.NewForConfig(srv.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	return dc
}

// checkDiscovery finds the kind in aggregated and legacy discovery with
// every verb and its subresources.
func checkDiscovery(t *testing.T, cs kubernetes.Interface, k apiKind) {
	t.Helper()
	gv := k.gvr.GroupVersion()
	// client-go asks for aggregated discovery first.
	_, lists, err := cs.Discovery().ServerGroupsAndResources()
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	found := map[string]metav1.APIResource{}
	for _, l := range lists {
		if l.GroupVersion == gv.String() {
			for _, r := range l.APIResources {
				found[r.Name] = r
			}
		}
	}
	r, ok := found[k.gvr.Resource]
	if !ok || r.Namespaced != k.namespaced || r.Kind != k.kind {
		t.Fatalf("aggregated discovery of %s: %+v (found %v)", k.gvr, r, ok)
	}
	for _, v := range []string{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"} {
		if !slices.Contains(r.Verbs, v) {
			t.Errorf("%s: verb %s missing from %v", k.gvr, v, r.Verbs)
		}
	}
	for _, sub := range k.subresources {
		if _, ok := found[k.gvr.Resource+"/"+sub]; !ok {
			t.Errorf("%s/%s missing from aggregated discovery", k.gvr.Resource, sub)
		}
	}
	// The legacy documents: /apis, /apis/GROUP, /apis/GROUP/VERSION.
	groups, err := cs.Discovery().ServerGroups()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(groups.Groups, func(g metav1.APIGroup) bool { return g.Name == gv.Group }) {
		t.Errorf("group %s missing from /apis", gv.Group)
	}
	group := &metav1.APIGroup{}
	if err := cs.Discovery().RESTClient().Get().AbsPath("/apis/" + gv.Group).Do(context.Background()).Into(group); err != nil || group.PreferredVersion.Version != gv.Version {
		t.Errorf("/apis/%s: %+v, %v", gv.Group, group, err)
	}
	raw, err := cs.Discovery().RESTClient().Get().AbsPath("/apis/" + gv.String()).DoRaw(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var legacy metav1.APIResourceList
	if err := json.Unmarshal(raw, &legacy); err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, r := range legacy.APIResources {
		names[r.Name] = true
	}
	for _, n := range append([]string{k.gvr.Resource}, prefixed(k.gvr.Resource, k.subresources)...) {
		if !names[n] {
			t.Errorf("%s missing from legacy discovery of %s", n, gv)
		}
	}
}

func prefixed(res string, subs []string) []string {
	out := make([]string, len(subs))
	for i, s := range subs {
		out[i] = res + "/" + s
	}
	return out
}

// exerciseKind runs the operations of upstream's API conformance specs on
// one kind: create (and a duplicate), get, list and watch by label,
// merge/JSON/strategic patches, server-side apply, update, the table
// kubectl prints, delete and deletecollection by label.
func exerciseKind(t *testing.T, srv *testserver.Instance, k apiKind, ns string) {
	t.Helper()
	ctx := context.Background()
	cs := srv.Clientset(t)
	checkDiscovery(t, cs, k)
	dc := dynamicClient(t, srv)
	var ri dynamic.ResourceInterface = dc.Resource(k.gvr)
	if k.namespaced {
		ri = dc.Resource(k.gvr).Namespace(ns)
	}
	label := "exercise=" + strings.ReplaceAll(k.gvr.Resource, ".", "-")
	obj := func(name string) *unstructured.Unstructured {
		u := &unstructured.Unstructured{Object: k.new(name)}
		u.SetAPIVersion(k.gvr.GroupVersion().String())
		u.SetKind(k.kind)
		u.SetName(name)
		u.SetLabels(map[string]string{"exercise": strings.ReplaceAll(k.gvr.Resource, ".", "-")})
		return u
	}
	names := []string{"ex-1", "ex-2", "ex-3"}
	var first *unstructured.Unstructured
	for i, n := range names {
		created, err := ri.Create(ctx, obj(n), metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("create %s %s: %v", k.kind, n, err)
		}
		if i == 0 {
			first = created
		}
	}
	if _, err := ri.Create(ctx, obj(names[0]), metav1.CreateOptions{}); !apierrors.IsAlreadyExists(err) {
		t.Fatalf("duplicate create: want AlreadyExists, got %v", err)
	}
	got, err := ri.Get(ctx, names[0], metav1.GetOptions{})
	if err != nil || got.GetUID() != first.GetUID() {
		t.Fatalf("get: %v %v", got, err)
	}
	list, err := ri.List(ctx, metav1.ListOptions{LabelSelector: label})
	if err != nil || len(list.Items) != 3 {
		t.Fatalf("list by label: %v items, %v", lenItems(list), err)
	}
	if l, err := ri.List(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + names[1]}); err != nil || len(l.Items) != 1 {
		t.Fatalf("list by name: %v items, %v", lenItems(l), err)
	}
	w, err := ri.Watch(ctx, metav1.ListOptions{LabelSelector: label, ResourceVersion: list.GetResourceVersion()})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	// The patch types.
	name := names[0]
	for _, p := range []struct {
		pt   types.PatchType
		body string
		key  string
	}{
		{types.MergePatchType, `{"metadata":{"annotations":{"merge":"true"}}}`, "merge"},
		{types.JSONPatchType, `[{"op":"add","path":"/metadata/annotations/json","value":"true"}]`, "json"},
		{types.StrategicMergePatchType, `{"metadata":{"annotations":{"strategic":"true"}}}`, "strategic"},
	} {
		patched, err := ri.Patch(ctx, name, p.pt, []byte(p.body), metav1.PatchOptions{})
		if err != nil || patched.GetAnnotations()[p.key] != "true" {
			t.Fatalf("%s patch: %v %v", p.pt, patched.GetAnnotations(), err)
		}
	}
	applied := obj(name)
	applied.SetAnnotations(map[string]string{"applied": "true"})
	if out, err := ri.Apply(ctx, name, applied, metav1.ApplyOptions{FieldManager: "exercise"}); err != nil || out.GetAnnotations()["applied"] != "true" {
		t.Fatalf("apply: %v %v", out, err)
	} else if !slices.ContainsFunc(out.GetManagedFields(), func(e metav1.ManagedFieldsEntry) bool {
		return e.Manager == "exercise" && e.Operation == metav1.ManagedFieldsOperationApply
	}) {
		t.Errorf("apply not in managedFields: %v", out.GetManagedFields())
	}
	// Apply creates a missing object.
	if _, err := ri.Apply(ctx, "ex-applied", obj("ex-applied"), metav1.ApplyOptions{FieldManager: "exercise"}); err != nil {
		t.Fatalf("apply create: %v", err)
	}
	// Controllers may write the object too (a FlowSchema's status): the
	// update is retried on conflict, as the e2e specs do.
	var cur *unstructured.Unstructured
	for attempt := 0; ; attempt++ {
		if cur, err = ri.Get(ctx, name, metav1.GetOptions{}); err != nil {
			t.Fatal(err)
		}
		ann := cur.GetAnnotations()
		ann["updated"] = "true"
		cur.SetAnnotations(ann)
		out, err := ri.Update(ctx, cur, metav1.UpdateOptions{})
		if apierrors.IsConflict(err) && attempt < 5 {
			continue
		}
		if err != nil || out.GetAnnotations()["updated"] != "true" {
			t.Fatalf("update: %v", err)
		}
		break
	}
	// A stale update conflicts.
	if _, err := ri.Update(ctx, cur, metav1.UpdateOptions{}); !apierrors.IsConflict(err) {
		t.Fatalf("stale update: want Conflict, got %v", err)
	}
	waitEvent(t, w, func(e watch.Event) bool {
		u, ok := e.Object.(*unstructured.Unstructured)
		return ok && e.Type == watch.Modified && u.GetAnnotations()["updated"] == "true"
	})

	checkTable(t, cs, k, ns, name)

	if err := ri.Delete(ctx, names[1], metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := ri.Get(ctx, names[1], metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("get after delete: want NotFound, got %v", err)
	}
	waitEvent(t, w, func(e watch.Event) bool { return e.Type == watch.Deleted })
	if err := ri.DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{LabelSelector: label}); err != nil {
		t.Fatal(err)
	}
	if l, err := ri.List(ctx, metav1.ListOptions{LabelSelector: label}); err != nil || len(l.Items) != 0 {
		t.Fatalf("after deletecollection: %v items, %v", lenItems(l), err)
	}
}

func lenItems(l *unstructured.UnstructuredList) int {
	if l == nil {
		return -1
	}
	return len(l.Items)
}

func waitEvent(t *testing.T, w watch.Interface, ok func(watch.Event) bool) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case e, open := <-w.ResultChan():
			if !open {
				t.Fatal("watch closed")
			}
			if ok(e) {
				return
			}
		case <-deadline:
			t.Fatal("no matching watch event")
		}
	}
}

// checkTable gets the object as the Table kubectl prints.
func checkTable(t *testing.T, cs kubernetes.Interface, k apiKind, ns, name string) {
	t.Helper()
	path := "/apis/" + k.gvr.GroupVersion().String()
	if k.namespaced {
		path += "/namespaces/" + ns
	}
	path += "/" + k.gvr.Resource
	for _, p := range []string{path, path + "/" + name} {
		raw, err := cs.Discovery().RESTClient().Get().AbsPath(p).SetHeader("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io").DoRaw(context.Background())
		if err != nil {
			t.Fatalf("table %s: %v", p, err)
		}
		var table metav1.Table
		if err := json.Unmarshal(raw, &table); err != nil {
			t.Fatal(err)
		}
		var cols []string
		for _, c := range table.ColumnDefinitions {
			cols = append(cols, c.Name)
		}
		if !slices.Equal(cols, k.columns) {
			t.Errorf("%s table columns %v, want %v", k.kind, cols, k.columns)
		}
		if len(table.Rows) == 0 || len(table.Rows[0].Cells) != len(cols) {
			t.Errorf("%s table rows: %+v", k.kind, table.Rows)
		}
	}
}
