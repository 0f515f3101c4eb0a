package reviews

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/endpoints/handlers/negotiation"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/flotilla-io/flotilla/pkg/apiserver"
	"github.com/flotilla-io/flotilla/pkg/registry"
)

// TokenAuthenticator checks a bearer token for TokenReview as presented
// to one of audiences (the API server's when empty). It returns the user
// and the audiences among those the token is valid for, or why the token
// is not valid (the review's status.error).
type TokenAuthenticator func(ctx context.Context, token string, audiences []string) (u user.Info, valid []string, err error)

// Config is what the reviews consult.
type Config struct {
	Authorizer authorizer.Authorizer
	Rules      authorizer.RuleResolver
	Tokens     TokenAuthenticator
}

// maxBody bounds a review's body; reviews are small.
const maxBody = 1 << 20

var (
	authorizationGV  = authorizationv1.SchemeGroupVersion
	authenticationGV = authenticationv1.SchemeGroupVersion
)

// Groups returns the two handler groups the API server serves.
func Groups(cfg Config) []apiserver.HandlerGroup {
	h := &handler{cfg: cfg}
	createOnly := []string{"create"}
	return []apiserver.HandlerGroup{
		{
			GroupVersion: authorizationGV,
			Resources: []metav1.APIResource{
				{Name: "localsubjectaccessreviews", SingularName: "localsubjectaccessreview", Namespaced: true, Kind: "LocalSubjectAccessReview", Verbs: createOnly},
				{Name: "selfsubjectaccessreviews", SingularName: "selfsubjectaccessreview", Kind: "SelfSubjectAccessReview", Verbs: createOnly},
				{Name: "selfsubjectrulesreviews", SingularName: "selfsubjectrulesreview", Kind: "SelfSubjectRulesReview", Verbs: createOnly},
				{Name: "subjectaccessreviews", SingularName: "subjectaccessreview", Kind: "SubjectAccessReview", Verbs: createOnly},
			},
			Handler: http.HandlerFunc(h.serveAuthorization),
		},
		{
			GroupVersion: authenticationGV,
			Resources: []metav1.APIResource{
				{Name: "selfsubjectreviews", SingularName: "selfsubjectreview", Kind: "SelfSubjectReview", Verbs: createOnly},
				{Name: "tokenreviews", SingularName: "tokenreview", Kind: "TokenReview", Verbs: createOnly},
			},
			Handler: http.HandlerFunc(h.serveAuthentication),
		},
	}
}

type handler struct{ cfg Config }

// route splits /apis/GROUP/VERSION/[namespaces/NS/]RESOURCE.
func route(r *http.Request, gv schema.GroupVersion) (namespace, resource string, ok bool) {
	rest := strings.Trim(strings.TrimPrefix(r.URL.Path, "/apis/"+gv.Group+"/"+gv.Version), "/")
	segs := strings.Split(rest, "/")
	switch {
	case len(segs) == 1 && segs[0] != "":
		return "", segs[0], true
	case len(segs) == 3 && segs[0] == "namespaces" && segs[1] != "":
		return segs[1], segs[2], true
	}
	return "", "", false
}

