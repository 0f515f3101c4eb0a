package openapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	openapiv2 "github.com/google/gnostic-models/openapiv2"
	"google.golang.org/protobuf/proto"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/kube-openapi/pkg/validation/spec"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
)

var allVerbs = []string{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}

func testSpec(t *testing.T) *Spec {
	t.Helper()
	scale := schema.GroupVersionKind{Group: "autoscaling", Version: "v1", Kind: "Scale"}
	s, err := New([]Resource{
		{GVK: corev1.SchemeGroupVersion.WithKind("Pod"), Plural: "pods", Namespaced: true, Verbs: allVerbs, Object: &corev1.Pod{}, ListObject: &corev1.PodList{},
			Subresources: []Subresource{{Name: "status", GVK: corev1.SchemeGroupVersion.WithKind("Pod"), Object: &corev1.Pod{}, Verbs: []string{"get", "patch", "update"}}}},
		{GVK: corev1.SchemeGroupVersion.WithKind("ConfigMap"), Plural: "configmaps", Namespaced: true, Verbs: allVerbs, Object: &corev1.ConfigMap{}, ListObject: &corev1.ConfigMapList{}},
		{GVK: corev1.SchemeGroupVersion.WithKind("Namespace"), Plural: "namespaces", Verbs: allVerbs, Object: &corev1.Namespace{}, ListObject: &corev1.NamespaceList{}},
		{GVK: appsv1.SchemeGroupVersion.WithKind("Deployment"), Plural: "deployments", Namespaced: true, Verbs: allVerbs, Object: &appsv1.Deployment{}, ListObject: &appsv1.DeploymentList{},
			Subresources: []Subresource{{Name: "scale", GVK: scale, Object: &autoscalingv1.Scale{}, Verbs: []string{"get", "patch", "update"}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func get(t *testing.T, s *Spec, path, accept string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	return rec
}

func TestDefinitionNames(t *testing.T) {
	s := testSpec(t)
	for _, name := range []string{
		"io.k8s.api.core.v1.Pod", "io.k8s.api.core.v1.PodSpec", "io.k8s.api.core.v1.Container",
		"io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", "io.k8s.apimachinery.pkg.api.resource.Quantity",
		"io.k8s.apimachinery.pkg.util.intstr.IntOrString", "io.k8s.apimachinery.pkg.apis.meta.v1.Time",
		"io.k8s.api.apps.v1.Deployment", "io.k8s.api.autoscaling.v1.Scale",
	} {
		if s.Definitions()[name] == nil {
			t.Errorf("no definition %s", name)
		}
	}
	defs := s.Definitions()
	if got := defs["io.k8s.apimachinery.pkg.apis.meta.v1.Time"]; got.Type[0] != "string" || got.Format != "date-time" {
		t.Errorf("Time schema %v %q", got.Type, got.Format)
	}
	if got := defs["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]; got.Format != "int-or-string" {
		t.Errorf("IntOrString format %q", got.Format)
	}
	containers := defs["io.k8s.api.core.v1.PodSpec"].Properties["containers"]
	if containers.Extensions[extListType] != "map" || containers.Extensions[extPatchMergeKey] != "name" {
		t.Errorf("containers extensions %v", containers.Extensions)
	}
	if !strings.Contains(containers.Description, "containers") {
		t.Errorf("containers description %q", containers.Description)
	}
	if got := defs["io.k8s.api.core.v1.Container"].Required; len(got) != 1 || got[0] != "name" {
		t.Errorf("container required %v", got)
	}
	// Inlined TypeMeta.
	if _, ok := defs["io.k8s.api.core.v1.Pod"].Properties["apiVersion"]; !ok {
		t.Error("Pod lacks apiVersion")
	}
}

// The definitions drive server-side apply: containers merge by name.
func TestTypeConverterMergesContainersByName(t *testing.T) {
	s := testSpec(t)
	tc, err := managedfields.NewTypeConverter(s.Definitions(), false)
	if err != nil {
		t.Fatal(err)
	}
	pod := func(images ...string) *corev1.Pod {
		p := &corev1.Pod{TypeMeta: metav1.TypeMeta{Kind: "Pod", APIVersion: "v1"}, ObjectMeta: metav1.ObjectMeta{Name: "p"}}
		for i, img := range images {
			p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: string(rune('a' + i)), Image: img,
				Ports: []corev1.ContainerPort{{ContainerPort: 53, Protocol: "TCP"}, {ContainerPort: 53, Protocol: "UDP"}}})
		}
		return p
	}
	a, err := tc.ObjectToTyped(pod("x", "y"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := tc.ObjectToTyped(pod("x", "z"))
	if err != nil {
		t.Fatal(err)
	}
	cmp, err := a.Compare(b)
	if err != nil {
		t.Fatal(err)
	}
	want := fieldpath.MakePathOrDie("spec", "containers", fieldpath.KeyByFields("name", "b"), "image")
	if !cmp.Modified.Has(want) || cmp.Modified.Size() != 1 {
		t.Fatalf("modified = %v, want only %v", cmp.Modified, want)
	}
}

func TestOpenAPIV3(t *testing.T) {
	s := testSpec(t)
	rec := get(t, s, "/openapi/v3", "")
	var index struct {
		Paths map[string]struct {
			ServerRelativeURL string `json:"serverRelativeURL"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &index); err != nil {
		t.Fatal(err)
	}
	url := index.Paths["api/v1"].ServerRelativeURL
	if !strings.HasPrefix(url, "/openapi/v3/api/v1?hash=") || index.Paths["apis/apps/v1"].ServerRelativeURL == "" {
		t.Fatalf("index %+v", index)
	}
	rec = get(t, s, url, "application/json")
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("gv doc: %d %s", rec.Code, rec.Header())
	}
	var doc struct {
		Paths      map[string]map[string]json.RawMessage `json:"paths"`
		Components struct {
			Schemas map[string]spec.Schema `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	// kubectl's validation probe: a PATCH operation of the kind that
	// declares fieldValidation.
	var patch struct {
		GVK    map[string]string `json:"x-kubernetes-group-version-kind"`
		Params []struct {
			Name string `json:"name"`
		} `json:"parameters"`
	}
	if err := json.Unmarshal(doc.Paths["/api/v1/namespaces/{namespace}/pods/{name}"]["patch"], &patch); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, p := range patch.Params {
		found = found || p.Name == "fieldValidation"
	}
	if patch.GVK["kind"] != "Pod" || !found {
		t.Fatalf("pod patch op %+v", patch)
	}
	if _, ok := doc.Components.Schemas["io.k8s.api.core.v1.Container"]; !ok {
		t.Fatal("components lack Container")
	}
	if _, ok := doc.Components.Schemas["io.k8s.api.apps.v1.Deployment"]; ok {
		t.Fatal("core document carries apps types")
	}
	// Strategic merge patch metadata as kubectl apply reads it.
	schemas := map[string]*spec.Schema{}
	for k := range doc.Components.Schemas {
		v := doc.Components.Schemas[k]
		schemas[k] = &v
	}
	meta := strategicpatch.PatchMetaFromOpenAPIV3{SchemaList: schemas, Schema: schemas["io.k8s.api.core.v1.Pod"]}
	specMeta, _, err := meta.LookupPatchMetadataForStruct("spec")
	if err != nil {
		t.Fatal(err)
	}
	_, pm, err := specMeta.LookupPatchMetadataForSlice("containers")
	if err != nil {
		t.Fatal(err)
	}
	if pm.GetPatchMergeKey() != "name" {
		t.Fatalf("containers merge key %q", pm.GetPatchMergeKey())
	}
	if get(t, s, "/openapi/v3/apis/nope/v1", "").Code != 404 {
		t.Fatal("unknown group-version served")
	}
}

func TestOpenAPIV2Protobuf(t *testing.T) {
	s := testSpec(t)
	rec := get(t, s, "/openapi/v2", "application/com.github.proto-openapi.spec.v2@v1.0+protobuf")
	if ct := rec.Header().Get("Content-Type"); ct != "application/com.github.proto-openapi.spec.v2.v1.0+protobuf" {
		t.Fatalf("content type %q", ct)
	}
	var doc openapiv2.Document
	if err := proto.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, d := range doc.GetDefinitions().GetAdditionalProperties() {
		found = found || d.GetName() == "io.k8s.api.core.v1.Pod"
	}
	if !found {
		t.Fatal("v2 lacks the Pod definition")
	}
	if rec := get(t, s, "/openapi/v2", "application/json"); !json.Valid(rec.Body.Bytes()) || strings.Contains(rec.Body.String(), refPrefix) {
		t.Fatal("v2 JSON invalid or carries v3 references")
	}
}
