package apiserver

import (
	"fmt"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apiserver/pkg/authentication/serviceaccount"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	apirequest "k8s.io/apiserver/pkg/endpoints/request"

	"github.com/flotilla-io/flotilla/pkg/registry"
)

// requestInfos reads a request's verb, resource and namespace from its
// URL the way upstream's authorization sees them: list and watch
// collections, deletecollection, "create" on a POST to pods/exec and
// "get" on its websocket GET, non-resource paths for discovery.
var requestInfos = &apirequest.RequestInfoFactory{
	APIPrefixes:          sets.NewString("api", "apis"),
	GrouplessAPIPrefixes: sets.NewString("api"),
}

// attributesOf describes r, made by u, for the authorizer.
func attributesOf(r *http.Request, u user.Info) (authorizer.AttributesRecord, error) {
	info, err := requestInfos.NewRequestInfo(r)
	if err != nil {
		return authorizer.AttributesRecord{}, err
	}
	attrs := authorizer.AttributesRecord{
		User:            u,
		Verb:            info.Verb,
		Namespace:       info.Namespace,
		APIGroup:        info.APIGroup,
		APIVersion:      info.APIVersion,
		Resource:        info.Resource,
		Subresource:     info.Subresource,
		Name:            info.Name,
		ResourceRequest: info.IsResourceRequest,
		Path:            info.Path,
	}
	// Selectors of a list or watch, for authorizers that allow a narrowed
	// read (a node watching one Secret by name, or only TLS Secrets). A
	// selector that does not parse is kept as the error: the authorizer
	// then treats the request as unnarrowed.
	if info.FieldSelector != "" {
		if sel, err := fields.ParseSelector(info.FieldSelector); err != nil {
			attrs.FieldSelectorParsingErr = err
		} else {
			attrs.FieldSelectorRequirements = sel.Requirements()
		}
	}
	if info.LabelSelector != "" {
		if sel, err := labels.Parse(info.LabelSelector); err != nil {
			attrs.LabelSelectorParsingErr = err
		} else {
			attrs.LabelSelectorRequirements, _ = sel.Requirements()
		}
	}
	return attrs, nil
}

// authorize lets r through when the authorizer allows it and otherwise
// answers 403 with upstream's message. A websocket GET that opens
// exec, attach or portforward also needs "create", as upstream requires
// since the websocket transport replaced SPDY.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request, u user.Info) bool {
	if s.cfg.Authorizer == nil {
		return true
	}
	attrs, err := attributesOf(r, u)
	if err != nil {
		s.writeStatus(w, r, &apierrors.NewBadRequest(err.Error()).ErrStatus)
		return false
	}
	if !s.allowed(w, r, attrs) {
		return false
	}
	if attrs.ResourceRequest && attrs.Verb == "get" && attrs.Resource == "pods" &&
		(attrs.Subresource == "exec" || attrs.Subresource == "attach" || attrs.Subresource == "portforward") {
		attrs.Verb = "create"
		return s.allowed(w, r, attrs)
	}
	return true
}

// allowed asks the authorizer and writes the refusal itself.
func (s *Server) allowed(w http.ResponseWriter, r *http.Request, attrs authorizer.AttributesRecord) bool {
	start := time.Now()
	decision, reason, err := s.cfg.Authorizer.Authorize(r.Context(), attrs)
	s.metrics.observeAuthorization(decision == authorizer.DecisionAllow, time.Since(start))
	if decision == authorizer.DecisionAllow {
		return true
	}
	if err != nil {
		s.log.Warn("authorization failed", "user", attrs.User.GetName(), "verb", attrs.Verb, "resource", attrs.Resource, "err", err)
		if reason == "" {
			reason = err.Error()
		}
	}
	s.writeStatus(w, r, &Forbidden(attrs, reason).ErrStatus)
	return false
}