func (h *handler) serveAuthorization(w http.ResponseWriter, r *http.Request) {
	ns, resource, ok := route(r, authorizationGV)
	if !ok {
		writeStatus(w, notFound())
		return
	}
	if r.Method != http.MethodPost {
		writeStatus(w, apierrors.NewMethodNotSupported(schema.GroupResource{Group: authorizationGV.Group, Resource: resource}, strings.ToLower(r.Method)))
		return
	}
	if !acceptable(w, r) {
		return
	}
	caller, _ := registry.UserFrom(r.Context())
	switch {
	case resource == "selfsubjectaccessreviews" && ns == "":
		review := &authorizationv1.SelfSubjectAccessReview{}
		if !decode(w, r, review, authorizationGV.WithKind("SelfSubjectAccessReview")) {
			return
		}
		if err := validateAccessSpec(review.Spec.ResourceAttributes, review.Spec.NonResourceAttributes, "SelfSubjectAccessReview", review.Name); err != nil {
			writeStatus(w, err)
			return
		}
		review.Status = h.decide(r.Context(), caller.Info(), review.Spec.ResourceAttributes, review.Spec.NonResourceAttributes)
		writeCreated(w, review, "SelfSubjectAccessReview")
	case resource == "subjectaccessreviews" && ns == "":
		review := &authorizationv1.SubjectAccessReview{}
		if !decode(w, r, review, authorizationGV.WithKind("SubjectAccessReview")) {
			return
		}
		if err := validateSubjectSpec(&review.Spec, "SubjectAccessReview", review.Name); err != nil {
			writeStatus(w, err)
			return
		}
		review.Status = h.decide(r.Context(), subjectOf(&review.Spec), review.Spec.ResourceAttributes, review.Spec.NonResourceAttributes)
		writeCreated(w, review, "SubjectAccessReview")
	case resource == "localsubjectaccessreviews" && ns != "":
		review := &authorizationv1.LocalSubjectAccessReview{}
		if !decode(w, r, review, authorizationGV.WithKind("LocalSubjectAccessReview")) {
			return
		}
		if review.Namespace == "" {
			review.Namespace = ns
		}
		if review.Namespace != ns {
			writeStatus(w, apierrors.NewBadRequest("the namespace of the provided object does not match the namespace sent on the request"))
			return
		}
		if err := validateLocalSpec(review); err != nil {
			writeStatus(w, err)
			return
		}
		review.Status = h.decide(r.Context(), subjectOf(&review.Spec), review.Spec.ResourceAttributes, nil)
		writeCreated(w, review, "LocalSubjectAccessReview")
	case resource == "selfsubjectrulesreviews" && ns == "":
		review := &authorizationv1.SelfSubjectRulesReview{}
		if !decode(w, r, review, authorizationGV.WithKind("SelfSubjectRulesReview")) {
			return
		}
		review.Status = h.rules(r.Context(), caller.Info(), review.Spec.Namespace)
		writeCreated(w, review, "SelfSubjectRulesReview")
	default:
		writeStatus(w, notFound())
	}
}

func (h *handler) serveAuthentication(w http.ResponseWriter, r *http.Request) {
	ns, resource, ok := route(r, authenticationGV)
	if !ok || ns != "" {
		writeStatus(w, notFound())
		return
	}
	if r.Method != http.MethodPost {
		writeStatus(w, apierrors.NewMethodNotSupported(schema.GroupResource{Group: authenticationGV.Group, Resource: resource}, strings.ToLower(r.Method)))
		return
	}
	if !acceptable(w, r) {
		return
	}
	caller, _ := registry.UserFrom(r.Context())
	switch resource {
	case "selfsubjectreviews":
		review := &authenticationv1.SelfSubjectReview{}
		if !decode(w, r, review, authenticationGV.WithKind("SelfSubjectReview")) {
			return
		}
		review.Status.UserInfo = userInfo(caller.Info())
		writeCreated(w, review, "SelfSubjectReview")
	case "tokenreviews":
		review := &authenticationv1.TokenReview{}
		if !decode(w, r, review, authenticationGV.WithKind("TokenReview")) {
			return
		}
		if review.Spec.Token == "" {
			writeStatus(w, apierrors.NewBadRequest("token is required for TokenReview in authentication"))
			return
		}
		review.Status = authenticationv1.TokenReviewStatus{}
		if h.cfg.Tokens == nil {
			review.Status.Error = "invalid bearer token"
		} else if u, auds, err := h.cfg.Tokens(r.Context(), review.Spec.Token, review.Spec.Audiences); err != nil {
			review.Status.Error = err.Error()
		} else {
			review.Status.Authenticated = true
			review.Status.User = userInfo(u)
			review.Status.Audiences = auds
		}
		writeCreated(w, review, "TokenReview")
	default:
		writeStatus(w, notFound())
	}
}

