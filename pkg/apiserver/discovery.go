package apiserver

import (
	"encoding/json"
	"mime"
	"net/http"
	"strings"

	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/flotilla-io/flotilla/pkg/registry"
)

// discovery holds the precomputed discovery documents; resources are
// fixed at start, so serving is a byte copy.
type discovery struct {
	s              *Server
	coreAggregated []byte
	apisAggregated []byte
	coreVersions   []byte
	groupList      []byte
	groups         map[string][]byte
	resourceLists  map[schema.GroupVersion][]byte
}

const aggregatedMedia = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"

func newDiscovery(s *Server) *discovery {
	d := &discovery{s: s, groups: map[string][]byte{}, resourceLists: map[schema.GroupVersion][]byte{}}
	// Group the versions, preferred (first registered) first.
	var groupNames []string
	versions := map[string][]schema.GroupVersion{}
	for _, gv := range s.gvOrder {
		if _, seen := versions[gv.Group]; !seen {
			groupNames = append(groupNames, gv.Group)
		}
		versions[gv.Group] = append(versions[gv.Group], gv)
	}
	var coreList, apisList apidiscoveryv2.APIGroupDiscoveryList
	legacyGroups := metav1.APIGroupList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"}}
	for _, g := range groupNames {
		agg := apidiscoveryv2.APIGroupDiscovery{ObjectMeta: metav1.ObjectMeta{Name: g}}
		group := metav1.APIGroup{TypeMeta: metav1.TypeMeta{Kind: "APIGroup", APIVersion: "v1"}, Name: g}
		for _, gv := range versions[g] {
			agg.Versions = append(agg.Versions, d.aggregatedVersion(gv))
			group.Versions = append(group.Versions, metav1.GroupVersionForDiscovery{GroupVersion: gv.String(), Version: gv.Version})
			d.resourceLists[gv] = mustJSON(d.resourceList(gv))
		}
		group.PreferredVersion = group.Versions[0]
		if g == "" {
			coreList.Items = append(coreList.Items, agg)
			continue
		}
		apisList.Items = append(apisList.Items, agg)
		legacyGroups.Groups = append(legacyGroups.Groups, group)
		d.groups[g] = mustJSON(group)
	}
	for _, g := range s.cfg.Groups {
		gv := g.GroupVersion
		apisList.Items = append(apisList.Items, apidiscoveryv2.APIGroupDiscovery{
			ObjectMeta: metav1.ObjectMeta{Name: gv.Group},
			Versions:   []apidiscoveryv2.APIVersionDiscovery{handlerGroupDiscovery(g)},
		})
		version := metav1.GroupVersionForDiscovery{GroupVersion: gv.String(), Version: gv.Version}
		group := metav1.APIGroup{
			TypeMeta: metav1.TypeMeta{Kind: "APIGroup", APIVersion: "v1"}, Name: gv.Group,
			Versions: []metav1.GroupVersionForDiscovery{version}, PreferredVersion: version,
		}
		legacyGroups.Groups = append(legacyGroups.Groups, group)
		d.groups[gv.Group] = mustJSON(group)
		d.resourceLists[gv] = mustJSON(metav1.APIResourceList{
			TypeMeta:     metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"},
			GroupVersion: gv.String(),
			APIResources: g.Resources,
		})
	}
	for _, l := range []*apidiscoveryv2.APIGroupDiscoveryList{&coreList, &apisList} {
		l.Kind, l.APIVersion = "APIGroupDiscoveryList", "apidiscovery.k8s.io/v2"
		if l.Items == nil {
			l.Items = []apidiscoveryv2.APIGroupDiscovery{}
		}
	}
	d.coreAggregated, d.apisAggregated = mustJSON(coreList), mustJSON(apisList)
	d.coreVersions = mustJSON(metav1.APIVersions{
		TypeMeta:                   metav1.TypeMeta{Kind: "APIVersions"},
		Versions:                   []string{"v1"},
		ServerAddressByClientCIDRs: []metav1.ServerAddressByClientCIDR{{ClientCIDR: "0.0.0.0/0"}},
	})
	d.groupList = mustJSON(legacyGroups)
	return d
}

