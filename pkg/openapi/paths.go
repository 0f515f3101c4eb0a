package openapi

import (
	"net/http"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

// param is a query or path parameter.
type param struct {
	name, in, typ, desc string
	required            bool
}

// operation is one method on one path, rendered as v3 or v2.
type operation struct {
	id, action, desc string
	gvk              schema.GroupVersionKind
	query            []param
	bodyRef          string   // definition name of the request body; "" = none
	bodyInline       bool     // a free-form object body (patches)
	consumes         []string // request media types
	respRef          string   // definition name of the 200/201 body
	created          bool     // also answers 201
}

type pathItem struct {
	params []param
	ops    map[string]*operation // lower-case HTTP method
}

var (
	pDryRun          = param{name: "dryRun", in: "query", typ: "string", desc: "When present, indicates that modifications should not be persisted. Valid values are: - All: all dry run stages will be processed"}
	pFieldManager    = param{name: "fieldManager", in: "query", typ: "string", desc: "fieldManager is a name associated with the actor or entity that is making these changes."}
	pFieldValidation = param{name: "fieldValidation", in: "query", typ: "string", desc: "fieldValidation instructs the server on how to handle objects in the request containing unknown or duplicate fields. Valid values are: - Ignore - Warn - Strict"}
	pForce           = param{name: "force", in: "query", typ: "boolean", desc: "Force is going to \"force\" Apply requests."}
	pPretty          = param{name: "pretty", in: "query", typ: "string", desc: "If 'true', then the output is pretty printed."}
	pGrace           = param{name: "gracePeriodSeconds", in: "query", typ: "integer", desc: "The duration in seconds before the object should be deleted."}
	pPropagation     = param{name: "propagationPolicy", in: "query", typ: "string", desc: "Whether and how garbage collection will be performed: Orphan, Background or Foreground."}
	pName            = param{name: "name", in: "path", typ: "string", desc: "name of the resource", required: true}
	pNamespace       = param{name: "namespace", in: "path", typ: "string", desc: "object name and auth scope, such as for teams and projects", required: true}
	listParams       = []param{
		{name: "labelSelector", in: "query", typ: "string", desc: "A selector to restrict the list of returned objects by their labels."},
		{name: "fieldSelector", in: "query", typ: "string", desc: "A selector to restrict the list of returned objects by their fields."},
		{name: "limit", in: "query", typ: "integer", desc: "The maximum number of responses to return for a list call."},
		{name: "continue", in: "query", typ: "string", desc: "The continue option should be set when retrieving more results from the server."},
		{name: "resourceVersion", in: "query", typ: "string", desc: "Sets a constraint on what resource versions a request may be served from."},
		{name: "timeoutSeconds", in: "query", typ: "integer", desc: "Timeout for the list/watch call."},
		{name: "watch", in: "query", typ: "boolean", desc: "Watch for changes to the described resources."},
		{name: "allowWatchBookmarks", in: "query", typ: "boolean", desc: "allowWatchBookmarks requests watch events with type \"BOOKMARK\"."},
	}
	patchTypes = []string{"application/json-patch+json", "application/merge-patch+json", "application/strategic-merge-patch+json", "application/apply-patch+yaml"}
	bodyTypes  = []string{"application/json", "application/yaml", "application/vnd.kubernetes.protobuf"}
)

// pathsOf lists the REST paths of a resource and its subresources.
func (s *Spec) pathsOf(r Resource) map[string]*pathItem {
	gv := r.GVK.GroupVersion()
	root := "/" + gvPath(gv)
	collection := root + "/" + r.Plural
	if r.Namespaced {
		collection = root + "/namespaces/{namespace}/" + r.Plural
	}
	kindName := s.gen.seen[derefType(r.Object)]
	listName := ""
	if r.ListObject != nil {
		listName = s.gen.seen[derefType(r.ListObject)]
	}
	scope := ""
	var scopeParams []param
	if r.Namespaced {
		scope, scopeParams = "Namespaced", []param{pNamespace}
	}
	idBase := operationPrefix(gv) + scope + r.GVK.Kind
	can := func(v string) bool { return slices.Contains(r.Verbs, v) }
	out := map[string]*pathItem{}

	coll := &pathItem{params: append(slices.Clone(scopeParams), pPretty), ops: map[string]*operation{}}
	if can("list") {
		coll.ops["get"] = &operation{id: "list" + idBase, action: "list", desc: "list or watch objects of kind " + r.GVK.Kind, gvk: r.GVK, query: listParams, respRef: listName}
	}
	if can("create") {
		coll.ops["post"] = &operation{id: "create" + idBase, action: "post", desc: "create a " + r.GVK.Kind, gvk: r.GVK, query: []param{pDryRun, pFieldManager, pFieldValidation}, bodyRef: kindName, consumes: bodyTypes, respRef: kindName, created: true}
	}
	if can("deletecollection") {
		coll.ops["delete"] = &operation{id: "deletecollection" + idBase, action: "deletecollection", desc: "delete collection of " + r.GVK.Kind, gvk: r.GVK, query: append([]param{pDryRun, pGrace, pPropagation}, listParams[:4]...), respRef: "io.k8s.apimachinery.pkg.apis.meta.v1.Status"}
	}
	out[collection] = coll
	if r.Namespaced && can("list") {
		out[root+"/"+r.Plural] = &pathItem{params: []param{pPretty}, ops: map[string]*operation{
			"get": {id: "list" + operationPrefix(gv) + r.GVK.Kind + "ForAllNamespaces", action: "list", desc: "list or watch objects of kind " + r.GVK.Kind, gvk: r.GVK, query: listParams, respRef: listName},
		}}
	}

	item := &pathItem{params: append([]param{pName}, append(slices.Clone(scopeParams), pPretty)...), ops: map[string]*operation{}}
	if can("get") {
		item.ops["get"] = &operation{id: "read" + idBase, action: "get", desc: "read the specified " + r.GVK.Kind, gvk: r.GVK, respRef: kindName}
	}
	if can("update") {
		item.ops["put"] = &operation{id: "replace" + idBase, action: "put", desc: "replace the specified " + r.GVK.Kind, gvk: r.GVK, query: []param{pDryRun, pFieldManager, pFieldValidation}, bodyRef: kindName, consumes: bodyTypes, respRef: kindName, created: true}
	}
	if can("patch") {
		item.ops["patch"] = &operation{id: "patch" + idBase, action: "patch", desc: "partially update the specified " + r.GVK.Kind, gvk: r.GVK, query: []param{pDryRun, pFieldManager, pFieldValidation, pForce}, bodyInline: true, consumes: patchTypes, respRef: kindName, created: true}
	}
	if can("delete") {
		item.ops["delete"] = &operation{id: "delete" + idBase, action: "delete", desc: "delete a " + r.GVK.Kind, gvk: r.GVK, query: []param{pDryRun, pGrace, pPropagation}, bodyRef: "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions", consumes: bodyTypes, respRef: "io.k8s.apimachinery.pkg.apis.meta.v1.Status"}
	}
	out[collection+"/{name}"] = item

	for _, sub := range r.Subresources {
		if sub.Object == nil {
			continue
		}
		subName := s.gen.seen[derefType(sub.Object)]
		id := idBase + exportName(sub.Name)
		p := &pathItem{params: item.params, ops: map[string]*operation{}}
		has := func(v string) bool { return slices.Contains(sub.Verbs, v) }
		if has("get") {
			p.ops["get"] = &operation{id: "read" + id, action: "get", desc: "read " + sub.Name + " of the specified " + r.GVK.Kind, gvk: sub.GVK, respRef: subName}
		}
		if has("update") {
			p.ops["put"] = &operation{id: "replace" + id, action: "put", desc: "replace " + sub.Name + " of the specified " + r.GVK.Kind, gvk: sub.GVK, query: []param{pDryRun, pFieldManager, pFieldValidation}, bodyRef: subName, consumes: bodyTypes, respRef: subName, created: true}
		}
		if has("patch") {
			p.ops["patch"] = &operation{id: "patch" + id, action: "patch", desc: "partially update " + sub.Name + " of the specified " + r.GVK.Kind, gvk: sub.GVK, query: []param{pDryRun, pFieldManager, pFieldValidation, pForce}, bodyInline: true, consumes: patchTypes, respRef: subName, created: true}
		}
		if has("create") && !has("update") {
			p.ops["post"] = &operation{id: "create" + id, action: "post", desc: "create " + sub.Name + " of a " + r.GVK.Kind, gvk: sub.GVK, query: []param{pDryRun, pFieldManager, pFieldValidation}, bodyRef: subName, consumes: bodyTypes, respRef: subName, created: true}
		}
		if len(p.ops) > 0 {
			out[collection+"/{name}/"+sub.Name] = p
		}
	}
	return out
}

// operationPrefix is upstream's operation id infix: core/v1 -> CoreV1,
// apps/v1 -> AppsV1, coordination.k8s.io/v1 -> CoordinationV1.
func operationPrefix(gv schema.GroupVersion) string {
	g := gv.Group
	if g == "" {
		g = "core"
	}
	g, _, _ = strings.Cut(g, ".")
	return exportName(g) + exportName(gv.Version)
}

func exportName(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func ref(name string) map[string]any { return map[string]any{"$ref": refPrefix + name} }

func (p param) v3() map[string]any {
	m := map[string]any{"name": p.name, "in": p.in, "description": p.desc, "schema": map[string]any{"type": p.typ, "uniqueItems": true}}
	if p.required {
		m["required"] = true
	}
	return m
}

func (p param) v2() map[string]any {
	m := map[string]any{"name": p.name, "in": p.in, "description": p.desc, "type": p.typ, "uniqueItems": true}
	if p.required {
		m["required"] = true
	}
	return m
}

func (it *pathItem) v3() map[string]any {
	out := map[string]any{}
	if len(it.params) > 0 {
		ps := make([]any, len(it.params))
		for i, p := range it.params {
			ps[i] = p.v3()
		}
		out["parameters"] = ps
	}
	for method, op := range it.ops {
		o := op.common()
		ps := make([]any, len(op.query))
		for i, p := range op.query {
			ps[i] = p.v3()
		}
		o["parameters"] = ps
		if op.bodyRef != "" || op.bodyInline {
			content := map[string]any{}
			for _, ct := range op.consumes {
				content[ct] = map[string]any{"schema": op.bodySchema()}
			}
			o["requestBody"] = map[string]any{"content": content, "required": true}
		}
		responses := map[string]any{}
		for _, code := range op.codes() {
			responses[code] = map[string]any{"description": http.StatusText(atoi(code)), "content": map[string]any{
				"application/json":                    map[string]any{"schema": ref(op.respRef)},
				"application/yaml":                    map[string]any{"schema": ref(op.respRef)},
				"application/vnd.kubernetes.protobuf": map[string]any{"schema": ref(op.respRef)},
			}}
		}
		responses["401"] = map[string]any{"description": "Unauthorized"}
		o["responses"] = responses
		out[method] = o
	}
	return out
}

func (it *pathItem) v2() map[string]any {
	out := map[string]any{}
	if len(it.params) > 0 {
		ps := make([]any, len(it.params))
		for i, p := range it.params {
			ps[i] = p.v2()
		}
		out["parameters"] = ps
	}
	for method, op := range it.ops {
		o := op.common()
		ps := make([]any, 0, len(op.query)+1)
		for _, p := range op.query {
			ps = append(ps, p.v2())
		}
		if op.bodyRef != "" || op.bodyInline {
			ps = append(ps, map[string]any{"name": "body", "in": "body", "required": true, "schema": op.bodySchema()})
			o["consumes"] = op.consumes
		}
		o["parameters"] = ps
		o["produces"] = []string{"application/json", "application/yaml", "application/vnd.kubernetes.protobuf"}
		o["schemes"] = []string{"https"}
		responses := map[string]any{}
		for _, code := range op.codes() {
			responses[code] = map[string]any{"description": http.StatusText(atoi(code)), "schema": ref(op.respRef)}
		}
		responses["401"] = map[string]any{"description": "Unauthorized"}
		o["responses"] = responses
		out[method] = o
	}
	return out
}

func (op *operation) common() map[string]any {
	return map[string]any{
		"operationId":                     op.id,
		"description":                     op.desc,
		"tags":                            []string{op.tag()},
		"x-kubernetes-action":             op.action,
		"x-kubernetes-group-version-kind": map[string]any{"group": op.gvk.Group, "version": op.gvk.Version, "kind": op.gvk.Kind},
	}
}

func (op *operation) tag() string {
	g := op.gvk.Group
	if g == "" {
		g = "core"
	}
	g, _, _ = strings.Cut(g, ".")
	return g + "_" + op.gvk.Version
}

func (op *operation) bodySchema() map[string]any {
	if op.bodyInline {
		return map[string]any{"type": "object"}
	}
	return ref(op.bodyRef)
}

func (op *operation) codes() []string {
	if op.created {
		return []string{"200", "201"}
	}
	return []string{"200"}
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}