// decide asks the authorizer about one request and reports as upstream's
// access reviews do.
func (h *handler) decide(ctx context.Context, u user.Info, ra *authorizationv1.ResourceAttributes, nra *authorizationv1.NonResourceAttributes) authorizationv1.SubjectAccessReviewStatus {
	attrs := authorizer.AttributesRecord{User: u}
	if ra != nil {
		attrs.Verb, attrs.Namespace, attrs.APIGroup, attrs.APIVersion = ra.Verb, ra.Namespace, ra.Group, ra.Version
		attrs.Resource, attrs.Subresource, attrs.Name, attrs.ResourceRequest = ra.Resource, ra.Subresource, ra.Name, true
	} else {
		attrs.Verb, attrs.Path = nra.Verb, nra.Path
	}
	if h.cfg.Authorizer == nil {
		return authorizationv1.SubjectAccessReviewStatus{Allowed: true}
	}
	decision, reason, err := h.cfg.Authorizer.Authorize(ctx, attrs)
	st := authorizationv1.SubjectAccessReviewStatus{
		Allowed: decision == authorizer.DecisionAllow,
		Denied:  decision == authorizer.DecisionDeny,
		Reason:  reason,
	}
	if err != nil {
		st.EvaluationError = err.Error()
	}
	return st
}

func (h *handler) rules(ctx context.Context, u user.Info, namespace string) authorizationv1.SubjectRulesReviewStatus {
	st := authorizationv1.SubjectRulesReviewStatus{ResourceRules: []authorizationv1.ResourceRule{}, NonResourceRules: []authorizationv1.NonResourceRule{}}
	if h.cfg.Rules == nil {
		return st
	}
	res, nonRes, incomplete, err := h.cfg.Rules.RulesFor(ctx, u, namespace)
	for _, r := range res {
		st.ResourceRules = append(st.ResourceRules, authorizationv1.ResourceRule{Verbs: r.GetVerbs(), APIGroups: r.GetAPIGroups(), Resources: r.GetResources(), ResourceNames: r.GetResourceNames()})
	}
	for _, r := range nonRes {
		st.NonResourceRules = append(st.NonResourceRules, authorizationv1.NonResourceRule{Verbs: r.GetVerbs(), NonResourceURLs: r.GetNonResourceURLs()})
	}
	st.Incomplete = incomplete
	if err != nil {
		st.EvaluationError = err.Error()
	}
	return st
}

// subjectOf is the user a SubjectAccessReview asks about.
func subjectOf(spec *authorizationv1.SubjectAccessReviewSpec) user.Info {
	extra := map[string][]string{}
	for k, v := range spec.Extra {
		extra[k] = v
	}
	return &user.DefaultInfo{Name: spec.User, UID: spec.UID, Groups: spec.Groups, Extra: extra}
}

func userInfo(u user.Info) authenticationv1.UserInfo {
	info := authenticationv1.UserInfo{Username: u.GetName(), UID: u.GetUID(), Groups: u.GetGroups()}
	if extra := u.GetExtra(); len(extra) > 0 {
		info.Extra = map[string]authenticationv1.ExtraValue{}
		for k, v := range extra {
			info.Extra[k] = v
		}
	}
	return info
}

func validateAccessSpec(ra *authorizationv1.ResourceAttributes, nra *authorizationv1.NonResourceAttributes, kind, name string) error {
	var errs field.ErrorList
	spec := field.NewPath("spec")
	switch {
	case ra != nil && nra != nil:
		errs = append(errs, field.Invalid(spec.Child("nonResourceAttributes"), nra, `cannot be specified in combination with resourceAttributes`))
	case ra == nil && nra == nil:
		errs = append(errs, field.Invalid(spec.Child("resourceAttributes"), ra, `exactly one of nonResourceAttributes or resourceAttributes must be specified`))
	}
	return invalid(kind, name, errs)
}