// Forbidden is upstream's refusal: `pods is forbidden: User "alice"
// cannot list resource "pods" in API group "" in the namespace
// "default"`, the cluster-scope and path forms, and the authorizer's
// reason after a colon.
func Forbidden(a authorizer.Attributes, reason string) *apierrors.StatusError {
	name := ""
	if u := a.GetUser(); u != nil {
		name = u.GetName()
	}
	var msg string
	switch {
	case !a.IsResourceRequest():
		msg = fmt.Sprintf("User %q cannot %s path %q", name, a.GetVerb(), a.GetPath())
	default:
		resource := a.GetResource()
		if sub := a.GetSubresource(); sub != "" {
			resource += "/" + sub
		}
		if ns := a.GetNamespace(); ns != "" {
			msg = fmt.Sprintf("User %q cannot %s resource %q in API group %q in the namespace %q", name, a.GetVerb(), resource, a.GetAPIGroup(), ns)
		} else {
			msg = fmt.Sprintf("User %q cannot %s resource %q in API group %q at the cluster scope", name, a.GetVerb(), resource, a.GetAPIGroup())
		}
	}
	if reason != "" {
		msg += ": " + reason
	}
	return apierrors.NewForbidden(schema.GroupResource{Group: a.GetAPIGroup(), Resource: a.GetResource()}, a.GetName(), fmt.Errorf("%s", msg))
}

// impersonate applies the Impersonate-* headers: every requested user,
// group, uid and extra value must be allowed to the caller by the
// "impersonate" verb (users, serviceaccounts, groups in the core group;
// uids and userextras in authentication.k8s.io). It returns the user the
// request then runs as, or false after writing the refusal.
func (s *Server) impersonate(w http.ResponseWriter, r *http.Request, caller registry.User) (registry.User, bool) {
	name := r.Header.Get(authenticationv1.ImpersonateUserHeader)
	groups := r.Header.Values(authenticationv1.ImpersonateGroupHeader)
	uids := r.Header.Values(authenticationv1.ImpersonateUIDHeader)
	extra := map[string][]string{}
	for key, values := range r.Header {
		if k, ok := strings.CutPrefix(key, textproto.CanonicalMIMEHeaderKey(authenticationv1.ImpersonateUserExtraHeaderPrefix)); ok {
			if unescaped, err := url.PathUnescape(k); err == nil {
				k = unescaped
			}
			extra[strings.ToLower(k)] = values
		}
	}
	if name == "" && len(groups) == 0 && len(uids) == 0 && len(extra) == 0 {
		return caller, true
	}
	if name == "" {
		s.writeStatus(w, r, &apierrors.NewBadRequest("requested impersonation of groups, uid or extra without impersonating a user").ErrStatus)
		return registry.User{}, false
	}
	if len(uids) > 1 {
		s.writeStatus(w, r, &apierrors.NewBadRequest("only one uid may be impersonated").ErrStatus)
		return registry.User{}, false
	}
	check := func(attrs authorizer.AttributesRecord) bool {
		attrs.User, attrs.Verb, attrs.ResourceRequest = caller.Info(), "impersonate", true
		if s.cfg.Authorizer == nil {
			return true
		}
		return s.allowed(w, r, attrs)
	}
	out := registry.User{Name: name, Extra: map[string][]string{}}
	if ns, sa, err := serviceaccount.SplitUsername(name); err == nil {
		if !check(authorizer.AttributesRecord{Resource: "serviceaccounts", Namespace: ns, Name: sa}) {
			return registry.User{}, false
		}
		if len(groups) == 0 {
			out.Groups = serviceaccount.MakeGroupNames(ns)
		}
	} else if !check(authorizer.AttributesRecord{Resource: "users", Name: name}) {
		return registry.User{}, false
	}
	for _, g := range groups {
		if !check(authorizer.AttributesRecord{Resource: "groups", Name: g}) {
			return registry.User{}, false
		}
		out.Groups = append(out.Groups, g)
	}
	for _, uid := range uids {
		if !check(authorizer.AttributesRecord{APIGroup: authenticationv1.GroupName, Resource: "uids", Name: uid}) {
			return registry.User{}, false
		}
		out.UID = uid
	}
	for key, values := range extra {
		for _, v := range values {
			if !check(authorizer.AttributesRecord{APIGroup: authenticationv1.GroupName, Resource: "userextras", Subresource: key, Name: v}) {
				return registry.User{}, false
			}
		}
		out.Extra[key] = values
	}
	if name != user.Anonymous && !slices.Contains(out.Groups, user.AllAuthenticated) {
		out.Groups = append(out.Groups, user.AllAuthenticated)
	}
	for key := range r.Header {
		if strings.HasPrefix(key, "Impersonate-") {
			r.Header.Del(key)
		}
	}
	return out, true
}
