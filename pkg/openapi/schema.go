package openapi

import (
	"reflect"
	"strings"

	"k8s.io/kube-openapi/pkg/validation/spec"
)

// refPrefix is where definitions live in an OpenAPI v3 document; the v2
// document rewrites it to #/definitions/.
const refPrefix = "#/components/schemas/"

// Extension keys understood by kubectl and structured-merge-diff.
const (
	extGVK           = "x-kubernetes-group-version-kind"
	extPatchStrategy = "x-kubernetes-patch-strategy"
	extPatchMergeKey = "x-kubernetes-patch-merge-key"
	extListType      = "x-kubernetes-list-type"
	extListMapKeys   = "x-kubernetes-list-map-keys"
	extMapType       = "x-kubernetes-map-type"
)

// listMapKeys names associative lists keyed by more than their patch merge
// key: two entries may share the merge key (port 53 over TCP and UDP), so
// server-side apply must key them by both fields, as upstream declares.
var listMapKeys = map[string][]string{
	"io.k8s.api.core.v1.Container.ports":                   {"containerPort", "protocol"},
	"io.k8s.api.core.v1.EphemeralContainer.ports":          {"containerPort", "protocol"},
	"io.k8s.api.core.v1.ServiceSpec.ports":                 {"port", "protocol"},
	"io.k8s.api.core.v1.PodSpec.topologySpreadConstraints": {"topologyKey", "whenUnsatisfiable"},
	// Declared a map by type (+listMapKey) with no patch tags.
	"io.k8s.api.certificates.v1.CertificateSigningRequestStatus.conditions": {"type"},
}

// swaggerDocer is implemented by the k8s.io/api types: field descriptions
// keyed by json name, the type's own under "".
type swaggerDocer interface{ SwaggerDoc() map[string]string }

// openAPITyper is implemented by apimachinery types with a custom JSON
// form (Quantity, Time, IntOrString, ...).
type openAPITyper interface {
	OpenAPISchemaType() []string
	OpenAPISchemaFormat() string
}

var (
	docerType = reflect.TypeFor[swaggerDocer]()
	typerType = reflect.TypeFor[openAPITyper]()
)

// generator turns Go types into named definitions.
type generator struct {
	defs map[string]*spec.Schema
	deps map[string][]string // definition -> definitions it refers to
	seen map[reflect.Type]string
}

func newGenerator() *generator {
	return &generator{defs: map[string]*spec.Schema{}, deps: map[string][]string{}, seen: map[reflect.Type]string{}}
}

// modelNamer is implemented by types that name their own definition:
// Flotilla's settings.k8s.io types keep the names upstream gave them
// (io.k8s.api.settings.v1alpha1.PodPreset) though they live elsewhere.
type modelNamer interface{ OpenAPIModelName() string }

var modelNamerType = reflect.TypeFor[modelNamer]()

// DefinitionName is the upstream name of a named Go type:
// k8s.io/api/core/v1.Pod -> io.k8s.api.core.v1.Pod.
func DefinitionName(t reflect.Type) string {
	if name, ok := ownModelName(t); ok {
		return name
	}
	pkg := t.PkgPath()
	host, rest, _ := strings.Cut(pkg, "/")
	parts := strings.Split(host, ".")
	for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
		parts[i], parts[j] = parts[j], parts[i]
	}
	name := strings.Join(parts, ".")
	if rest != "" {
		name += "." + strings.ReplaceAll(rest, "/", ".")
	}
	return name + "." + t.Name()
}

// define makes sure t (a named struct or special type) has a definition
// and returns its name.
func (g *generator) define(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if name, ok := g.seen[t]; ok {
		return name
	}
	name := DefinitionName(t)
	g.seen[t] = name
	s := &spec.Schema{}
	g.defs[name] = s // placed first so recursive types terminate
	var deps []string
	*s = g.structSchema(name, t, &deps)
	g.deps[name] = dedupe(deps)
	return name
}

// structSchema describes a named type as a definition body.
func (g *generator) structSchema(name string, t reflect.Type, deps *[]string) spec.Schema {
	var s spec.Schema
	if special, ok := specialSchema(t); ok {
		s = special
	} else {
		s.Type = spec.StringOrArray{"object"}
		s.Properties = map[string]spec.Schema{}
		g.addFields(name, t, &s, deps)
		if len(s.Required) > 0 {
			s.Required = dedupe(s.Required)
		}
	}
	if d := docsOf(t); d != nil {
		s.Description = d[""]
	}
	return s
}

// ownModelName is the name t gives itself, unless the method is only
// promoted from an embedded type (a type embedding ObjectMeta is not
// ObjectMeta).
func ownModelName(t reflect.Type) (string, bool) {
	if !t.Implements(modelNamerType) {
		return "", false
	}
	name := reflect.Zero(t).Interface().(modelNamer).OpenAPIModelName()
	if t.Kind() == reflect.Struct {
		for i := range t.NumField() {
			f := t.Field(i)
			if f.Anonymous && f.Type.Implements(modelNamerType) &&
				reflect.Zero(f.Type).Interface().(modelNamer).OpenAPIModelName() == name {
				return "", false
			}
		}
	}
	return name, true
}

