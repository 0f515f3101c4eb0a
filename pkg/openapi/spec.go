package openapi

import (
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"sort"
	"strings"
	"sync"

	openapiv2 "github.com/google/gnostic-models/openapiv2"
	"google.golang.org/protobuf/proto"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// Resource is one served resource as the generator needs it.
type Resource struct {
	GVK          schema.GroupVersionKind
	Plural       string
	Namespaced   bool
	Verbs        []string
	Object       runtime.Object
	ListObject   runtime.Object
	Subresources []Subresource
}

// Subresource is a sub-path of a resource with the kind it takes.
type Subresource struct {
	Name   string
	GVK    schema.GroupVersionKind
	Object runtime.Object
	Verbs  []string
}

// Spec holds the generated definitions and serves the documents. The
// documents are rendered on first request: most clients never ask.
type Spec struct {
	gen       *generator
	resources []Resource
	groups    []schema.GroupVersion

	v3Once  sync.Once
	v3Index []byte
	v3Docs  map[string][]byte // "api/v1", "apis/apps/v1" -> document
	v3Err   error

	v2Once  sync.Once
	v2JSON  []byte
	v2Proto []byte
	v2Err   error
}

// New generates the definitions of the given resources.
func New(resources []Resource) (*Spec, error) {
	s := &Spec{gen: newGenerator(), resources: resources}
	seen := map[schema.GroupVersion]bool{}
	gvks := map[string][]schema.GroupVersionKind{}
	addKind := func(obj runtime.Object, gvk schema.GroupVersionKind) {
		if obj == nil {
			return
		}
		name := s.gen.define(reflect.TypeOf(obj))
		for _, have := range gvks[name] {
			if have == gvk {
				return
			}
		}
		gvks[name] = append(gvks[name], gvk)
	}
	for _, r := range resources {
		if r.Object == nil {
			return nil, fmt.Errorf("resource %s has no object type", r.Plural)
		}
		gv := r.GVK.GroupVersion()
		if !seen[gv] {
			seen[gv] = true
			s.groups = append(s.groups, gv)
		}
		addKind(r.Object, r.GVK)
		addKind(r.ListObject, gv.WithKind(r.GVK.Kind+"List"))
		for _, sub := range r.Subresources {
			addKind(sub.Object, sub.GVK)
		}
	}
	metaGV := schema.GroupVersion{Group: "meta.k8s.io", Version: "v1"}
	addKind(&metav1.Status{}, metaGV.WithKind("Status"))
	addKind(&metav1.DeleteOptions{}, metaGV.WithKind("DeleteOptions"))
	addKind(&metav1.WatchEvent{}, metaGV.WithKind("WatchEvent"))
	for name, list := range gvks {
		ext := make([]any, 0, len(list))
		for _, gvk := range list {
			ext = append(ext, map[string]any{"group": gvk.Group, "version": gvk.Version, "kind": gvk.Kind})
		}
		s.gen.defs[name].AddExtension(extGVK, ext)
	}
	return s, nil
}

// Definitions are every generated schema by name, for the server-side
// apply type converter.
func (s *Spec) Definitions() map[string]*spec.Schema { return s.gen.defs }

// ServeHTTP answers /openapi/v2, /openapi/v3 and /openapi/v3/<gv path>.
func (s *Spec) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	path := strings.TrimSuffix(r.URL.Path, "/")
	switch {
	case path == "/openapi/v2":
		s.serveV2(w, r)
	case path == "/openapi/v3":
		if err := s.renderV3(); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		writeBody(w, "application/json", s.v3Index)
	case strings.HasPrefix(path, "/openapi/v3/"):
		if err := s.renderV3(); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		doc, ok := s.v3Docs[strings.TrimPrefix(path, "/openapi/v3/")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		writeBody(w, "application/json", doc)
	default:
		http.NotFound(w, r)
	}
}

// serveV2 answers in gnostic protobuf when asked (kubectl's only accepted
// form for v2), else JSON.
func (s *Spec) serveV2(w http.ResponseWriter, r *http.Request) {
	if err := s.renderV2(); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	if strings.Contains(r.Header.Get("Accept"), "application/com.github.proto-openapi.spec.v2") {
		writeBody(w, "application/com.github.proto-openapi.spec.v2.v1.0+protobuf", s.v2Proto)
		return
	}
	writeBody(w, "application/json", s.v2JSON)
}

func writeBody(w http.ResponseWriter, contentType string, body []byte) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Cache-Control", "no-cache, private")
	_, _ = w.Write(body)
}