func (d *discovery) aggregatedVersion(gv schema.GroupVersion) apidiscoveryv2.APIVersionDiscovery {
	v := apidiscoveryv2.APIVersionDiscovery{Version: gv.Version, Freshness: apidiscoveryv2.DiscoveryFreshnessCurrent}
	for _, r := range d.s.resourcesOf(gv) {
		scope := apidiscoveryv2.ScopeCluster
		if r.Namespaced {
			scope = apidiscoveryv2.ScopeNamespace
		}
		gvk := r.GVK()
		rd := apidiscoveryv2.APIResourceDiscovery{
			Resource:         r.Plural,
			ResponseKind:     &metav1.GroupVersionKind{Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind},
			Scope:            scope,
			SingularResource: r.Singular,
			Verbs:            registry.VerbsAll,
			ShortNames:       r.ShortNames,
			Categories:       r.Categories,
		}
		for _, sub := range r.Subresources {
			rd.Subresources = append(rd.Subresources, apidiscoveryv2.APISubresourceDiscovery{
				Subresource:  sub.Name,
				ResponseKind: &metav1.GroupVersionKind{Group: sub.Kind.Group, Version: sub.Kind.Version, Kind: sub.Kind.Kind},
				Verbs:        sub.Verbs,
			})
		}
		v.Resources = append(v.Resources, rd)
	}
	return v
}

func (d *discovery) resourceList(gv schema.GroupVersion) metav1.APIResourceList {
	list := metav1.APIResourceList{TypeMeta: metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"}, GroupVersion: gv.String()}
	for _, r := range d.s.resourcesOf(gv) {
		list.APIResources = append(list.APIResources, metav1.APIResource{
			Name: r.Plural, SingularName: r.Singular, Namespaced: r.Namespaced, Kind: r.Kind,
			Verbs: registry.VerbsAll, ShortNames: r.ShortNames, Categories: r.Categories,
		})
		for _, sub := range r.Subresources {
			ar := metav1.APIResource{Name: r.Plural + "/" + sub.Name, Namespaced: r.Namespaced, Kind: sub.Kind.Kind, Verbs: sub.Verbs}
			if sub.Kind.GroupVersion() != gv {
				ar.Group, ar.Version = sub.Kind.Group, sub.Kind.Version
			}
			list.APIResources = append(list.APIResources, ar)
		}
	}
	return list
}

// resourcesOf lists a group version's resources in a stable order.
func (s *Server) resourcesOf(gv schema.GroupVersion) []*registry.Resource {
	var out []*registry.Resource
	for _, r := range s.cfg.Resources {
		if r.GroupVersion() == gv {
			out = append(out, r)
		}
	}
	return out
}

// wantsAggregated reports whether the client accepts aggregated discovery.
func wantsAggregated(accept string) bool {
	for _, part := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		if mt == mediaJSON && params["g"] == "apidiscovery.k8s.io" && params["v"] == "v2" && params["as"] == "APIGroupDiscoveryList" {
			return true
		}
		if mt == mediaJSON && params["as"] == "" {
			return false // plain JSON is preferred over aggregated
		}
	}
	return false
}

func (d *discovery) serveAggregatedOr(w http.ResponseWriter, r *http.Request, aggregated, legacy []byte) {
	if wantsAggregated(r.Header.Get("Accept")) {
		w.Header().Set("Content-Type", aggregatedMedia)
		w.Header().Set("Vary", "Accept")
		_, _ = w.Write(aggregated)
		return
	}
	w.Header().Set("Content-Type", mediaJSON)
	w.Header().Set("Vary", "Accept")
	_, _ = w.Write(legacy)
}

func (d *discovery) serveCoreRoot(w http.ResponseWriter, r *http.Request) {
	d.serveAggregatedOr(w, r, d.coreAggregated, d.coreVersions)
}

func (d *discovery) serveGroupsRoot(w http.ResponseWriter, r *http.Request) {
	d.serveAggregatedOr(w, r, d.apisAggregated, d.groupList)
}

func (d *discovery) serveGroup(w http.ResponseWriter, r *http.Request, group string) {
	body, ok := d.groups[group]
	if !ok {
		d.s.notFound(w, r)
		return
	}
	w.Header().Set("Content-Type", mediaJSON)
	_, _ = w.Write(body)
}

func (d *discovery) serveResourceList(w http.ResponseWriter, r *http.Request, gv schema.GroupVersion) {
	body, ok := d.resourceLists[gv]
	if !ok {
		d.s.notFound(w, r)
		return
	}
	w.Header().Set("Content-Type", mediaJSON)
	_, _ = w.Write(body)
}

func mustJSON(v any) []byte {
	data, err := json.Marshal(v)
	if err != nil {
		panic(err) // discovery documents are built from static Go values
	}
	return data
}
