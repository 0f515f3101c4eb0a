package apiserver

import (
	"net/http"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/flotilla-io/flotilla/pkg/registry"
)

// request is a parsed resource request.
type request struct {
	verb        string // get list watch create update patch delete deletecollection connect
	gv          schema.GroupVersion
	res         *registry.Resource
	namespace   string
	name        string
	subresource string
	// proxyPath is what follows .../NAME/proxy in a proxy request.
	proxyPath string
}

// parseResourcePath resolves the path segments after /api/v1 or
// /apis/GROUP/VERSION. It returns ok=false when no resource matches.
func (s *Server) parseResourcePath(gv schema.GroupVersion, segs []string, method string, watchParam bool) (*request, bool) {
	group := s.byGV[gv]
	if group == nil || len(segs) == 0 {
		return nil, false
	}
	req := &request{gv: gv}
	// namespaces/NS/RESOURCE... addresses a namespaced resource, while
	// namespaces/NAME[/SUB] addresses the Namespace object itself.
	if segs[0] == "namespaces" && len(segs) >= 3 {
		if r := group[segs[2]]; r != nil && r.Namespaced {
			req.namespace, req.res = segs[1], r
			segs = segs[3:]
		}
	}
	if req.res == nil {
		r := group[segs[0]]
		if r == nil {
			return nil, false
		}
		req.res = r
		segs = segs[1:]
	}
	switch {
	case len(segs) > 2 && segs[1] == "proxy" && req.res.HasSubresource("proxy"):
		req.name, req.subresource = segs[0], "proxy"
		req.proxyPath = "/" + strings.Join(segs[2:], "/")
		segs = segs[:2]
	}
	switch len(segs) {
	case 0:
	case 1:
		req.name = segs[0]
	case 2:
		req.name, req.subresource = segs[0], segs[1]
		if !req.res.HasSubresource(req.subresource) {
			return nil, false
		}
	default:
		return nil, false
	}
	if req.res.Namespaced && req.name != "" && req.namespace == "" {
		return nil, false // a namespaced object needs its namespace in the path
	}
	req.verb = verbFor(method, req, watchParam)
	return req, req.verb != ""
}

func verbFor(method string, req *request, watchParam bool) string {
	if req.subresource != "" {
		switch req.subresource {
		case "exec", "attach", "portforward", "proxy":
			return "connect"
		}
	}
	collection := req.name == ""
	switch method {
	case http.MethodGet, http.MethodHead:
		switch {
		case watchParam:
			return "watch"
		case collection:
			return "list"
		default:
			return "get"
		}
	case http.MethodPost:
		if collection || req.subresource != "" {
			return "create"
		}
	case http.MethodPut:
		if !collection {
			return "update"
		}
	case http.MethodPatch:
		if !collection {
			return "patch"
		}
	case http.MethodDelete:
		if collection {
			return "deletecollection"
		}
		return "delete"
	}
	return ""
}

// splitPath splits a URL path into its non-empty segments.
func splitPath(p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}