// gvPath is the OpenAPI v3 index key of a group-version.
func gvPath(gv schema.GroupVersion) string {
	if gv.Group == "" {
		return "api/" + gv.Version
	}
	return "apis/" + gv.Group + "/" + gv.Version
}

type v3Document struct {
	OpenAPI    string                    `json:"openapi"`
	Info       map[string]string         `json:"info"`
	Paths      map[string]map[string]any `json:"paths"`
	Components struct {
		Schemas map[string]*spec.Schema `json:"schemas"`
	} `json:"components"`
}

func (s *Spec) renderV3() error {
	s.v3Once.Do(func() {
		s.v3Docs = map[string][]byte{}
		index := map[string]map[string]map[string]string{"paths": {}}
		for _, gv := range s.groups {
			doc := v3Document{OpenAPI: "3.0.0", Info: map[string]string{"title": "Kubernetes", "version": "v1.32.0"}, Paths: map[string]map[string]any{}}
			var roots []string
			for _, r := range s.resources {
				if r.GVK.GroupVersion() != gv {
					continue
				}
				for p, item := range s.pathsOf(r) {
					doc.Paths[p] = item.v3()
				}
				roots = append(roots, s.gen.seen[derefType(r.Object)])
				if r.ListObject != nil {
					roots = append(roots, s.gen.seen[derefType(r.ListObject)])
				}
				for _, sub := range r.Subresources {
					if sub.Object != nil {
						roots = append(roots, s.gen.seen[derefType(sub.Object)])
					}
				}
			}
			for _, t := range []any{&metav1.Status{}, &metav1.DeleteOptions{}, &metav1.WatchEvent{}} {
				roots = append(roots, s.gen.seen[derefType(t)])
			}
			doc.Components.Schemas = s.gen.closure(roots)
			body, err := json.Marshal(doc)
			if err != nil {
				s.v3Err = fmt.Errorf("render %s: %w", gv, err)
				return
			}
			key := gvPath(gv)
			s.v3Docs[key] = body
			sum := sha512.Sum512(body)
			index["paths"][key] = map[string]string{"serverRelativeURL": "/openapi/v3/" + key + "?hash=" + strings.ToUpper(hex.EncodeToString(sum[:]))}
		}
		s.v3Index, s.v3Err = json.Marshal(index)
	})
	return s.v3Err
}

func (s *Spec) renderV2() error {
	s.v2Once.Do(func() {
		paths := map[string]map[string]any{}
		for _, r := range s.resources {
			for p, item := range s.pathsOf(r) {
				paths[p] = item.v2()
			}
		}
		defs := map[string]*spec.Schema{}
		names := make([]string, 0, len(s.gen.defs))
		for n := range s.gen.defs {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			defs[n] = s.gen.defs[n]
		}
		doc := map[string]any{
			"swagger":     "2.0",
			"info":        map[string]string{"title": "Kubernetes", "version": "v1.32.0"},
			"paths":       paths,
			"definitions": defs,
		}
		body, err := json.Marshal(doc)
		if err != nil {
			s.v2Err = err
			return
		}
		// v2 refers to definitions by another path and has no allOf
		// wrapping convention; both forms parse, the prefix must change.
		body = []byte(strings.ReplaceAll(string(body), refPrefix, "#/definitions/"))
		parsed, err := openapiv2.ParseDocument(body)
		if err != nil {
			s.v2Err = fmt.Errorf("openapi v2: %w", err)
			return
		}
		s.v2JSON = body
		s.v2Proto, s.v2Err = proto.Marshal(parsed)
	})
	return s.v2Err
}

func derefType(obj any) reflect.Type {
	t := reflect.TypeOf(obj)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}