func validateSubjectSpec(s *authorizationv1.SubjectAccessReviewSpec, kind, name string) error {
	if err := validateAccessSpec(s.ResourceAttributes, s.NonResourceAttributes, kind, name); err != nil {
		return err
	}
	if s.User == "" && len(s.Groups) == 0 {
		return invalid(kind, name, field.ErrorList{field.Invalid(field.NewPath("spec", "user"), s.User, `at least one of user or group must be specified`)})
	}
	return nil
}

func validateLocalSpec(r *authorizationv1.LocalSubjectAccessReview) error {
	spec := field.NewPath("spec")
	if r.Spec.NonResourceAttributes != nil {
		return invalid("LocalSubjectAccessReview", r.Name, field.ErrorList{field.Invalid(spec.Child("nonResourceAttributes"), r.Spec.NonResourceAttributes, `disallowed on this kind of request`)})
	}
	if err := validateSubjectSpec(&r.Spec, "LocalSubjectAccessReview", r.Name); err != nil {
		return err
	}
	if r.Spec.ResourceAttributes.Namespace != r.Namespace {
		return invalid("LocalSubjectAccessReview", r.Name, field.ErrorList{field.Invalid(spec.Child("resourceAttributes", "namespace"), r.Spec.ResourceAttributes.Namespace, `must match metadata.namespace`)})
	}
	return nil
}

func invalid(kind, name string, errs field.ErrorList) error {
	if len(errs) == 0 {
		return nil
	}
	return apierrors.NewInvalid(schema.GroupKind{Group: authorizationGV.Group, Kind: kind}, name, errs)
}

func notFound() error {
	e := apierrors.NewNotFound(schema.GroupResource{}, "")
	e.ErrStatus.Message = "the server could not find the requested resource"
	e.ErrStatus.Details = nil
	return e
}

// acceptable answers 406 itself when the client accepts only a form the
// reviews have none of: they are not stored objects, so there is no
// Table or PartialObjectMetadata of them (upstream's negotiation, with
// no transforms allowed, decides and words the refusal).
func acceptable(w http.ResponseWriter, r *http.Request) bool {
	if _, _, err := negotiation.NegotiateOutputMediaType(r, scheme.Codecs, negotiation.DefaultEndpointRestrictions); err != nil {
		writeStatus(w, err)
		return false
	}
	return true
}

// decode reads the body (JSON, YAML or protobuf, as client-go sends
// it) into obj, answering 400 itself on failure.
func decode(w http.ResponseWriter, r *http.Request, obj runtime.Object, gvk schema.GroupVersionKind) bool {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		writeStatus(w, apierrors.NewBadRequest("reading the request body: "+err.Error()))
		return false
	}
	if len(body) > maxBody {
		writeStatus(w, apierrors.NewRequestEntityTooLargeError("limit is 1048576"))
		return false
	}
	if _, _, err := scheme.Codecs.UniversalDeserializer().Decode(body, &gvk, obj); err != nil {
		writeStatus(w, apierrors.NewBadRequest("the request body could not be decoded: "+err.Error()))
		return false
	}
	return true
}

type typed interface{ GetObjectKind() schema.ObjectKind }

func writeCreated(w http.ResponseWriter, obj typed, kind string) {
	gv := authorizationGV
	if kind == "SelfSubjectReview" || kind == "TokenReview" {
		gv = authenticationGV
	}
	obj.GetObjectKind().SetGroupVersionKind(gv.WithKind(kind))
	writeJSON(w, http.StatusCreated, obj)
}

func writeStatus(w http.ResponseWriter, err error) {
	st := apierrors.NewInternalError(err).ErrStatus
	if s, ok := err.(apierrors.APIStatus); ok {
		st = s.Status()
	}
	st.Kind, st.APIVersion, st.Status = "Status", "v1", metav1.StatusFailure
	writeJSON(w, int(st.Code), &st)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
