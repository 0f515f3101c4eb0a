package apiserver

import (
	"net/http"

	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// HandlerGroup is an API group version served by Go code rather than by
// storage. Upstream serves such APIs (metrics.k8s.io) from a separate
// server behind the aggregation layer; Flotilla has them built in, and
// their objects are computed on each read and never stored, so none of
// the storage machinery (watch, writes, field managers) applies. The API
// server authenticates each request, lists the group version in
// discovery and hands the handler every request below
// /apis/GROUP/VERSION/; the handler answers with Kubernetes objects and
// Status errors itself.
type HandlerGroup struct {
	GroupVersion schema.GroupVersion
	// Resources are listed in discovery as they are given.
	Resources []metav1.APIResource
	Handler   http.Handler
}

// serveHandlerGroup hands a request to the group version's handler, if
// one serves gv.
func (s *Server) serveHandlerGroup(w http.ResponseWriter, r *http.Request, gv schema.GroupVersion) bool {
	for i := range s.cfg.Groups {
		if g := &s.cfg.Groups[i]; g.GroupVersion == gv {
			g.Handler.ServeHTTP(w, r)
			return true
		}
	}
	return false
}

// handlerGroupDiscovery is a handler group's entry in aggregated
// discovery.
func handlerGroupDiscovery(g HandlerGroup) apidiscoveryv2.APIVersionDiscovery {
	v := apidiscoveryv2.APIVersionDiscovery{Version: g.GroupVersion.Version, Freshness: apidiscoveryv2.DiscoveryFreshnessCurrent}
	for _, r := range g.Resources {
		scope := apidiscoveryv2.ScopeCluster
		if r.Namespaced {
			scope = apidiscoveryv2.ScopeNamespace
		}
		v.Resources = append(v.Resources, apidiscoveryv2.APIResourceDiscovery{
			Resource:         r.Name,
			ResponseKind:     &metav1.GroupVersionKind{Group: g.GroupVersion.Group, Version: g.GroupVersion.Version, Kind: r.Kind},
			Scope:            scope,
			SingularResource: r.SingularName,
			Verbs:            r.Verbs,
			ShortNames:       r.ShortNames,
			Categories:       r.Categories,
		})
	}
	return v
}