// specialSchema covers the apimachinery types that marshal to a scalar or
// to free-form JSON.
func specialSchema(t reflect.Type) (spec.Schema, bool) {
	switch DefinitionName(t) {
	case "io.k8s.apimachinery.pkg.util.intstr.IntOrString":
		return spec.Schema{SchemaProps: spec.SchemaProps{Type: spec.StringOrArray{"string"}, Format: "int-or-string"}}, true
	case "io.k8s.apimachinery.pkg.runtime.RawExtension", "io.k8s.apimachinery.pkg.apis.meta.v1.FieldsV1":
		return spec.Schema{SchemaProps: spec.SchemaProps{Type: spec.StringOrArray{"object"}}}, true
	}
	if reflect.PointerTo(t).Implements(typerType) || t.Implements(typerType) {
		v := reflect.New(t).Interface().(openAPITyper)
		return spec.Schema{SchemaProps: spec.SchemaProps{Type: v.OpenAPISchemaType(), Format: v.OpenAPISchemaFormat()}}, true
	}
	return spec.Schema{}, false
}

func docsOf(t reflect.Type) map[string]string {
	if t.Implements(docerType) {
		return reflect.Zero(t).Interface().(swaggerDocer).SwaggerDoc()
	}
	if reflect.PointerTo(t).Implements(docerType) {
		return reflect.New(t).Interface().(swaggerDocer).SwaggerDoc()
	}
	return nil
}

// addFields adds t's json fields to s, flattening inlined embeddings.
func (g *generator) addFields(defName string, t reflect.Type, s *spec.Schema, deps *[]string) {
	docs := docsOf(t)
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		jsonName, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && jsonName == "" {
			et := f.Type
			for et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if et.Kind() == reflect.Struct {
				g.addFields(defName, et, s, deps)
				continue
			}
		}
		if jsonName == "" {
			jsonName = f.Name
		}
		prop := g.fieldSchema(f.Type, deps)
		if prop.Ref.String() != "" {
			// A reference cannot carry a description of its own in
			// OpenAPI v3; upstream wraps it in a one-element allOf.
			prop = spec.Schema{SchemaProps: spec.SchemaProps{AllOf: []spec.Schema{prop}}}
		}
		if d := docs[jsonName]; d != "" {
			prop.Description = d
		}
		g.listSemantics(defName+"."+jsonName, f, &prop)
		s.Properties[jsonName] = prop
		if !strings.Contains(opts, "omitempty") && !strings.Contains(opts, "omitzero") && f.Type.Kind() != reflect.Pointer {
			s.Required = append(s.Required, jsonName)
		}
	}
}

// listSemantics turns patch tags into the extensions that strategic merge
// patch (kubectl) and server-side apply read.
func (g *generator) listSemantics(path string, f reflect.StructField, prop *spec.Schema) {
	strategy := f.Tag.Get("patchStrategy")
	key := f.Tag.Get("patchMergeKey")
	if strategy != "" {
		prop.AddExtension(extPatchStrategy, strategy)
	}
	if key != "" {
		prop.AddExtension(extPatchMergeKey, key)
	}
	if f.Type.Kind() != reflect.Slice || f.Type.Elem().Kind() == reflect.Uint8 {
		return
	}
	merge := strings.Contains(strategy, "merge")
	switch {
	case listMapKeys[path] != nil:
		prop.AddExtension(extListType, "map")
		prop.AddExtension(extListMapKeys, toAny(listMapKeys[path]))
	case merge && key != "":
		prop.AddExtension(extListType, "map")
		prop.AddExtension(extListMapKeys, []any{key})
	case merge:
		prop.AddExtension(extListType, "set")
	default:
		prop.AddExtension(extListType, "atomic")
	}
}

// fieldSchema describes a field's type: scalars inline, named structs by
// reference.
func (g *generator) fieldSchema(t reflect.Type, deps *[]string) spec.Schema {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() == reflect.Struct {
		name := g.define(t)
		*deps = append(*deps, name)
		return spec.Schema{SchemaProps: spec.SchemaProps{Ref: spec.MustCreateRef(refPrefix + name)}}
	}
	switch t.Kind() {
	case reflect.Bool:
		return typed("boolean", "")
	case reflect.Int8, reflect.Int16, reflect.Int32, reflect.Uint8, reflect.Uint16:
		return typed("integer", "int32")
	case reflect.Int, reflect.Int64, reflect.Uint, reflect.Uint32, reflect.Uint64:
		return typed("integer", "int64")
	case reflect.Float32, reflect.Float64:
		return typed("number", "double")
	case reflect.String:
		return typed("string", "")
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return typed("string", "byte")
		}
		item := g.fieldSchema(t.Elem(), deps)
		s := typed("array", "")
		s.Items = &spec.SchemaOrArray{Schema: &item}
		return s
	case reflect.Map:
		val := g.fieldSchema(t.Elem(), deps)
		s := typed("object", "")
		s.AdditionalProperties = &spec.SchemaOrBool{Allows: true, Schema: &val}
		return s
	}
	// interface{} and the like: any JSON value.
	return spec.Schema{}
}

func typed(typ, format string) spec.Schema {
	return spec.Schema{SchemaProps: spec.SchemaProps{Type: spec.StringOrArray{typ}, Format: format}}
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

func dedupe(ss []string) []string {
	seen := map[string]bool{}
	out := ss[:0]
	for _, s := range ss {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// closure returns the named definitions and everything they refer to.
func (g *generator) closure(roots []string) map[string]*spec.Schema {
	out := map[string]*spec.Schema{}
	var visit func(string)
	visit = func(n string) {
		if _, ok := out[n]; ok {
			return
		}
		out[n] = g.defs[n]
		for _, d := range g.deps[n] {
			visit(d)
		}
	}
	for _, r := range roots {
		visit(r)
	}
	return out
}
